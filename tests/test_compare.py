"""compare: planted regressions are found (exit 1), identical runs pass (exit 0), bad input exits 2."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from simplenn import cli
from simplenn.core.cases import Case
from simplenn.analyse.compare import REGRESSION, compare
from simplenn.core.errors import UsageError
from simplenn.store.results import load
from simplenn.store.runfolder import RunWriter
from simplenn.cli import compare as compare_cmd
from synthetic import ONE_CURVE, cell_record, machine_meta, write_run

# Three rounds a side, as the default run measures: with one round a side compare gives no verdict (exit 4).
SMALL_ONLY = dict(ONE_CURVE, batches=(16, 64, 256, 1024), rounds=(1.0, 1.0, 1.0))


def exit_code(argv: list[str]) -> int:
    """cli.main's status; argparse's own errors (e.g. a bad --threshold) exit 2 through SystemExit."""
    try:
        return cli.main(argv)
    except SystemExit as e:
        return int(e.code)


@pytest.fixture
def base(tmp_path) -> Path:
    return write_run(tmp_path / "base", **SMALL_ONLY)


def test_identical_runs_pass(base, tmp_path, capsys):
    same = write_run(tmp_path / "same", **SMALL_ONLY)  # same seed: the same samples
    assert exit_code(["compare", str(base), str(same)]) == 0
    out = capsys.readouterr().out
    assert "No regression beyond 10 %" in out and "Bonferroni over the m cells compared" in out
    assert "ratio new/base above 1.1" in out


def test_planted_30_percent_regression_exits_1(base, tmp_path, capsys):
    slow = write_run(tmp_path / "new", seed=1, scale={"gpu-b256-w100x30": 1.3}, **SMALL_ONLY)
    assert exit_code(["compare", str(base), str(slow)]) == 1
    out = capsys.readouterr().out
    assert "1 regression beyond 10 %" in out
    result = compare(load(base), load(slow))
    bad = result.regressions
    assert list(bad["batch_size"]) == [256] and list(bad["device"]) == ["GPU:0"]
    assert bad.iloc[0]["ratio"] == pytest.approx(1.3, rel=0.02) and bad.iloc[0]["ci_low"] > 1
    assert (result.table["verdict"] == REGRESSION).sum() == 1


def test_threshold_decides_what_counts(base, tmp_path):
    slow = write_run(tmp_path / "new", seed=1, scale={"gpu-b256-w100x30": 1.3}, **SMALL_ONLY)
    assert exit_code(["compare", str(base), str(slow), "--threshold", "50"]) == 0


def test_ratio_ci_reproducible_with_a_seed(base, tmp_path):
    new = write_run(tmp_path / "new", seed=3, **SMALL_ONLY)
    a = compare(load(base), load(new), seed=5).table
    b = compare(load(base), load(new), seed=5).table
    assert a.equals(b)


def test_cells_missing_on_a_side_are_listed(base, tmp_path):
    fewer = write_run(tmp_path / "new", **{**SMALL_ONLY, "batches": (16, 64, 256)})
    result = compare(load(base), load(fewer))
    assert set(result.only_in_base) == {"cpu-b1024-w100x30", "gpu-b1024-w100x30"} and not result.only_in_new


def test_different_machines_are_refused_unless_allowed(base, tmp_path, capsys):
    m1 = write_run(tmp_path / "m1", machine=machine_meta("Apple M1", "Apple M1", "Apple M1", 8), **SMALL_ONLY)
    assert exit_code(["compare", str(base), str(m1)]) == 2
    err = capsys.readouterr().err
    assert "--across-machines" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(UsageError, match="pass across_machines to compare") as err:  # the field below the CLI …
        compare(load(base), load(m1))
    assert "pass --across-machines" in str(err.value.as_flag(compare_cmd.FIELD_FLAGS))  # … the flag in it
    assert exit_code(["compare", str(base), str(m1), "--across-machines"]) == 0
    assert "Cross-machine comparison" in capsys.readouterr().out
    assert compare(load(base), load(m1), across_machines=True).cross_machine


@pytest.mark.parametrize("threshold", ["0", "-5", "abc", "nan"])
def test_bad_threshold_exits_2(base, threshold):
    assert exit_code(["compare", str(base), str(base), "--threshold", threshold]) == 2


def test_bad_inputs_exit_2(base, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    corrupt = write_run(tmp_path / "corrupt", **SMALL_ONLY)
    with open(corrupt / "samples.jsonl", "a") as f:
        f.write("{not json\n" + json.dumps({"kind": "cell"}) + "\n")
    failed = tmp_path / "failed"
    writer = RunWriter(failed)
    writer.create({"machine": machine_meta()})
    writer.append({**cell_record(Case("CPU:0", 8), 0, []), "status": "crashed", "reason": "segfault"})
    cases = {
        "missing": ["compare", str(base), str(tmp_path / "nope")],
        "no results": ["compare", str(base), str(empty)],
        "corrupt": ["compare", str(base), str(corrupt)],
        "no ok cell": ["compare", str(base), str(failed)],
        "report, no folders": ["report"],
        "report, missing": ["report", str(tmp_path / "nope")],
        "report, no results": ["report", str(empty)],
        "report, corrupt": ["report", str(corrupt)],
        "report, no ok cell": ["report", str(failed)],
        "report, missing pytest json": ["report", "--from-pytest-benchmark", str(tmp_path / "nope.json")],
    }
    for what, argv in cases.items():
        capsys.readouterr()
        assert exit_code(argv) == 2, what
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "error:" in err, (what, err)


@pytest.mark.slow
def test_report_command_prints_paths(base, tmp_path, capsys):
    out = tmp_path / "out"
    assert exit_code(["report", str(base), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out / "report.md") in printed and str(out / "summary.csv") in printed
    assert str(out / "step_time.png") in printed and (out / "report.md").exists()


@pytest.mark.slow
def test_report_defaults_to_the_first_run_folder(base, capsys):
    assert exit_code(["report", str(base)]) == 0
    assert (base / "report.md").exists() and (base / "summary.csv").exists()


# ------------------------------------------------------------------------- coverage (issue 12: a gate that compares nothing)


def test_runs_that_share_no_cell_exit_2_naming_the_keys_that_differ(base, tmp_path, capsys):
    other = write_run(tmp_path / "other", **{**SMALL_ONLY, "batches": (32, 128)})  # a different grid
    assert exit_code(["compare", str(base), str(other)]) == 2  # before the fix: "(no rows)", "No regression", exit 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no cell of new matches a cell of base" in err
    assert "batch_size: base 16,64,256,1024, new 32,128" in err and "device:" not in err
    cpu_only = write_run(tmp_path / "cpu", devices=("CPU:0",), **{**SMALL_ONLY, "batches": (32,)})
    with pytest.raises(UsageError, match="device: base CPU:0,GPU:0, new CPU:0"):
        compare(load(base), load(cpu_only))


def test_too_few_matching_cells_exit_2_reporting_the_coverage(base, tmp_path, capsys):
    some = write_run(tmp_path / "some", **{**SMALL_ONLY, "batches": (16, 32, 128, 512)})  # 2 of base's 8 cells
    assert exit_code(["compare", str(base), str(some)]) == 2
    err = capsys.readouterr().err
    assert "only 2 of base's 8 cells (25 %) have a match in new, below --min-coverage 50 %" in err
    assert "batch_size: base 16,64,256,1024, new 16,32,128,512" in err
    assert exit_code(["compare", str(base), str(some), "--min-coverage", "20"]) == 0
    assert "Coverage: 2 of base's 8 cells matched in new (25 %)." in capsys.readouterr().out
    assert compare(load(base), load(some), min_coverage_pct=25).coverage_pct == 25


@pytest.mark.parametrize("value", ["-1", "101", "nan", "abc"])
def test_bad_min_coverage_exits_2(base, value, capsys):
    assert exit_code(["compare", str(base), str(base), "--min-coverage", value]) == 2
    assert "--min-coverage" in capsys.readouterr().err


# ------------------------------------------------------------------------- one round a side (issue 24)


def test_one_round_a_side_gets_no_verdict_and_exit_4_naming_the_fix(tmp_path, capsys):
    one = {**SMALL_ONLY, "rounds": (1.0,)}
    a = write_run(tmp_path / "a", **one)
    slow = write_run(tmp_path / "b", seed=1, scale={"gpu-b256-w100x30": 1.3}, **one)
    assert exit_code(["compare", str(a), str(slow)]) == 4  # before issue 24: exit 1 on one round's blocks
    out = capsys.readouterr().out
    assert "8 of 8 cells got no verdict" in out and "--rounds 3" in out and "--sigma PCT" in out
    assert "within-process" in out
    # A between-run σ supplied (from a same-code pair) gives the verdicts back.
    assert exit_code(["compare", str(a), str(slow), "--sigma", "2"]) == 1
    assert exit_code(["compare", str(a), str(slow), "--sigma", "20"]) == 0


@pytest.mark.parametrize("value", ["0", "-2", "abc", "inf"])
def test_bad_sigma_exits_2(base, value, capsys):
    assert exit_code(["compare", str(base), str(base), "--sigma", value]) == 2
    assert "--sigma" in capsys.readouterr().err
