"""`run --profile` and the report of a profiled run: profiled cells land in run.json's `profile` (never in
samples.jsonl), the report gains its section and chart, and the benchmark's own tables do not change."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from simplenn import sweep
from simplenn.analyse.report import analyse, write_report
from simplenn.analyse.report.inside_step import TRACE_AGREEMENT, cell_summary
from simplenn.core.cases import Case
from simplenn.core.errors import FieldError
from simplenn.measure.profile import Traced
from simplenn.store import profiles
from simplenn.store.results import load
from simplenn.store.runfolder import RunWriter, read_records
from synthetic import SMALL, write_run
from tiny import TINY_GRID, FakeWorker
from traces import PER_CALL


def traced_record(case: Case, trace: Path, harness_step_s: float = 3.2e-3) -> dict:
    """What the tracer returns for `case`, pointing at a committed trace (10 steps)."""
    return Traced(case, "ok", "", "tensorflow", str(trace), 10, 0.034, harness_step_s, 16, 6).to_record()


class ProfilingWorker(FakeWorker):
    """FakeWorker that also answers profile requests with the committed trace, summarised for real."""

    def request(self, msg, timeout_s):
        if msg[0] == "profile":
            self.requests.append(msg)
            case = Case.from_dict(msg[1])
            trace = copy_trace(Path(msg[3]), case)
            return ("result", profiles.summarise(traced_record(case, trace), Path(msg[3]), msg[4]))
        return super().request(msg, timeout_s)


def _run(tmp_path, worker, **overrides):
    config = sweep.SweepConfig.from_dict({**TINY_GRID, "devices": ("CPU:0",), **overrides})
    state = sweep.prepare(tmp_path / "run", config, worker, {"label": "test machine"}, [])
    return sweep.execute(state, worker)


def test_profiled_cells_go_to_run_json_never_to_the_samples(tmp_path):
    worker = ProfilingWorker()
    state = _run(tmp_path, worker, profile=("cpu-b8-w8", "cpu-b32-w8"))
    assert state.meta["status"] == "complete"
    cells = state.meta["profile"]["cells"]
    assert [c["id"] for c in cells] == ["cpu-b8-w8", "cpu-b32-w8"]
    assert all(c["status"] == "ok" and c["classes"] for c in cells)
    assert cells[0]["trace_path"].startswith("traces/cpu-b8-w8/")  # relative: the folder can move
    perfetto = json.loads((state.run_dir / cells[0]["perfetto_path"]).read_text())
    assert {"matmul_fwd", "host", "executor"} <= {e.get("cat") for e in perfetto["traceEvents"]}
    records, _ = read_records(state.run_dir)
    assert cells[0]["ceiling_gflops"] == max(r["gflops"] for r in records if r["kind"] == "ceiling")
    assert {r["kind"] for r in records} == {"cell", "ceiling"}
    # Profiling happens last, after every cell and the end-of-run ceiling probe.
    kinds = [m[0] for m in worker.requests]
    assert kinds.index("profile") > max(i for i, k in enumerate(kinds) if k in ("cell", "ceiling"))
    # The samples table holds the measured blocks and nothing else.
    assert len(load(state.run_dir).table) == sum(len(r["block_s"]) for r in records if r["kind"] == "cell")


def test_profile_all_traces_every_cell_once(tmp_path):
    worker = ProfilingWorker()
    state = _run(tmp_path, worker, profile=("all",))
    ids = [c["id"] for c in state.meta["profile"]["cells"]]
    assert ids == list(dict.fromkeys(ids)) and set(ids) == {"cpu-b8-w8", "cpu-b16-w8", "cpu-b32-w8"}


def test_an_unknown_cell_id_is_refused_before_measuring(tmp_path):
    worker = ProfilingWorker()
    config = sweep.SweepConfig.from_dict({**TINY_GRID, "devices": ("CPU:0",), "profile": ("cpu-b999-w8",)})
    with pytest.raises(FieldError) as e:
        sweep.prepare(tmp_path / "run", config, worker, {"label": "test machine"}, [])
    assert e.value.field == "profile" and "cpu-b8-w8" in e.value.detail
    assert not any(m[0] == "cell" for m in worker.requests)


def copy_trace(folder: Path, case: Case) -> Path:
    """The committed trace copied where the tracer would have left it (summarise writes a Perfetto file beside it)."""
    trace = folder / profiles.TRACES_DIR / case.id / f"{case.id}.xplane.pb"
    trace.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(PER_CALL, trace)
    return trace


def _with_profile(run_dir: Path, harness_step_s: float) -> Path:
    """Add a profile of the run's CPU:0 batch-32 per-call cell (the committed trace) to its run.json."""
    case = Case("CPU:0", 32, SMALL)
    trace = copy_trace(run_dir, case)
    record = profiles.summarise(traced_record(case, trace, harness_step_s), run_dir, ceiling_gflops=2000.0)
    RunWriter(run_dir).update_meta(profile={"steps": 10, "fresh": True, "cells": [record]})
    return run_dir


@pytest.mark.slow
def test_the_report_of_a_profiled_run_has_the_section_and_chart(tmp_path):
    plain = write_run(tmp_path / "a" / "run", devices=("CPU:0",), widths_list=(SMALL,), extras=False)
    profiled = _with_profile(write_run(tmp_path / "b" / "run", devices=("CPU:0",), widths_list=(SMALL,), extras=False),
                             harness_step_s=3.3e-3)
    a = write_report([plain], tmp_path / "rep_plain")
    b = write_report([profiled], tmp_path / "rep_profiled")
    # The profiled cell never mixes into the benchmark's statistics: the per-cell table is the same.
    assert pd.read_csv(a.summary_csv).equals(pd.read_csv(b.summary_csv))
    text = b.report_md.read_text()
    assert "## Where the time goes inside the step" in text
    assert "At batch 32 on CPU:0 (per-call)" in text and "% of the step is outside the matmuls" in text
    assert "inside_step" in b.charts and b.charts["inside_step"].exists()
    plain_text = a.report_md.read_text()
    assert "inside the step" not in plain_text and "inside_step" not in a.charts


def test_the_chart_draws_the_table_it_is_given(tmp_path):
    run = _with_profile(write_run(tmp_path / "r", devices=("CPU:0",), widths_list=(SMALL,), extras=False), 3.3e-3)
    analysis = analyse(load(run))
    from simplenn.analyse.report.inside_chart import inside_step_chart

    fig = inside_step_chart(analysis)
    ax = fig.axes[0]
    heights = sorted(round(p.get_height(), 9) for p in ax.patches if p.get_height() > 0)
    shares = analysis.profile.query("share > 0")["share"].mul(100).round(9).sort_values().tolist()
    assert heights == pytest.approx(shares)


@pytest.mark.parametrize("harness, agrees", [(3.3e-3, True), (1.0e-3, False)])
def test_the_witness_flags_a_trace_that_disagrees_with_the_harness(tmp_path, harness, agrees):
    run = _with_profile(write_run(tmp_path / "r", devices=("CPU:0",), widths_list=(SMALL,), extras=False), harness)
    summary = cell_summary(profiles.table(load(run).runs))
    row = summary.iloc[0]
    assert bool(row["agrees"]) is agrees
    assert abs(row["unattributed_share"]) <= TRACE_AGREEMENT if agrees else abs(row["unattributed_share"]) > 1


def test_share_leaves_the_traces_behind(tmp_path):
    from simplenn.store.share import copy_published, staging

    run = tmp_path / "run"
    (run / profiles.TRACES_DIR / "cell").mkdir(parents=True)
    (run / profiles.TRACES_DIR / "cell" / "vm.xplane.pb").write_bytes(b"host name inside")
    (run / "run.json").write_text(json.dumps({"schema_version": 1}))
    (run / "samples.jsonl").write_text("")
    with staging(tmp_path / "shared") as stage:  # share publishes an allow-list: traces/ is not on it
        copy_published(run, stage)
    assert (tmp_path / "shared" / "run.json").exists() and not (tmp_path / "shared" / profiles.TRACES_DIR).exists()


def test_a_gpu_cell_traced_without_a_device_plane_is_flagged(tmp_path):
    from simplenn.analyse.report.inside_step import witness_notes

    # What a Mac with tensorflow-metal gives: only /host:CPU in the trace (the plugin implements no profiler).
    gpu = Case("GPU:0", 32, SMALL)
    record = profiles.summarise(traced_record(gpu, copy_trace(tmp_path, gpu), 3.3e-3))
    assert record["device_plane"] is False
    notes = witness_notes(cell_summary(profiles.table({"mac": {"profile": {"cells": [record]}}})))
    assert any("no plane for GPU:0" in n for n in notes)
    cpu_case = Case("CPU:0", 32, SMALL)
    cpu = profiles.summarise(traced_record(cpu_case, copy_trace(tmp_path, cpu_case), 3.3e-3))
    assert not witness_notes(cell_summary(profiles.table({"linux": {"profile": {"cells": [cpu]}}})))
