"""Report tables on synthetic run folders whose true step times are known (two devices crossing near batch 256)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simplenn.system import peaks
from simplenn.analyse.display import markdown_table
from simplenn.analyse.report import analyse, crossover as pairs, markdown, tables, write_report
from simplenn.core.cases import FLOPS_FORMULA, Case, n_weights
from simplenn.core.errors import UsageError
from simplenn.store.results import Results, load
from simplenn.store.runfolder import RunWriter
from simplenn.store.runmeta import RunMeta
from simplenn.store.several import load_many
from synthetic import (BATCHES, CPU_CEILING, CPU_LINE, GPU_LINE, N_BLOCKS, SMALL, cell_record, machine_meta,
                       true_step_s, write_run)


@pytest.fixture
def df(synthetic_run: Path) -> Results:
    return load(synthetic_run)


def small_per_call(table: pd.DataFrame) -> pd.DataFrame:
    return table[(table["widths"] == "784x100x30x10") & (table["mode"] == "per-call")]


# ----------------------------------------------------------------------------------------------- peaks


def test_peaks_lookup_tolerates_apple_prefix_and_flags_estimates():
    assert peaks.lookup("Apple M2 Pro").fp32_tflops == 6.8
    assert peaks.lookup("m1 max", 32).memory_gb_s == 400
    assert not peaks.lookup("Apple M1").is_estimate
    assert peaks.lookup("Apple M3 Max").is_estimate and peaks.lookup("Apple M4").is_estimate
    binned = peaks.lookup("Apple M2 Pro", 17)  # not in the table: scaled per core, marked an estimate
    assert binned.is_estimate and binned.fp32_tflops == pytest.approx(6.8 * 17 / 19, abs=0.05)
    assert peaks.lookup("Intel(R) Core(TM) M3-6Y30") is None and peaks.lookup(None) is None


# ------------------------------------------------------------------------------------------ cell table


def test_cell_table_excludes_sentinel_and_derives_units(df):
    cells = tables.cell_table(df)
    one = cells[cells["cell_id"] == "cpu-b16-w100x30"].iloc[0]
    assert one["n_blocks"] == N_BLOCKS  # the 3× slower sentinel re-measurement is not pooled in
    assert one["median_step_s"] == pytest.approx(true_step_s("CPU:0", 16), rel=0.01)
    assert one["samples_per_s"] == pytest.approx(16 / one["median_step_s"])
    # The compiled step's matmuls: forward 2BP, weight gradients 2BP, input gradients 2B(P − P₁) (none for layer 1).
    flops = 16 * (4 * n_weights(SMALL) + 2 * (n_weights(SMALL) - SMALL[0] * SMALL[1]))
    assert one["gflop_per_s"] == pytest.approx(flops / one["median_step_s"] / 1e9)
    assert one["pct_of_ceiling"] == pytest.approx(100 * one["gflop_per_s"] / CPU_CEILING)
    assert math.isnan(one["pct_of_peak"])  # a CPU cell is not compared with the GPU's published peak


def test_cell_table_gpu_gets_published_peak_and_flags(df):
    cells = tables.cell_table(df).set_index("cell_id")
    gpu = cells.loc["gpu-b2048-w100x30"]
    assert gpu["peak_gflop_per_s"] == 6800.0
    assert gpu["pct_of_peak"] == pytest.approx(100 * gpu["gflop_per_s"] / 6800.0)
    assert cells.loc["gpu-b4096-w100x30", "status"] == "oom"
    assert "OOM" in cells.loc["gpu-b4096-w100x30", "reason"]
    assert cells.loc["cpu-b4096-w100x30", "unstable"]
    assert "unstable" in cells.loc["cpu-b4096-w100x30", "warnings"]
    assert cells.loc["cpu-b16-w100x30", "warnings"] == ""


@pytest.mark.parametrize("level, flagged", [
    ("nominal", False), ("unknown", False), ("moderate", True), ("heavy", True), ("trapping", True),
    ("sleeping", True), ("7", True),  # a level number the code does not know is recorded, and flagged, as it is
])
def test_thermal_pressure_flag(tmp_path, level, flagged):
    import json

    run = write_run(tmp_path / "hot", extras=False, widths_list=(SMALL,), modes=("per-call",), batches=(16, 32))
    with open(run / "samples.jsonl", "a") as f:
        rec = cell_record(Case("CPU:0", 64, SMALL), 99, [1e-3] * 6)
        f.write(json.dumps({**rec, "thermal_before": "nominal", "thermal_after": level}) + "\n")
    cells = tables.cell_table(load(run)).set_index("cell_id")
    assert (f"thermal after: {level}" in cells.loc["cpu-b64-w100x30", "warnings"]) is flagged
    assert "thermal before" not in cells.loc["cpu-b64-w100x30", "warnings"]


# --------------------------------------------------------------------------------------- speedup, crossover


def test_speedup_default_pair_and_direction(df):
    speed = pairs.speedup_table(df)
    assert (speed.base_device, speed.other_device) == ("CPU:0", "GPU:0")
    t = small_per_call(speed.table).set_index("batch_size")
    assert t.loc[2048, "speedup"] > 1 > t.loc[16, "speedup"]
    assert t.loc[2048, "faster"] == "GPU:0" and t.loc[16, "faster"] == "CPU:0"
    assert (t["speedup_ci_low"] <= t["speedup"]).all() and (t["speedup"] <= t["speedup_ci_high"]).all()


def test_bootstrap_ci_is_reproducible_with_a_seed(df):
    a = pairs.speedup_table(df, seed=7).table
    b = pairs.speedup_table(df, seed=7).table
    c = pairs.speedup_table(df, seed=8).table
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["speedup_ci_low"], c["speedup_ci_low"])


def test_crossover_at_256_with_fit_near_it(df):
    cross = pairs.crossover(df)
    row = small_per_call(cross.table).iloc[0]
    assert row["crossover_batch"] == 256
    assert row["answer"] == "GPU:0 faster from batch 256 on"
    assert 128 < row["fit_crossover_batch"] <= 256
    assert row["fit_crossover_batch"] == pytest.approx(240, rel=0.05)
    assert row["base_overhead_s"] == pytest.approx(CPU_LINE[0], rel=0.1)
    assert row["other_cost_s_per_sample"] == pytest.approx(GPU_LINE[1], rel=0.05)


def test_crossover_answers_at_the_edges(tmp_path):
    run = write_run(tmp_path / "r", batches=(512, 1024, 2048), widths_list=(SMALL,), modes=("per-call",), extras=False)
    assert pairs.crossover(load(run)).table.iloc[0]["answer"] == "GPU:0 faster at every measured batch size"
    run = write_run(tmp_path / "s", batches=(8, 16, 32), widths_list=(SMALL,), modes=("per-call",), extras=False)
    answer = pairs.crossover(load(run)).table.iloc[0]["answer"]
    assert answer == "GPU:0 never faster in the measured range (up to batch 32)"


def test_fit_line_recovers_exact_parameters():
    b = np.array([1, 10, 100, 1000])
    overhead, cost = pairs.fit_line(b, 2e-4 + 3e-6 * b)
    assert overhead == pytest.approx(2e-4) and cost == pytest.approx(3e-6)
    assert pairs.fit_crossing((1e-5, 1e-6), (1.3e-4, 0.5e-6)) == pytest.approx(240)
    assert math.isnan(pairs.fit_crossing((1e-5, 1e-6), (1.3e-4, 2e-6)))


def test_single_device_says_so(tmp_path):
    run = write_run(tmp_path / "cpu-only", devices=("CPU:0",), widths_list=(SMALL,), modes=("per-call",))
    speed = pairs.speedup_table(load(run))
    assert speed.table.empty and "Only one device was measured (CPU:0)" in speed.note
    text = markdown.render_markdown(analyse(load(run)), tmp_path)
    # The answer says so; a speedup section with nothing in it is left out.
    assert "Only CPU:0 was measured ok" in text and "## When does" not in text


def test_two_logical_cpus_fall_back_to_the_first_two_devices(tmp_path):
    run = write_run(tmp_path / "two-cpus", devices=("CPU:0", "CPU:1"), widths_list=(SMALL,), modes=("per-call",))
    speed = pairs.speedup_table(load(run))
    assert (speed.base_device, speed.other_device) == ("CPU:0", "CPU:1")
    assert len(speed.table) == len(BATCHES)


def test_unknown_device_is_a_usage_error(df):
    with pytest.raises(UsageError, match="GPU:7"):
        pairs.speedup_table(df, "CPU:0", "GPU:7")


# ------------------------------------------------------------------------------------------ host overhead


def test_host_overhead_is_per_call_minus_in_graph(df):
    host = tables.host_overhead_table(df)
    row = host[(host["device"] == "GPU:0") & (host["widths"] == "784x100x30x10") & (host["batch_size"] == 64)].iloc[0]
    assert row["host_overhead_s"] == pytest.approx(90e-6, rel=0.05)
    assert row["host_share_pct"] == pytest.approx(100 * 90e-6 / true_step_s("GPU:0", 64), rel=0.05)


def test_host_overhead_empty_with_one_mode(tmp_path):
    run = write_run(tmp_path / "r", modes=("per-call",), widths_list=(SMALL,), extras=False)
    assert tables.host_overhead_table(load(run)).empty


# ---------------------------------------------------------------------------------------------- report


def test_markdown_table_formatter_without_tabulate():
    text = markdown_table(pd.DataFrame({"name": ["a|b"], "median_ms": [0.123456], "n": [3]}))
    assert text.splitlines() == ["| name | median_ms | n |", "|---|---:|---:|", "| a\\|b | 0.1235 | 3 |"]


@pytest.mark.slow
def test_write_report_files_and_content(synthetic_run, tmp_path):
    out = tmp_path / "out"
    files = write_report([synthetic_run], out)
    text = files.report_md.read_text()
    for needle in ("Apple M2 Pro", "2.18.0", "1.2.0", "6.8 TFLOPS", FLOPS_FORMULA, "GPU:0 faster from batch 256 on",
                   "median step (us, 95 % CI)", "samples/s", "GFLOP/s", "host_overhead_us", "**oom**",
                   "OOM when allocating",
                   "unstable", "drifted by +200 %", "a run-level warning"):
        assert needle in text, needle
    for name, path in files.charts.items():
        assert path.exists() and f"]({path.name})" in text  # relative links
    summary = pd.read_csv(files.summary_csv)
    assert {"median_step_s", "samples_per_s", "gflop_per_s", "pct_of_ceiling", "status"} <= set(summary.columns)
    assert len(summary) == tables.cell_table(load(synthetic_run))["cell_id"].nunique()
    assert not list(out.glob("*.tmp"))


@pytest.mark.slow
def test_several_runs_combine_with_a_machine_column(tmp_path):
    a = write_run(tmp_path / "a", widths_list=(SMALL,), modes=("per-call",), extras=False)
    b = write_run(tmp_path / "b", machine=machine_meta("Apple M1", "Apple M1", "Apple M1", 8), widths_list=(SMALL,),
                  modes=("per-call",), extras=False, seed=1)
    df = load_many([a, b])
    cells = tables.cell_table(df)
    assert set(cells["machine"]) == {"Apple M2 Pro", "Apple M1"}
    assert set(pairs.crossover(df).table["machine"]) == {"Apple M2 Pro", "Apple M1"}
    m1 = cells[(cells["machine"] == "Apple M1") & (cells["device"] == "GPU:0")]
    assert (m1["peak_gflop_per_s"] == 2600.0).all()
    text = markdown.render_markdown(analyse(df), tmp_path)
    assert "Apple M1" in text and "Apple M2 Pro" in text


def test_run_without_ok_cell_is_refused(tmp_path):
    run = tmp_path / "bad"
    writer = RunWriter(run)
    writer.create({"machine": machine_meta()})
    writer.append({**cell_record(Case("CPU:0", 8), 0, []), "status": "crashed", "reason": "segfault"})
    with pytest.raises(UsageError, match="no cell finished ok"):
        write_report([run], tmp_path / "out")


def test_method_text_does_not_claim_interleaving_for_pytest_benchmark_sources():
    bench = markdown.method_text({"bench": RunMeta(source="pytest-benchmark")})
    assert "cells are interleaved" not in bench and "pytest's order" in bench
    assert markdown.method_text({"run": RunMeta()}) == markdown.METHOD


def test_a_run_without_gpu_says_so_with_the_reason():
    runs = {"r1": RunMeta(gpu_missing_reason="tensorflow-metal is not installed"), "r2": RunMeta()}
    assert markdown.absent_gpu_text(runs) == "- `r1`: no GPU was measured — tensorflow-metal is not installed"
