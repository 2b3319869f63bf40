"""Issue 26, groups 1, 2, 3, 5, 6: a gate that cannot be fooled, one loader rule, readers that say what they read.

Each test names the fault it guards against; each failed on the code before the fix (see docs/reliability.md).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from synthetic import SMALL, write_run
from tiny import FakeWorker, fake_run

from simplenn import cli
from simplenn.analyse import compare as compare_module
from simplenn.analyse.compare import compare
from simplenn.core.errors import UsageError
from simplenn.analyse.report import write_report
from simplenn.store.results import load
from simplenn.store.runfolder import RUN_FILE, SAMPLES_FILE, ResultsError, RunWriter, read_records

# Three rounds a side, as the default run measures (with one round a side compare gives no verdict: exit 4).
SMALL_ONLY = dict(widths_list=(SMALL,), modes=("per-call",), batches=(16, 64, 256, 1024), extras=False,
                  rounds=(1.0, 1.0, 1.0))


def exit_code(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as e:  # argparse's own errors
        return int(e.code)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error:" in err and "Traceback" not in err, err
    return err


def _lines(run: Path) -> list[str]:
    return (run / SAMPLES_FILE).read_text().splitlines()


def _set_status(run: Path, cell_id: str, status: str) -> None:
    """Rewrite one cell's record(s) as failed with `status` and no blocks (what a crashed worker leaves)."""
    out = []
    for line in _lines(run):
        rec = json.loads(line)
        if rec.get("kind") == "cell" and rec["id"] == cell_id:
            rec.update(status=status, reason=f"planted {status}", block_s=[])
        out.append(json.dumps(rec))
    (run / SAMPLES_FILE).write_text("\n".join(out) + "\n")


# ------------------------------------------------------------------ 1. the gate covers every base cell


@pytest.mark.parametrize("status", ["crashed", "oom", "timeout", "invalid", "skipped"])
def test_1_a_cell_ok_in_base_but_failed_in_new_fails_the_gate(tmp_path, capsys, status):
    base = write_run(tmp_path / "base", **SMALL_ONLY)
    new = write_run(tmp_path / "new", seed=1, **SMALL_ONLY)
    _set_status(new, "gpu-b256-w100x30", status)
    # before the fix: listed under "not ok on a side", counted as matched, "No regression", exit 0
    assert exit_code(["compare", str(base), str(new)]) == 3 == getattr(compare_module, "LOST_EXIT", None)
    out = capsys.readouterr().out
    assert f"Gate failure: 1 cell ok in base is not ok in new: gpu-b256-w100x30: base ok, new {status}" in out
    assert "No regression beyond 10 %." not in out
    result = compare(load(base), load(new))
    assert result.has_lost and result.lost == (f"gpu-b256-w100x30: base ok, new {status} (planted {status})",)


def test_1_a_cell_failed_in_base_and_ok_in_new_is_no_gate_failure(tmp_path, capsys):
    base = write_run(tmp_path / "base", **SMALL_ONLY)
    new = write_run(tmp_path / "new", seed=1, **SMALL_ONLY)
    _set_status(base, "gpu-b256-w100x30", "crashed")
    assert exit_code(["compare", str(base), str(new)]) == 0
    assert "Cells not ok in base: gpu-b256-w100x30: base crashed, new ok" in capsys.readouterr().out


# ------------------------------------------------------------------ 2. a cell is measured once per round


def _sweep_run(tmp_path, name: str = "run", **overrides) -> Path:
    """A complete run folder with a stored plan, written by the sweep with a fake worker."""
    state = fake_run(tmp_path / name, FakeWorker(), **overrides)
    return state.run_dir


def test_2_a_duplicated_record_is_refused_by_every_reader(tmp_path, capsys, monkeypatch):
    run = _sweep_run(tmp_path)
    lines = _lines(run)
    first = next(i for i, line in enumerate(lines) if json.loads(line)["kind"] == "cell")
    (run / SAMPLES_FILE).write_text("\n".join(lines + [lines[first]]) + "\n")
    where = f"{run / SAMPLES_FILE}: line {len(lines) + 1}: cell "
    with pytest.raises(ResultsError, match=f"already recorded at line {first + 1}"):
        read_records(run)
    # before the fix: the report doubled the cell's blocks, compare narrowed its CI, resume said complete
    assert exit_code(["report", str(run), "--out", str(tmp_path / "out")]) == 2
    assert where in _one_line_error(capsys)
    other = _sweep_run(tmp_path, "other")
    assert exit_code(["compare", str(other), str(run)]) == 2
    assert "a cell is measured once per round" in _one_line_error(capsys)
    from simplenn import sweep
    monkeypatch.setattr(sweep, "Worker", lambda logical_cpus: FakeWorker())
    meta = json.loads((run / RUN_FILE).read_text())
    (run / RUN_FILE).write_text(json.dumps({**meta, "status": "interrupted"}))
    assert exit_code(["run", "--resume", str(run)]) == 2
    assert where in capsys.readouterr().err


def test_2_a_record_outside_the_plan_is_refused(tmp_path, capsys):
    run = _sweep_run(tmp_path)
    lines = _lines(run)
    rec = next(json.loads(line) for line in lines if json.loads(line)["kind"] == "cell")
    rec["case"]["batch_size"] = 99999  # a cell the plan never asked for (was reported at 4228 % of the ceiling)
    rec["id"] = rec["id"].replace(f"-b{rec['id'].split('-b')[1].split('-')[0]}-", "-b99999-")
    (run / SAMPLES_FILE).write_text("\n".join(lines + [json.dumps(rec)]) + "\n")
    assert exit_code(["report", str(run), "--out", str(tmp_path / "out")]) == 2
    assert f"line {len(lines) + 1}: cell {rec['id']}" in (err := _one_line_error(capsys)) and "not in run.json's plan" in err


def test_2_a_duplicate_in_a_run_without_a_stored_plan_is_refused(tmp_path):
    run = write_run(tmp_path / "run", **SMALL_ONLY)
    lines = _lines(run)
    (run / SAMPLES_FILE).write_text("\n".join(lines + [lines[-1]]) + "\n")
    with pytest.raises(ResultsError, match=f"line {len(lines) + 1}: .*already recorded at line {len(lines)}"):
        load(run)


# ------------------------------------------------------------------ 3. the same run on both sides


def test_3_compare_refuses_the_same_run_by_path_or_run_id(tmp_path, capsys):
    run = write_run(tmp_path / "a" / "run", **SMALL_ONLY)
    # before the fix: "No regression", exit 0, "reproducibility 0.0 %": a CI job pointing both at one folder passes
    assert exit_code(["compare", str(run), str(run)]) == 2
    assert "are the same run folder" in _one_line_error(capsys)
    RunWriter(run).update_meta(run_id="0123456789abcdef0123456789abcdef")
    shutil.copytree(run, tmp_path / "b" / "copy")
    assert exit_code(["compare", str(run), str(tmp_path / "b" / "copy")]) == 2
    assert "hold the same run (run id 0123456789abcdef0123456789abcdef)" in _one_line_error(capsys)
    with pytest.raises(UsageError, match="same run"):
        compare(load(run), load(tmp_path / "b" / "copy", "copy"))


# ------------------------------------------------------------------ 5. partial data is labelled


def _interrupt(run: Path, keep_cells: int, rounds: int = 0) -> None:
    """Cut a complete run back to its first `rounds` rounds and `keep_cells` more cell records; mark it interrupted."""
    kept, n = [], 0
    for line in _lines(run):
        rec = json.loads(line)
        if rec["kind"] == "cell" and rec.get("round", 0) >= rounds:
            n += 1
            if n > keep_cells:
                continue
        kept.append(line)
    (run / SAMPLES_FILE).write_text("\n".join(kept) + "\n")
    meta = json.loads((run / RUN_FILE).read_text())
    (run / RUN_FILE).write_text(json.dumps({**meta, "status": "interrupted"}))


def test_5_report_and_compare_label_an_interrupted_run(tmp_path, capsys):
    base = _sweep_run(tmp_path, "base", rounds=3)
    new = _sweep_run(tmp_path, "new", rounds=3)
    _interrupt(new, keep_cells=1, rounds=1)  # the first round whole, then one record of the second
    # before the fix: no word of it; the report said "1 round" for a 3-round grid
    assert exit_code(["report", str(new), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "report.md").read_text()
    assert "> **Partial data.** run run is interrupted: 6 of 6 planned cells measured, 1 of 3 rounds complete" in text
    assert "warning: run run is interrupted" in capsys.readouterr().err
    assert exit_code(["compare", str(base), str(new)]) == 0
    out = capsys.readouterr().out
    assert "Partial data: new: run new/run is interrupted: 6 of 6 planned cells measured, 1 of 3 rounds complete" in out


def test_5_a_run_still_being_written_is_labelled(tmp_path):
    run = _sweep_run(tmp_path, rounds=1)
    _interrupt(run, keep_cells=2)
    meta = json.loads((run / RUN_FILE).read_text())
    (run / RUN_FILE).write_text(json.dumps({**meta, "status": "running"}))
    text = (write_report([run], tmp_path / "out", charts=False).report_md).read_text()
    assert "still being written (or its writer died): 1 of 6 planned cells measured, 0 of 1 round complete" in text
    complete = _sweep_run(tmp_path, "complete")
    assert "Partial data" not in write_report([complete], tmp_path / "out2", charts=False).report_md.read_text()


# ------------------------------------------------------------------ 6. nothing silently dropped or stale


def test_6_every_from_pytest_benchmark_file_is_read(tmp_path, monkeypatch):
    from simplenn.cli import report

    a = write_run(tmp_path / "a", **SMALL_ONLY)
    b = write_run(tmp_path / "b", seed=1, **SMALL_ONLY)
    read = []

    def fake_load(path):
        read.append(path)
        return load(a if path.endswith("a.json") else b)

    monkeypatch.setattr(report, "load_pytest_benchmark", fake_load)
    assert exit_code(["report", "--from-pytest-benchmark", "x/a.json", "--from-pytest-benchmark", "x/b.json",
                      "--out", str(tmp_path / "out")]) == 0
    # before the fix: argparse kept only the last one, and the first was dropped without a word
    assert read == ["x/a.json", "x/b.json"]
    assert "`a`" in (tmp_path / "out" / "report.md").read_text()


def test_6_a_reused_report_folder_keeps_no_stale_chart(tmp_path):
    with_ceiling = write_run(tmp_path / "with", **SMALL_ONLY)
    without = write_run(tmp_path / "without", ceilings={"CPU:0": 0.0, "GPU:0": 0.0}, **SMALL_ONLY)
    out = tmp_path / "out"
    assert "efficiency" in write_report([with_ceiling], out).charts
    (out / "notes.png").write_bytes(b"the user's own file")
    files = write_report([without], out)
    # before the fix: the old efficiency.png stayed beside a report.md saying it was left out
    assert "efficiency" not in files.charts and not (out / "efficiency.png").exists()
    assert "- `efficiency.png`" in files.report_md.read_text()
    assert (out / "notes.png").exists()  # only the tool's own chart names are removed


# ------------------------------------------------------------------ 8, 11. compare's flags and labels


@pytest.mark.parametrize("seed", ["-1", "1.5", "x"])
def test_8_compare_bad_seed_exits_2(tmp_path, capsys, seed):
    a = write_run(tmp_path / "a", **SMALL_ONLY)
    b = write_run(tmp_path / "b", seed=1, **SMALL_ONLY)
    # before the fix: -1 was a traceback with exit 1, the regression code
    assert exit_code(["compare", str(a), str(b), "--seed", seed]) == 2
    err = capsys.readouterr().err
    assert "--seed" in err and "Traceback" not in err


def test_11_compare_tells_same_named_folders_apart(tmp_path, capsys):
    d1 = write_run(tmp_path / "d1" / "run", **SMALL_ONLY)
    d2 = write_run(tmp_path / "d2" / "run", seed=1, **SMALL_ONLY)
    assert exit_code(["compare", str(d1), str(d2)]) == 0
    # before the fix: "run on … (new) vs run on … (base)"
    assert "Comparison: d2/run on" in capsys.readouterr().out
