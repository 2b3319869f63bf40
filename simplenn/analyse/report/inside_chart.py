"""The inside-the-step chart: for each profiled cell, its traced step stacked by op class (share, %), one panel per
device, bars grouped by batch size (one per mode), drawn from an Analysis's profile table."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from simplenn.analyse.report.analysis import Analysis
from simplenn.analyse.report.captions import CHARTS
from simplenn.analyse.report.chartkit import FIGSIZE, empty_message, new_figure
from simplenn.analyse.report.inside_step import TRACE_AGREEMENT
from simplenn.store.opclasses import CLASSES, LABELS

# Families share a hue, so the matmuls read as one block and dispatch as another.
COLOURS = {"matmul_fwd": "#08519c", "matmul_wgrad": "#3182bd", "matmul_igrad": "#6baed6",
           "elementwise_fwd": "#31a354", "elementwise_bwd": "#74c476", "loss": "#fd8d3c", "update": "#9e9ac8",
           "copy": "#a6761d", "other_op": "#e7298a", "executor": "#636363", "host": "#969696", "idle": "#f0f0f0"}
MODE_ORDER = {"per-call": 0, "in-graph": 1}


def inside_step_chart(analysis: Analysis) -> Figure:
    """Stacked class shares of each profiled cell's traced step; above each bar, the unattributed share."""
    prof, inside = analysis.profile, analysis.inside
    devices = sorted(inside["device"].unique()) if not inside.empty else []
    fig, axes = new_figure(CHARTS["inside_step"], analysis.results, nrows=max(1, len(devices)),
                           detail="each bar: one traced cell, split by op class; number above: unattributed = "
                                  "(harness − traced) / harness step")
    fig.set_size_inches(FIGSIZE[0], FIGSIZE[1] * max(1, len(devices)) ** 0.6)
    if inside.empty:
        empty_message(axes[0], "no profiled cell (run with --profile)")
        return fig
    for ax, device in zip(axes, devices):
        _panel(ax, prof[prof["status"] == "ok"], inside[inside["device"] == device], device)
    handles = [Patch(facecolor=COLOURS[c], edgecolor="0.5", linewidth=0.4, label=LABELS[c]) for c in CLASSES]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(0.785, 0.5), fontsize=7.5, frameon=False)
    fig.subplots_adjust(top=0.82, bottom=0.12, left=0.08, right=0.775, hspace=0.6)
    fig.text(0.01, 0.01, f"Unattributed outside ±{100 * TRACE_AGREEMENT:.0f} % is marked ⚠: that trace does not "
             "stand for the benchmark's step. Shares of the traced step; the matmuls are fused with bias and ReLU.",
             fontsize=7.5, color="0.25")
    return fig


def _panel(ax, prof, cells, device: str) -> None:
    cells = cells.assign(order=cells["mode"].map(MODE_ORDER).fillna(9)).sort_values(["batch_size", "order", "run"])
    batches = sorted(cells["batch_size"].unique())
    per_batch = cells.groupby("batch_size").size()
    x_of, labels, ticks = [], [], []
    for b in batches:
        n = per_batch[b]
        base = batches.index(b)
        xs = base + (np.arange(n) - (n - 1) / 2) * (0.8 / max(n, 1))
        x_of.extend(xs)
        ticks.append(base)
        labels.append(str(b))
    width = 0.8 / max(per_batch.max(), 1) * 0.9
    for x, row in zip(x_of, cells.itertuples()):
        shares = prof[(prof["run"] == row.run) & (prof["cell_id"] == row.cell_id)].set_index("cls")["share"]
        bottom = 0.0
        for cls in CLASSES:
            value = 100 * float(shares.get(cls, 0.0))
            ax.bar(x, value, width, bottom=bottom, color=COLOURS[cls], edgecolor="0.5", linewidth=0.3)
            bottom += value
        mark = "" if row.agrees else " ⚠"
        ax.text(x, 101, f"{100 * row.unattributed_share:+.0f} %{mark}", ha="center", va="bottom", fontsize=6.5)
        ax.text(x, -3, row.mode, ha="center", va="top", fontsize=6.5, rotation=0, color="0.3")
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels)
    ax.tick_params(axis="x", pad=12)
    ax.set_ylim(0, 112)
    ax.set_xlim(-0.6, len(batches) - 0.4)
    ax.set_title(device, fontsize=10, loc="left")
    ax.grid(True, axis="y", alpha=0.3)
    ax.grid(False, axis="x")
