"""The report's charts, each drawn from an Analysis (its tables are computed once, elsewhere); nothing here measures."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from simplenn.core import files
from simplenn.core.dimensions import ACROSS_IMPLS, columns
from simplenn.analyse.report.analysis import Analysis
from simplenn.analyse.report.captions import CHARTS
from simplenn.analyse.report.chartkit import (batch_axis, default_widths, empty_message, footnote, human, new_figure,
                                      plain_log_y, save_figure, series)
from simplenn.analyse.report.cross_machine import on_curve
from simplenn.analyse.report.frameworks import label as impl_label
from simplenn.analyse.report.inside_chart import inside_step_chart
from simplenn.analyse.report.tables import n_weights_of, only_ok, widths_order


def _by_batch_chart(name: str, analysis: Analysis, widths: str | None, y_of, log_y: bool, band=None) -> Figure:
    cells = analysis.cells
    widths = widths or default_widths(cells)
    chosen = cells[cells["widths"] == widths]
    spec = CHARTS[name].in_unit(analysis.step_unit.name)
    fig, (ax,) = new_figure(spec, analysis.results, detail=f"widths {widths}")
    ok = only_ok(chosen, "median_step_s")
    for label, g in series(ok):
        (line,) = ax.plot(g["batch_size"], y_of(g), marker="o", label=label)
        if band is not None:
            low, high = band(g)
            ax.fill_between(g["batch_size"], low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    if ok.empty:
        empty_message(ax, "no ok cell to draw")
    else:
        batch_axis(ax, ok["batch_size"])
        ax.legend(fontsize=8)
    if log_y:
        plain_log_y(ax)
    footnote(fig, chosen)
    return fig


def step_time_chart(analysis: Analysis, widths: str | None = None) -> Figure:
    """Median step time vs batch size, log-log, one line per machine × device, IQR as a band."""
    unit = analysis.step_unit
    return _by_batch_chart("step_time", analysis, widths, lambda g: unit.of(g["median_step_s"]), log_y=True,
                           band=lambda g: (unit.of(g["q1_step_s"]), unit.of(g["q3_step_s"])))


def throughput_chart(analysis: Analysis, widths: str | None = None) -> Figure:
    """Samples per second (batch / median step time) vs batch size, log-log."""
    return _by_batch_chart(
        "throughput", analysis, widths, lambda g: g["samples_per_s"], log_y=True,
        band=lambda g: (g["batch_size"] / g["q3_step_s"], g["batch_size"] / g["q1_step_s"]),
    )


def efficiency_chart(analysis: Analysis, widths: str | None = None) -> Figure:
    """GFLOP/s as % of the device's measured matmul ceiling vs batch size."""
    fig = _by_batch_chart("efficiency", analysis, widths, lambda g: g["pct_of_ceiling"], log_y=False)
    fig.axes[0].set_ylim(bottom=0)
    return fig


def widths_chart(analysis: Analysis, batch_size: int | None = None) -> Figure:
    """Median step time (log) per network widths (ordered by weight count) at one batch size."""
    cells, unit = analysis.cells, analysis.step_unit
    ok_all = only_ok(cells, "median_step_s")
    if batch_size is None and not ok_all.empty:
        # The batch size measured for the most networks; ties go to the largest (least overhead-dominated).
        counts = ok_all.groupby("batch_size")["widths"].nunique()
        batch_size = int(counts[counts == counts.max()].index.max())
    chosen = cells[cells["batch_size"] == batch_size]
    fig, (ax,) = new_figure(CHARTS["widths"].in_unit(unit.name), analysis.results, detail=f"batch size {batch_size}")
    ok = only_ok(chosen, "median_step_s")
    order = widths_order(chosen["widths"])
    pos = {w: i for i, w in enumerate(order)}
    for label, g in series(ok):
        g = g.assign(_x=g["widths"].map(pos)).sort_values("_x")
        (line,) = ax.plot(g["_x"], unit.of(g["median_step_s"]), marker="o", label=label)
        ax.fill_between(g["_x"], unit.of(g["q1_step_s"]), unit.of(g["q3_step_s"]), color=line.get_color(), alpha=0.2)
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels(order, rotation=20, ha="right", fontsize=8)
    if ok.empty:
        empty_message(ax, "no ok cell to draw")
    else:
        plain_log_y(ax)
        ax.legend(fontsize=8)
    footnote(fig, chosen, min_bottom=0.2)  # room for the slanted widths labels
    return fig


def speedup_heatmap(analysis: Analysis) -> Figure:
    """Speedup (base / other median) over batch size × widths, one panel per machine, crossover boxed."""
    cells, speed = analysis.cells, analysis.speedup
    table = speed.table
    panels = list(dict.fromkeys(table["run"])) if not table.empty else [None]
    fig, axes = new_figure(CHARTS["speedup"], analysis.results, nrows=len(panels),
                           detail=f"speedup = {speed.base_device} / {speed.other_device} median step time; "
                                  f"> 1 (blue): {speed.other_device} faster" if speed.base_device else "")
    if table.empty or analysis.crossover is None:
        empty_message(axes[0], speed.note)
        footnote(fig, cells)
        return fig
    cross = analysis.crossover.table
    vmin, vmax = min(table["speedup"].min(), 0.99), max(table["speedup"].max(), 1.01)
    norm = TwoSlopeNorm(vmin=vmin, vcenter=1.0, vmax=vmax)
    image = None
    for ax, run in zip(axes, panels):
        image = _heatmap_panel(ax, table[table["run"] == run], cross[cross["run"] == run], norm)
        machine = table.loc[table["run"] == run, "machine"].iloc[0]
        ax.set_title(machine if len(panels) == 1 else f"{machine} ({run})", fontsize=9)
    # Margins first: a colorbar placed before subplots_adjust would end up on top of the panel.
    footnote(fig, cells, left=0.17, right=0.88,
             extra="Black box: crossover, the smallest batch size from which on "
             f"{speed.other_device} is faster at every larger size (speedup CI lower bound > 1).")
    fig.colorbar(image, ax=axes, fraction=0.05, pad=0.02,
                 label=f"speedup ({speed.base_device} time / {speed.other_device} time, ×)")
    return fig


def _row_labels(table: pd.DataFrame, keys: list[str], varying: list[str]) -> list[str]:
    # The widths, then each other key that varies: one heatmap row per configuration.
    return ["\n".join([str(r[0]), *(f"{k}={v}" for k, v in zip(keys[1:], r[1:]) if k in varying)])
            for r in table[keys].itertuples(index=False)]


def _heatmap_panel(ax, table: pd.DataFrame, cross: pd.DataFrame, norm):
    row_keys = ["widths", *columns(without=("device", "batch_size", "widths"), runs=False)]  # one curve, network first
    varying = [k for k in row_keys if table[k].nunique() > 1]
    table = table.assign(row_label=_row_labels(table, row_keys, varying))
    cross = cross.assign(row_label=_row_labels(cross, row_keys, varying))
    rows = sorted(table["row_label"].unique(), key=lambda r: (n_weights_of(r.split()[0]), r))
    cols = sorted(table["batch_size"].unique())
    grid = table.pivot_table(index="row_label", columns="batch_size", values="speedup").reindex(index=rows, columns=cols)
    image = ax.imshow(grid.to_numpy(dtype=float), cmap="RdBu", norm=norm, aspect="auto", origin="lower")
    for (i, j), value in np.ndenumerate(grid.to_numpy(dtype=float)):
        text = "n/a" if np.isnan(value) else f"{value:.2f}×"
        dark = not np.isnan(value) and abs(norm(value) - 0.5) > 0.3
        ax.text(j, i, text, ha="center", va="center", fontsize=8 if len(cols) <= 10 else 6,
                color="white" if dark else "black")
    for r in cross.itertuples(index=False):
        if r.row_label in rows and not pd.isna(r.crossover_batch) and r.crossover_batch in cols:
            i, j = rows.index(r.row_label), cols.index(r.crossover_batch)
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2.5))
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels([str(c) for c in cols], fontsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=8)
    ax.grid(False)
    return image


def time_split_chart(analysis: Analysis, widths: str | None = None) -> Figure:
    """Per batch size, the per-call step split into device work (in-graph time) and host dispatch, in %."""
    cells, host = analysis.cells, analysis.host
    widths = widths or (default_widths(host) if not host.empty else default_widths(cells))
    host = host[host["widths"] == widths]
    fig, (ax,) = new_figure(CHARTS["time_split"], analysis.results,
                            detail=f"widths {widths}; host = per-call − in-graph median per step")
    if host.empty:
        empty_message(ax, "needs both modes (per-call and in-graph) measured ok")
        footnote(fig, cells[cells["widths"] == widths])
        return fig
    host = host.assign(status="ok")
    unit = analysis.step_unit
    batches = sorted(host["batch_size"].unique())
    lines = list(series(host))  # ONE_SERIES; the host table has no mode column
    width = 0.8 / len(lines)
    for k, (label, g) in enumerate(lines):
        x = np.array([batches.index(b) for b in g["batch_size"]]) - 0.4 + width * (k + 0.5)
        device = (100 - g["host_share_pct"]).clip(lower=0)
        hostpart = g["host_share_pct"].clip(lower=0)
        ax.bar(x, device, width * 0.95, label=f"{label}: device work", color=f"C{k}", alpha=0.9)
        ax.bar(x, hostpart, width * 0.95, bottom=device, label=f"{label}: host dispatch", color=f"C{k}",
               alpha=0.35, hatch="//")
        for xi, t in zip(x, unit.of(g["per_call_step_s"])):
            ax.text(xi, 101, f"{t:.3g} {unit.name}", ha="center", va="bottom", fontsize=6.5, rotation=90)
    ax.set_xticks(range(len(batches)))
    ax.set_xticklabels([str(b) for b in batches])
    ax.set_ylim(0, 118)
    # Outside the axes: every bar reaches 100 %, so no corner inside is free.
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    footnote(fig, cells[cells["widths"] == widths], extra="Numbers above the bars: per-call median step time.",
             right=0.78)
    return fig


def machines_chart(analysis: Analysis) -> Figure:
    """Speedup vs batch size on the cross-machine table's curve, one line per machine, its 95 % CI as a band."""
    m = analysis.machines
    curve = " ".join(str(v) for k, v in m.curve.items() if k != "jit") + (" XLA" if m.curve.get("jit") else "")
    fig, (ax,) = new_figure(CHARTS["machines"], analysis.results,
                            detail=f"{m.base_device} / {m.other_device} median step time (> 1: {m.other_device} "
                                   f"faster); {curve}; {m.n_shared} cells shared by every run")
    for name, g in m.curves.groupby("machine", sort=True):
        (line,) = ax.plot(g["batch_size"], g["speedup"], marker="o", label=name)
        ax.fill_between(g["batch_size"], g["speedup_ci_low"], g["speedup_ci_high"], color=line.get_color(),
                        alpha=0.2, linewidth=0)
    ax.axhline(1.0, color="0.3", linestyle="--", linewidth=1)
    batch_axis(ax, m.curves["batch_size"])
    plain_log_y(ax)
    ax.legend(fontsize=8)
    left_out = f"{m.n_left_out} cells measured ok by some runs only are left out." if m.n_left_out else ""
    footnote(fig, on_curve(analysis.cells, m.curve), extra=left_out)
    return fig


def frameworks_chart(analysis: Analysis) -> Figure:
    """Per device and batch size, one row per implementation and mode: median step time (log) with its 95 % CI,
    labelled with the speedup over TF scratch per-call; each panel names its fastest, or no clear winner."""
    fw, unit = analysis.frameworks, analysis.step_unit
    spec = CHARTS["frameworks"].in_unit(unit.name)
    fig, _ = new_figure(spec, analysis.results, nrows=0, detail="label: speedup over TF scratch per-call "
                        "(×, > 1: faster); ● per-call, □ in-graph (K steps in one compiled call)")
    if fw.empty:
        empty_message(fig.add_subplot(1, 1, 1), fw.note)
        return fig
    row_keys = [k for k in ACROSS_IMPLS if k != "batch_size"]
    rows = list(dict.fromkeys(fw.winners[row_keys].itertuples(index=False, name=None)))
    batches = sorted(fw.winners["batch_size"].unique())
    fig.set_size_inches(max(10.0, 5.0 * len(batches)), max(6.0, 3.2 * len(rows) + 2.6))
    impls = list(dict.fromkeys(fw.table["impl"]))
    row_of = fw.table[row_keys].apply(tuple, axis=1)
    for (r, key), (c, batch) in ((rk, bc) for rk in enumerate(rows) for bc in enumerate(batches)):
        chosen = fw.table[(row_of == key) & (fw.table["batch_size"] == batch)]
        if chosen.empty:
            continue
        winner = fw.winners[(fw.winners[row_keys].apply(tuple, axis=1) == key) & (fw.winners["batch_size"] == batch)]
        ax = fig.add_subplot(len(rows), len(batches), r * len(batches) + c + 1)
        _frameworks_panel(ax, chosen, unit, impls)
        where = dict(zip(row_keys, key))
        ax.set_title(f"{where['device']}, batch {batch}" + (f" ({where['run']})" if len(rows) > 1 else "")
                     + "\n" + textwrap.fill(f"fastest: {winner['winner'].iloc[0]}", 50), fontsize=9)
        ax.set_xlabel(spec.xlabel, fontsize=8)
    # Unsupported rows say so in their panel; the footnote lists what failed (crashed, timeout, …).
    shown = analysis.cells[analysis.cells["impl"].isin(impls) & (analysis.cells["status"] != "unsupported")]
    footnote(fig, shown, left=0.16, min_bottom=0.12,
             extra="Step time with its 95 % CI: over round medians with ≥ 2 rounds, else within-process (one round). "
                   "The fastest is named only when the CI of runner-up / fastest lies above 1.")
    fig.subplots_adjust(top=0.72, hspace=0.6, wspace=0.55)
    return fig


def _frameworks_panel(ax, cell: pd.DataFrame, unit, impls: list[str]) -> None:
    y = np.arange(len(cell))[::-1]
    median, low, high = (unit.of(cell[c]).to_numpy(dtype=float) for c in ("median_step_s", "ci_low_s", "ci_high_s"))
    for yi, r, m, lo, hi in zip(y, cell.itertuples(index=False), median, low, high):
        if np.isnan(m):
            continue
        color, in_graph = f"C{impls.index(r.impl) % 10}", r.mode == "in-graph"
        ax.errorbar([m], [yi], xerr=[[m - lo], [hi - m]], fmt="s" if in_graph else "o", color=color, capsize=3,
                    markersize=7, markerfacecolor="white" if in_graph else color)
    ok = ~np.isnan(median)
    left = float(np.min(low[ok])) if ok.any() else 1.0  # where a row without a time says why
    for yi, r, end in zip(y, cell.itertuples(index=False), np.where(np.isnan(high), median, high)):
        digits = 2 if np.isnan(r.speedup) or r.speedup >= 0.1 else 3  # 0.031×, not 0.03×
        text = f"{r.speedup:.{digits}f}×" if not np.isnan(r.speedup) else ("" if r.status == "ok" else r.status)
        ax.text(end if not np.isnan(end) else left, yi, f"  {text}", va="center", fontsize=7.5,
                color="0.2" if r.status == "ok" else "0.45")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: human(v)))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    if ok.any():  # room on the right for the labels
        ax.set_xlim(left / 1.5, float(np.nanmax(high)) * 4)
    ax.set_ylim(-0.7, len(cell) - 0.3)
    ax.set_yticks(y)
    ax.set_yticklabels([impl_label(i, m) for i, m in zip(cell["impl"], cell["mode"])], fontsize=8)
    ax.grid(True, axis="x", which="both", alpha=0.3)


BUILDERS = {"step_time": step_time_chart, "throughput": throughput_chart, "speedup": speedup_heatmap,
            "efficiency": efficiency_chart, "widths": widths_chart, "time_split": time_split_chart,
            "inside_step": inside_step_chart, "machines": machines_chart, "frameworks": frameworks_chart}


def save_all(analysis: Analysis, out_dir: Path | str) -> dict[str, Path]:
    """Write every chart the data can fill as out_dir/<name>.png; return {name: path} in report order."""
    out_dir = files.ensure_dir(out_dir, "out_dir")
    return {name: save_figure(BUILDERS[name](analysis), out_dir / f"{name}.png") for name in analysis.chart_names}
