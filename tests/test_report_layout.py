"""report.md in the reader's order: the answer, the charts, the tables, then how it was measured; the per-cell table
shows the columns a reader needs; the grid reads as a sentence that drops no key (issue 28)."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from simplenn.analyse.report import write_report
from simplenn.analyse.report.context_md import grid_sentence
from simplenn.sweep.config import SweepConfig
from simplenn.measure.cell import Settings

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "machines" / "linux-x86_64-2cpu-2026-11-27"


@pytest.fixture(scope="module")
def report_md(tmp_path_factory) -> str:
    return write_report([REFERENCE], tmp_path_factory.mktemp("report")).report_md.read_text()


def _headings(text: str) -> list[str]:
    return re.findall(r"^## (.+)$", text, flags=re.M)


def test_the_answer_then_charts_then_tables_then_context(report_md):
    heads = _headings(report_md)
    order = ["The answer", "Charts", "When does CPU:1 beat CPU:0?", "Per-cell results", "Where the time goes",
             "Machines and versions", "Grid", "Method", "Parity", "Warnings"]
    assert heads == order, heads
    assert "## Machines side by side" not in report_md  # one run: nothing to put side by side


def test_the_per_cell_table_shows_what_a_reader_needs_and_points_to_summary_csv(report_md):
    section = report_md.split("## Per-cell results\n\n", 1)[1].split("\n## ", 1)[0]
    header = next(line for line in section.splitlines() if line.startswith("| cell"))
    assert header == ("| cell | device | batch | median step (ms, 95 % CI) | samples/s | GFLOP/s | % of ceiling | "
                      "status |")
    assert "`summary.csv`" in section
    row = next(line for line in section.splitlines() if line.startswith("| `cpu-b32-w100x30` |"))
    # The row shows the committed summary.csv's numbers for that cell (seconds there, ms here).
    cell = pd.read_csv(REFERENCE / "summary.csv").set_index(["cell_id", "device"]).loc[("cpu-b32-w100x30", "CPU:0")]
    parts = [p.strip() for p in row.strip("|").split("|")]
    median, low, high = map(float, re.match(r"([\d.]+) \(([\d.]+)–([\d.]+)\)", parts[3]).groups())
    for shown, seconds in ((median, cell["median_step_s"]), (low, cell["ci_low_s"]), (high, cell["ci_high_s"])):
        assert shown == pytest.approx(seconds * 1e3, rel=1e-3)
    assert float(parts[4].replace(",", "")) == pytest.approx(cell["samples_per_s"], rel=1e-4)
    assert float(parts[5]) == pytest.approx(cell["gflop_per_s"], rel=1e-3)
    assert float(parts[6]) == pytest.approx(cell["pct_of_ceiling"], rel=1e-3)
    assert parts[:3] == ["`cpu-b32-w100x30`", "CPU:0", "32"] and parts[7].startswith(cell["status"])


def test_the_grid_reads_as_a_sentence(report_md):
    grid = report_md.split("## Grid\n\n", 1)[1].split("\n## ", 1)[0]
    assert " = " not in grid  # no `key = value` dump for the keys it knows
    assert grid.startswith("Networks 784-100-30-10 at batch sizes 1, 8, 32, 128, 512, 2048 and 8192, and "
                           "784-256-256-10 and 784-1024-1024-10 at batch size 512; devices CPU:0 and CPU:1 (the CPU "
                           "split into 2 logical devices)")


def test_the_grid_sentence_says_every_value_and_lists_what_it_does_not_know():
    config = SweepConfig(devices=("CPU:0", "GPU:0"), batch_sizes=(16, 4096), hidden=((64, 32),), wide_hidden=((512,),),
                         wide_batch=256, losses=("softmax",), dtypes=("float16",), jit=(True,), modes=("in-graph",),
                         impls=("jax",), settings=Settings(min_time_s=0.7, min_block_s=0.03, seed=11, precision=0.037,
                                                           max_time_s=2.5),
                         cooldown_s=4.0, rounds=6, sentinel_every=9, timeout_s=77.0, logical_cpus=3)
    grid = {**config.to_dict(), "profile": ["cpu-b8-w64x32"], "profile_steps": 40, "from_the_future": 1}
    text = grid_sentence(grid, {"name": "standard", "version": 2, "overrides": ["batch_sizes"]})
    for needle in ("784-64-32-10 at batch sizes 16 and 4096", "784-512-10 at batch size 256", "devices CPU:0 and GPU:0",
                   "3 logical devices", "implementation jax", "mode in-graph", "loss softmax", "dtype float16",
                   "XLA on", "±3.7 %", "at most 2.5 s", "at least 0.7 s", "at least 0.03 s", "6 rounds", "seed 11",
                   "every 9 cells", "timeout 77 s", "4 s cool-down", "Preset standard v2, with batch_sizes changed",
                   "cells cpu-b8-w64x32 traced under the profiler (40 steps each)",
                   "Other settings: from_the_future = 1."):
        assert needle in text, (needle, text)
