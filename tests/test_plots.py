"""Charts: each function returns a Figure whose title and axis labels are the ones the report prints."""
from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure

from simplenn import plots, report
from simplenn.results import load
from test_report import SMALL, write_run


@pytest.fixture(scope="module")
def df(tmp_path_factory):
    return load(write_run(tmp_path_factory.mktemp("runs") / "m2pro-run"))


CHART_FUNCTIONS = {
    "step_time": plots.step_time_chart, "throughput": plots.throughput_chart, "speedup": plots.speedup_heatmap,
    "efficiency": plots.efficiency_chart, "widths": plots.widths_chart, "time_split": plots.time_split_chart,
}


@pytest.mark.parametrize("name", sorted(CHART_FUNCTIONS))
def test_chart_title_and_axes_match_the_report(name, df, tmp_path):
    fig = CHART_FUNCTIONS[name](df)
    spec = plots.CHARTS[name]
    assert isinstance(fig, Figure)
    assert fig.get_suptitle() == spec.title
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == (spec.xlabel, spec.ylabel)
    assert "(" in spec.xlabel and "(" in spec.ylabel  # every axis says its unit
    texts = " ".join(t.get_text() for t in fig.texts)
    assert "TF 2.18.0" in texts and "metal 1.2.0" in texts  # machine and versions in the subtitle
    assert tuple(fig.get_size_inches()) == (10, 6) and fig.dpi == 120
    md = report.render_markdown(df, tmp_path, {name: tmp_path / f"{name}.png"})
    assert f"### {spec.title}" in md and f"_x: {spec.xlabel}; y: {spec.ylabel}_" in md


def test_step_time_is_log_log_with_a_line_per_device_and_mode(df):
    ax = plots.step_time_chart(df).axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = sorted(line.get_label() for line in ax.get_lines())
    assert labels == ["CPU:0, mode=in-graph", "CPU:0, mode=per-call", "GPU:0, mode=in-graph", "GPU:0, mode=per-call"]
    gpu = next(line for line in ax.get_lines() if line.get_label() == "GPU:0, mode=per-call")
    assert 4096 not in gpu.get_xdata()  # the oom cell is left out of the line …


def test_non_ok_cells_are_listed_under_the_chart(df):
    fig = plots.step_time_chart(df)
    assert any("gpu-b4096-w100x30: oom" in t.get_text() for t in fig.texts)  # … and named below it


def test_speedup_heatmap_marks_the_crossover(df):
    fig = plots.speedup_heatmap(df)
    ax = fig.axes[0]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    cols = [int(t.get_text()) for t in ax.get_xticklabels()]
    boxes = [(round(p.get_x() + 0.5), round(p.get_y() + 0.5)) for p in ax.patches]
    small_per_call = rows.index("784x100x30x10\nmode=per-call")
    assert (cols.index(256), small_per_call) in boxes


def test_single_device_heatmap_says_so(tmp_path):
    one = load(write_run(tmp_path / "cpu", devices=("CPU:0",), widths_list=(SMALL,), modes=("per-call",)))
    fig = plots.speedup_heatmap(one)
    assert any("Only one device" in t.get_text() for t in fig.axes[0].texts)
    assert "speedup" not in plots.available_charts(one) and "time_split" not in plots.available_charts(one)


def test_save_all_writes_pngs(df, tmp_path):
    paths = plots.save_all(df, tmp_path)
    assert list(paths) == ["step_time", "throughput", "speedup", "efficiency", "widths", "time_split"]
    for path in paths.values():
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp*"))
