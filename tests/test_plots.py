"""Charts: each draws the numbers of the table it shows, under the title and axis labels the report prints."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from simplenn.analyse.report import analyse, chartkit, charts
from simplenn.analyse.report.captions import CHARTS
from simplenn.analyse.report.markdown import render_markdown
from simplenn.store.results import load
from synthetic import SMALL, write_run


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    return analyse(load(write_run(tmp_path_factory.mktemp("runs") / "m2pro-run")))


CHART_FUNCTIONS = {
    "step_time": charts.step_time_chart, "throughput": charts.throughput_chart, "speedup": charts.speedup_heatmap,
    "efficiency": charts.efficiency_chart, "widths": charts.widths_chart, "time_split": charts.time_split_chart,
}


@pytest.mark.parametrize("name", sorted(CHART_FUNCTIONS))
def test_chart_title_and_axes_match_the_report(name, analysis, tmp_path):
    fig = CHART_FUNCTIONS[name](analysis)
    spec = CHARTS[name].in_unit(analysis.step_unit.name)
    assert isinstance(fig, Figure)
    assert fig.get_suptitle() == spec.title
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == (spec.xlabel, spec.ylabel)
    assert "(" in spec.xlabel and "(" in spec.ylabel  # every axis says its unit
    assert (tuple(fig.get_size_inches()), fig.dpi) == (chartkit.FIGSIZE, chartkit.DPI)  # the report's one frame
    texts = " ".join(t.get_text() for t in fig.texts)
    assert "TF 2.18.0" in texts and "metal 1.2.0" in texts  # machine and versions in the subtitle
    md = render_markdown(analysis, tmp_path, {name: tmp_path / f"{name}.png"})
    assert f"### {spec.title}" in md and f"_x: {spec.xlabel}; y: {spec.ylabel}_" in md


def test_step_time_is_log_log_with_a_line_per_device_and_mode(analysis):
    ax = charts.step_time_chart(analysis).axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = sorted(line.get_label() for line in ax.get_lines())
    assert labels == ["CPU:0, mode=in-graph", "CPU:0, mode=per-call", "GPU:0, mode=in-graph", "GPU:0, mode=per-call"]
    gpu = next(line for line in ax.get_lines() if line.get_label() == "GPU:0, mode=per-call")
    assert 4096 not in gpu.get_xdata()  # the oom cell is left out of the line …


def test_non_ok_cells_are_listed_under_the_chart(analysis):
    fig = charts.step_time_chart(analysis)
    assert any("gpu-b4096-w100x30: oom" in t.get_text() for t in fig.texts)  # … and named below it


def test_speedup_heatmap_marks_the_crossover(analysis):
    fig = charts.speedup_heatmap(analysis)
    ax = fig.axes[0]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    cols = [int(t.get_text()) for t in ax.get_xticklabels()]
    boxes = [(round(p.get_x() + 0.5), round(p.get_y() + 0.5)) for p in ax.patches]
    small_per_call = rows.index("784x100x30x10\nmode=per-call")
    assert (cols.index(256), small_per_call) in boxes


def test_single_device_heatmap_says_so(tmp_path):
    one = analyse(load(write_run(tmp_path / "cpu", devices=("CPU:0",), widths_list=(SMALL,), modes=("per-call",))))
    fig = charts.speedup_heatmap(one)
    assert any("Only one device" in t.get_text() for t in fig.axes[0].texts)
    assert not {"speedup", "time_split", "machines"} & set(one.chart_names)


@pytest.mark.slow
def test_save_all_writes_every_chart_the_data_fills_and_no_other(analysis, tmp_path):
    paths = charts.save_all(analysis, tmp_path)
    assert list(paths) == analysis.chart_names  # in report order, what the Markdown lists
    # Optional by design: frameworks.png (one implementation ran) and inside_step.png (nothing was profiled).
    assert set(paths) | set(analysis.charts_left_out) | {"frameworks", "inside_step"} == set(charts.BUILDERS)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{name}.png" for name in paths)  # no .tmp left
    for path in paths.values():
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------- a chart's numbers are the table's numbers

WIDTHS = "784x100x30x10"
# What each by-batch chart plots on y, from the cell table (the step time in the report's one step unit).
Y_OF = {"step_time": lambda a, t: a.step_unit.of(t["median_step_s"]), "throughput": lambda a, t: t["samples_per_s"],
        "efficiency": lambda a, t: t["pct_of_ceiling"]}


def line_rows(label: str, table: pd.DataFrame) -> pd.DataFrame:
    """The rows of `table` a legend label names: "key=value" parts, and bare values of machine, device or run."""
    keep = pd.Series(True, index=table.index)
    for part in label.split(", "):
        key, _, value = part.rpartition("=")
        keep &= (table[key].astype(str) == value) if key else table[["machine", "device", "run"]].eq(value).any(axis=1)
    return table[keep]


def drawing_errors(fig: Figure, analysis, name: str, widths: str = WIDTHS) -> list[str]:
    """Where a by-batch chart's lines differ from the cell table's ok cells of `widths` (empty: they agree)."""
    cells = analysis.cells
    ok = cells[(cells["widths"] == widths) & (cells["status"] == "ok") & cells["median_step_s"].notna()]
    errors, drawn = [], 0
    for line in fig.axes[0].get_lines():
        rows = line_rows(line.get_label(), ok).sort_values("batch_size")
        x, y = np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float)
        drawn += len(x)
        if not (np.array_equal(x, rows["batch_size"].to_numpy(dtype=float))
                and np.allclose(y, Y_OF[name](analysis, rows).to_numpy(dtype=float), rtol=1e-12)):
            errors.append(f"{line.get_label()}: drew {[(float(a), float(b)) for a, b in zip(x, y)]}")
    if drawn != len(ok):
        errors.append(f"{len(ok)} ok cells, {drawn} on the lines")
    return errors


def drawing_ok_count(analysis) -> int:
    cells = analysis.cells
    return int(((cells["widths"] == WIDTHS) & (cells["status"] == "ok") & cells["median_step_s"].notna()).sum())


@pytest.mark.parametrize("name", sorted(Y_OF))
def test_a_by_batch_chart_draws_the_cell_table(name, analysis):
    fig = CHART_FUNCTIONS[name](analysis, WIDTHS)
    assert len(fig.axes[0].get_lines()) == 4  # two devices × two modes
    assert drawing_errors(fig, analysis, name) == []


def test_the_drawing_check_fires_on_a_planted_fault(analysis):
    cells = analysis.cells.copy()
    one = cells.index[(cells["cell_id"] == "gpu-b256-w100x30") & (cells["mode"] == "per-call")]
    cells.loc[one, ["median_step_s", "samples_per_s", "pct_of_ceiling"]] *= 1.5  # a chart drawn from other numbers
    planted = replace(analysis, cells=cells)
    for name in Y_OF:
        errors = drawing_errors(CHART_FUNCTIONS[name](planted, WIDTHS), analysis, name)
        assert len(errors) == 1 and errors[0].startswith("GPU:0, mode=per-call: drew"), errors
    fewer = replace(analysis, cells=analysis.cells.drop(index=one))  # a cell left off the chart
    errors = drawing_errors(CHART_FUNCTIONS["step_time"](fewer, WIDTHS), analysis, "step_time")
    assert len(errors) == 2 and errors[0].startswith("GPU:0, mode=per-call: drew"), errors
    assert errors[1] == f"{drawing_ok_count(analysis)} ok cells, {drawing_ok_count(analysis) - 1} on the lines"


def heatmap_errors(fig: Figure, analysis) -> list[str]:
    """Where the speedup heatmap's colours or printed numbers differ from the speedup table, square by square,
    each square read back through its row and column tick labels (empty: they agree)."""
    ax, table = fig.axes[0], analysis.speedup.table
    shown = np.ma.filled(ax.images[0].get_array().astype(float), np.nan)
    printed = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    rows = [t.get_text() for t in ax.get_yticklabels()]
    cols = [int(t.get_text()) for t in ax.get_xticklabels()]
    errors, seen = [], 0
    for i, label in enumerate(rows):
        widths, *more = label.split("\n")
        keep = (table["widths"] == widths) & table["batch_size"].isin(cols)
        for key, value in (part.split("=", 1) for part in more):
            keep &= table[key].astype(str) == value
        for j, batch in enumerate(cols):
            want = table.loc[keep & (table["batch_size"] == batch), "speedup"].to_numpy(dtype=float)
            got = shown[i, j]
            if len(want) != 1 or not np.isclose(got, want[0], rtol=1e-12) or printed[(i, j)] != f"{want[0]:.2f}×":
                errors.append(f"{widths} {more} b{batch}: drew {got} ({printed.get((i, j))}), table {want}")
            seen += len(want) == 1
    if seen != len(table):
        errors.append(f"{len(table)} speedups in the table, {seen} drawn")
    return errors


def test_the_speedup_heatmap_draws_the_speedup_table(analysis):
    assert heatmap_errors(charts.speedup_heatmap(analysis), analysis) == []
    table = analysis.speedup.table.copy()
    table.loc[table.index[0], "speedup"] *= 2  # planted: a heatmap of other numbers
    planted = replace(analysis, speedup=replace(analysis.speedup, table=table))
    assert len(heatmap_errors(charts.speedup_heatmap(planted), analysis)) == 1
