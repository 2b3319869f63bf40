"""The pytest-benchmark suite end to end: bench/ timed in a subprocess, its JSON read back as the CLI's tidy table."""
from __future__ import annotations

import copy
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.grids import GRIDS
from bench.options import timing_requested
from bench.rounds import plan_rounds
from simplenn.store import pytest_json
from simplenn.core.errors import UsageError
from simplenn.measure.cell import Settings
from simplenn.store.results import COLUMNS
from simplenn.store.runfolder import ResultsError

REPO = Path(__file__).resolve().parents[1]
GRID = GRIDS["tiny"]
GRID_WIDTHS = [(784, *h, 10) for h in GRID.config.hidden]


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    """`pytest bench --benchmark-only` on the tiny grid, CPU:0, CPU:1 and a GPU (skipped where there is none)."""
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "bench.json"
    cmd = [sys.executable, "-m", "pytest", str(REPO / "bench"), "--benchmark-only", f"--benchmark-json={out}",
           "--simplenn-grid", "tiny", "--simplenn-devices", "CPU:0,CPU:1,gpu", "--logical-cpus", "2",
           "-p", "no:cacheprovider", "-rs"]
    done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
    return SimpleNamespace(json=out, doc=json.loads(out.read_text()), stdout=done.stdout, tmp=tmp)


def suite_devices(stdout: str) -> tuple[list[str], list[str]]:
    """(devices the bench suite ran, devices it skipped) from its report header: the suite's own view, not this
    process's (which may differ: a fake device list here, or a GPU the child cannot use)."""
    listed = re.search(r"^simplenn bench: .*?; devices (.*?); logical CPUs", stdout, flags=re.MULTILINE).group(1)
    names = [name.strip() for name in listed.split(",")]
    return ([n for n in names if not n.endswith("(skipped)")],
            [n.removesuffix(" (skipped)") for n in names if n.endswith("(skipped)")])


def test_suite_devices_reads_the_header():
    assert suite_devices("x\nsimplenn bench: grid tiny (timed); devices CPU:0, CPU:1, GPU:0 (skipped); logical CPUs 2\n"
                         ) == (["CPU:0", "CPU:1"], ["GPU:0"])
    assert suite_devices("simplenn bench: grid tiny (timed); devices CPU:0, CPU:1, GPU:0; logical CPUs 2"
                         ) == (["CPU:0", "CPU:1", "GPU:0"], [])


def test_converted_table_has_every_cell_of_the_grid(bench_run):
    res = pytest_json.load(bench_run.json)
    df = res.table
    assert list(df.columns) == COLUMNS
    # Every device the suite ran (a GPU where it sees one), every cell; a device it skipped has none.
    devices, skipped = suite_devices(bench_run.stdout)
    # `gpu` is the first accelerator (GPU:0, or the stand-in GPU the session loads), or GPU:0 skipped.
    assert devices[:2] == ["CPU:0", "CPU:1"] and len(devices + skipped) == 3
    cells = set(zip(df["device"], df["batch_size"], df["widths"]))
    assert cells == {(d, b, "x".join(map(str, w))) for d in devices for b in GRID.config.batch_sizes for w in GRID_WIDTHS}
    assert set(df["status"]) == {"ok"}
    assert set(df["cell_id"]) >= {"cpu-b8-w100x30", "cpu1-b64-w100x30"}
    assert df["final_loss"].map(math.isfinite).all()
    assert (df["trace_s"] > 0).all()
    assert not df.attrs  # run metadata travels beside the table (issue 18)
    meta = res.runs["bench"]
    assert meta.source == "pytest-benchmark"
    assert meta.grid["name"] == "tiny"
    assert meta.machine["label"] and df["machine"].eq(meta.machine["label"]).all()
    assert meta.machine["python"] == bench_run.doc["machine_info"]["python_version"]


def test_per_step_medians_are_round_medians_over_steps_per_round(bench_run):
    df = pytest_json.load(bench_run.json).table
    for bench in bench_run.doc["benchmarks"]:
        extra, stats = bench["extra_info"], bench["stats"]
        cell = df[df["cell_id"] == extra["cell_id"]]
        assert len(cell) == stats["rounds"] == extra["rounds"]
        assert (cell["n_steps"] == extra["steps_per_round"]).all()
        assert cell["step_s"].median() == pytest.approx(stats["median"] / extra["steps_per_round"], rel=1e-12)
        # Grouped by network and batch size, so the devices of one cell sit side by side.
        assert bench["group"] == f"w{extra['hidden']}-b{extra['batch_size']}"


def test_devices_of_a_group_share_steps_per_round_so_table_ratios_are_per_step(bench_run):
    steps: dict[str, set[int]] = {}
    for bench in bench_run.doc["benchmarks"]:
        steps.setdefault(bench["group"], set()).add(bench["extra_info"]["steps_per_round"])
    assert len(steps) == len(GRID.config.batch_sizes) * len(GRID_WIDTHS)
    assert all(len(s) == 1 for s in steps.values()), steps


def test_the_stand_in_gpu_is_timed_beside_the_cpus(bench_run, standin_device):
    # `gpu` resolves to the stand-in in a session that loaded it (SIMPLENN_PLUGIN reaches the nested pytest).
    df = pytest_json.load(bench_run.json).table
    cells = df[df["device"] == standin_device]
    assert len(cells) and set(cells["status"]) == {"ok"} and set(cells["backend"]) == {"standin"}
    assert set(cells["device_kind"]) == {"gpu"} and (cells["step_s"] > 0).all()
    assert f"{standin_device}" in bench_run.stdout


def test_gpu_cells_are_skipped_with_the_reason(bench_run):
    if len(suite_devices(bench_run.stdout)[0]) > 2:
        pytest.skip("an accelerator is present here (a GPU or the stand-in): its cells ran instead of being skipped")
    from simplenn.system.devices import gpu_missing_reason

    assert f"GPU:0: {gpu_missing_reason()}" in bench_run.stdout
    assert f"{len(GRID.config.batch_sizes)} skipped" in bench_run.stdout
    assert "per training step (median round time / steps per round)" in bench_run.stdout


def test_report_from_pytest_benchmark_json(bench_run):
    from simplenn.cli import main

    out = bench_run.tmp / "report"
    assert main(["report", "--from-pytest-benchmark", str(bench_run.json), "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    assert "CPU:1" in text
    # pytest-benchmark has no matmul ceiling: no empty efficiency.png, and the report says why (issue 12)
    assert not (out / "efficiency.png").exists() and "- `efficiency.png`" in text and "ceiling was measured" in text


# ------------------------------------------------------------------------------------- refused files


def _write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "x.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def test_malformed_json_is_refused_clearly(tmp_path):
    with pytest.raises(ResultsError, match="not valid JSON"):
        pytest_json.load(_write(tmp_path, '{"benchmarks": ['))
    assert issubclass(ResultsError, UsageError)


@pytest.mark.parametrize("doc", [{"runs": []}, [1, 2], {"benchmarks": "no", "machine_info": {}}])
def test_foreign_json_is_refused_clearly(tmp_path, doc):
    with pytest.raises(ResultsError, match="not a pytest-benchmark JSON file"):
        pytest_json.load(_write(tmp_path, doc))


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(ResultsError, match="no such file"):
        pytest_json.load(tmp_path / "absent.json")


def test_pytest_benchmark_json_of_other_benchmarks_is_refused(tmp_path, bench_run):
    doc = copy.deepcopy(bench_run.doc)
    for bench in doc["benchmarks"]:
        bench["extra_info"] = {}
    with pytest.raises(ResultsError, match="no simplenn-bench benchmarks"):
        pytest_json.load(_write(tmp_path, doc))


def test_foreign_benchmarks_beside_ours_are_ignored_with_a_warning(tmp_path, bench_run):
    doc = copy.deepcopy(bench_run.doc)
    doc["benchmarks"][0]["extra_info"] = {"other": 1}
    with pytest.warns(UserWarning, match="ignored 1 benchmark"):
        df = pytest_json.load(_write(tmp_path, doc)).table
    assert df["cell_id"].nunique() == len(bench_run.doc["benchmarks"]) - 1


def test_summary_only_file_asks_for_save_data(tmp_path, bench_run):
    doc = copy.deepcopy(bench_run.doc)
    del doc["benchmarks"][0]["stats"]["data"]  # what --benchmark-autosave writes without --benchmark-save-data
    with pytest.raises(ResultsError, match="--benchmark-save-data"):
        pytest_json.load(_write(tmp_path, doc))


def test_empty_and_newer_files_are_refused(tmp_path, bench_run):
    with pytest.raises(ResultsError, match="no benchmarks recorded"):
        pytest_json.load(_write(tmp_path, {**bench_run.doc, "benchmarks": []}))
    doc = copy.deepcopy(bench_run.doc)
    doc["benchmarks"][0]["extra_info"]["simplenn_format"] = pytest_json.EXTRA_INFO_FORMAT + 1
    with pytest.raises(ResultsError, match="newer than this simplenn-bench"):
        pytest_json.load(_write(tmp_path, doc))


# ------------------------------------------------------------------------------------- suite machinery


@pytest.mark.parametrize(("given", "timed"), [
    ({}, False), ({"benchmark_only": True}, True), ({"benchmark_json": Path("x.json")}, True),
    ({"benchmark_autosave": "tag"}, True), ({"benchmark_histogram": []}, False), ({"benchmark_skip": True}, False),
])
def test_benchmarks_are_timed_only_when_asked_for(given, timed):
    config = SimpleNamespace(getoption=lambda name, default=None: given.get(name, default))
    assert timing_requested(config) is timed


def test_plan_rounds_is_not_stopped_short_by_a_stalled_first_block(monkeypatch):
    """A stall that makes the first 1-step block look long enough must not become the round: it is re-checked."""
    clock = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])  # a fake clock: 1 ms per step, exactly
    calls = []

    def run(n: int) -> None:
        clock[0] += 0.001 * n + (0.030 if not calls else 0.0)  # the very first block also stalls for 30 ms
        calls.append(n)

    plan = plan_rounds(run, lambda: None, Settings(min_block_s=0.02, min_blocks=3, min_time_s=0.05))
    # 1 (stalled, 31 ms), 1 (1 ms: not confirmed), then 24 = ceil(1.2 × 20 ms / 1 ms) twice, then the timed block.
    assert calls == [1, 1, 24, 24, 24]
    assert plan.steps_per_round == 24  # a round lasts 24 ms ≥ min_block_s
    assert plan.rounds == 3  # ceil(50 ms / 24 ms) = 3 = min_blocks
    assert plan.warmup_rounds == 1
    assert plan.calibration_s == pytest.approx((0.031, 0.001, 0.024, 0.024, 0.024))
