"""Charts: each function returns a Figure whose title and axis labels are the ones the report prints."""
from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure

from simplenn.analyse.report import analyse, charts
from simplenn.analyse.report.captions import CHARTS
from simplenn.analyse.report.markdown import render_markdown
from simplenn.store.results import load
from test_report import SMALL, write_run


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
    texts = " ".join(t.get_text() for t in fig.texts)
    assert "TF 2.18.0" in texts and "metal 1.2.0" in texts  # machine and versions in the subtitle
    assert tuple(fig.get_size_inches()) == (10, 6) and fig.dpi == 120
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


def test_save_all_writes_pngs(analysis, tmp_path):
    paths = charts.save_all(analysis, tmp_path)
    assert list(paths) == ["step_time", "throughput", "speedup", "efficiency", "widths", "time_split",
                           "machines"]
    for path in paths.values():
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp*"))
