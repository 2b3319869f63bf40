"""Charts from the tidy results DataFrame. Each function returns a matplotlib Figure; nothing here measures.

Figures are built with `matplotlib.figure.Figure` directly (Agg canvas, no pyplot): no global state, no GUI
backend, nothing to close, safe in tests and worker processes.
"""
from __future__ import annotations

import os
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib import ticker
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from simplenn import report

FIGSIZE = (10, 6)
DPI = 120
# Lines are told apart by these keys; only the ones that vary are written in the legend.
SERIES_KEYS = ["machine", "run", "device", "impl", "mode", "loss", "dtype", "jit"]


@dataclass(frozen=True)
class ChartSpec:
    """Title and axis labels of one chart: the report's captions are read from here, so they always agree."""

    title: str
    xlabel: str
    ylabel: str


CHARTS: dict[str, ChartSpec] = {
    "step_time": ChartSpec("Training step time vs batch size", "batch size (samples)", "median step time (ms)"),
    "throughput": ChartSpec("Throughput vs batch size", "batch size (samples)", "throughput (samples/s)"),
    "speedup": ChartSpec("Speedup over batch size and network widths", "batch size (samples)",
                         "network widths (layer sizes)"),
    "efficiency": ChartSpec("Efficiency: share of the measured matmul ceiling", "batch size (samples)",
                            "efficiency (% of the device's measured matmul GFLOP/s)"),
    "widths": ChartSpec("Step time vs network widths at a fixed batch size",
                        "network widths (layer sizes, by weight count)", "median step time (ms)"),
    "time_split": ChartSpec("Where the time goes: host dispatch vs device work", "batch size (samples)",
                            "share of the per-call step time (%)"),
}


# ------------------------------------------------------------------------------------------- helpers


def _versions_line(df: pd.DataFrame) -> str:
    """'label: chip, OS, TF x, metal y' per run: every chart says where its numbers come from."""
    meta = report.meta_of(df)
    parts = []
    for run in dict.fromkeys(df["run"]):
        m = (meta.get(run) or {}).get("machine") or {}
        label = m.get("label") or df.loc[df["run"] == run, "machine"].iloc[0]
        v = report.machine_versions(m)
        bits = [m.get("chip") or m.get("cpu_model"), " ".join(str(x) for x in (m.get("os"), m.get("os_version")) if x)]
        bits += [f"TF {v['tensorflow']}" if "tensorflow" in v else None,
                 f"metal {v['tensorflow-metal']}" if "tensorflow-metal" in v else None]
        parts.append(f"{label}: " + ", ".join(b for b in bits if b) if any(bits) else str(label))
    return " | ".join(dict.fromkeys(parts))


def _figure(name: str, df: pd.DataFrame, detail: str = "", nrows: int = 1) -> tuple[Figure, list]:
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    spec = CHARTS[name]
    fig.suptitle(spec.title, fontsize=14, fontweight="bold")
    axes = [fig.add_subplot(nrows, 1, i + 1) for i in range(nrows)]
    subtitle = "\n".join(textwrap.wrap(_versions_line(df), 120) + ([detail] if detail else []))
    fig.text(0.5, 0.915, subtitle, ha="center", va="top", fontsize=8, color="0.3")
    for ax in axes:
        ax.set_xlabel(spec.xlabel)
        ax.set_ylabel(spec.ylabel)
        ax.grid(True, which="both", alpha=0.3)
    return fig, axes


def _footnote(fig: Figure, cells: pd.DataFrame, extra: str = "", left: float = 0.08, right: float = 0.97,
              min_bottom: float = 0.1) -> None:
    """List the non-ok cells under the chart: they are left out of the lines, and the reader should know."""
    bad = cells[cells["status"] != "ok"]
    lines = [extra] if extra else []
    if not bad.empty:
        items = [f"{r.cell_id}: {r.status}" + (f" ({r.reason[:60]})" if r.reason else "")
                 for r in bad.itertuples(index=False)]
        shown = items[:6] + ([f"… and {len(items) - 6} more"] if len(items) > 6 else [])
        lines.append("Left out (not ok): " + "; ".join(shown))
    text = "\n".join(textwrap.fill(line, 150) for line in lines)
    bottom = min_bottom + 0.03 * text.count("\n") + (0.04 if text else 0)
    fig.subplots_adjust(top=0.82, bottom=min(bottom, 0.4), left=left, right=right, hspace=0.45)
    if text:
        fig.text(0.01, 0.01, text, ha="left", va="bottom", fontsize=7.5, color="0.25")


def _default_widths(cells: pd.DataFrame) -> str:
    ok = cells[cells["status"] == "ok"] if "status" in cells else cells
    counts = (ok if not ok.empty else cells)["widths"].value_counts()
    return str(counts.index[0]) if len(counts) else ""


def _series(cells: pd.DataFrame, keys: list[str] | None = None):
    """(label, rows sorted by batch size) per line; labels name only the keys that vary."""
    keys = [k for k in (keys or SERIES_KEYS) if k in cells]
    varying = [k for k in keys if cells[k].nunique() > 1 or k == "device"]
    if "run" in varying and cells.groupby("machine")["run"].nunique().max() <= 1:
        varying.remove("run")  # one run per machine: the machine name says it already
    for key, group in cells.groupby(keys, sort=True):
        values = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        label = ", ".join(f"{values[k]}" if k in ("machine", "device", "run") else f"{k}={values[k]}" for k in varying)
        yield label, group.sort_values("batch_size")


def _batch_axis(ax, batches) -> None:
    ax.set_xscale("log", base=2)
    ticks = sorted(set(int(b) for b in batches))
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(t) for t in ticks])
    ax.minorticks_off()


def _human(value: float) -> str:
    """0.2, 6, 600k, 2M: tick labels without scientific notation."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def _plain_log_y(ax) -> None:
    """Log y axis labelled 0.2, 1, 600k rather than 2×10⁻¹; minor ticks labelled only on short ranges."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: _human(v)))

    def minor(value: float, _pos) -> str:
        low, high = ax.get_ylim()
        short = high / max(low, 1e-300) < 30  # within ~1.5 decades the decade ticks alone say too little
        lead = round(value / 10 ** np.floor(np.log10(value)))
        return _human(value) if short and lead in (2, 3, 5) else ""

    ax.yaxis.set_minor_formatter(ticker.FuncFormatter(minor))


def _ok(cells: pd.DataFrame) -> pd.DataFrame:
    return cells[(cells["status"] == "ok") & cells["median_step_s"].notna()]


def _empty_message(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=12, color="0.3")


def _by_batch_chart(name: str, df: pd.DataFrame, widths: str | None, y_of, log_y: bool, band=None,
                    cells: pd.DataFrame | None = None) -> Figure:
    cells = report.cell_table(df) if cells is None else cells
    widths = widths or _default_widths(cells)
    chosen = cells[cells["widths"] == widths]
    fig, (ax,) = _figure(name, df, detail=f"widths {widths}")
    ok = _ok(chosen)
    for label, g in _series(ok):
        (line,) = ax.plot(g["batch_size"], y_of(g), marker="o", label=label)
        if band is not None:
            low, high = band(g)
            ax.fill_between(g["batch_size"], low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    if ok.empty:
        _empty_message(ax, "no ok cell to draw")
    else:
        _batch_axis(ax, ok["batch_size"])
        ax.legend(fontsize=8)
    if log_y:
        _plain_log_y(ax)
    _footnote(fig, chosen)
    return fig


# -------------------------------------------------------------------------------------------- charts


def step_time_chart(df: pd.DataFrame, widths: str | None = None, cells: pd.DataFrame | None = None) -> Figure:
    """Median step time (ms) vs batch size, log-log, one line per machine × device, IQR as a band."""
    return _by_batch_chart(
        "step_time", df, widths, lambda g: g["median_step_s"] * 1e3, log_y=True,
        band=lambda g: (g["q1_step_s"] * 1e3, g["q3_step_s"] * 1e3), cells=cells,
    )


def throughput_chart(df: pd.DataFrame, widths: str | None = None, cells: pd.DataFrame | None = None) -> Figure:
    """Samples per second (batch / median step time) vs batch size, log-log."""
    return _by_batch_chart(
        "throughput", df, widths, lambda g: g["samples_per_s"], log_y=True,
        band=lambda g: (g["batch_size"] / g["q3_step_s"], g["batch_size"] / g["q1_step_s"]), cells=cells,
    )


def efficiency_chart(df: pd.DataFrame, widths: str | None = None, cells: pd.DataFrame | None = None) -> Figure:
    """GFLOP/s as % of the device's measured matmul ceiling vs batch size."""
    fig = _by_batch_chart("efficiency", df, widths, lambda g: g["pct_of_ceiling"], log_y=False, cells=cells)
    fig.axes[0].set_ylim(bottom=0)
    return fig


def widths_chart(df: pd.DataFrame, batch_size: int | None = None, cells: pd.DataFrame | None = None) -> Figure:
    """Median step time (ms, log) per network widths (ordered by weight count) at one batch size."""
    cells = report.cell_table(df) if cells is None else cells
    ok_all = _ok(cells)
    if batch_size is None and not ok_all.empty:
        # The batch size measured for the most networks; ties go to the largest (least overhead-dominated).
        counts = ok_all.groupby("batch_size")["widths"].nunique()
        batch_size = int(counts[counts == counts.max()].index.max())
    chosen = cells[cells["batch_size"] == batch_size]
    fig, (ax,) = _figure("widths", df, detail=f"batch size {batch_size}")
    ok = _ok(chosen)
    order = report.widths_order(chosen["widths"])
    pos = {w: i for i, w in enumerate(order)}
    for label, g in _series(ok):
        g = g.assign(_x=g["widths"].map(pos)).sort_values("_x")
        (line,) = ax.plot(g["_x"], g["median_step_s"] * 1e3, marker="o", label=label)
        ax.fill_between(g["_x"], g["q1_step_s"] * 1e3, g["q3_step_s"] * 1e3, color=line.get_color(), alpha=0.2)
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels(order, rotation=20, ha="right", fontsize=8)
    if ok.empty:
        _empty_message(ax, "no ok cell to draw")
    else:
        _plain_log_y(ax)
        ax.legend(fontsize=8)
    _footnote(fig, chosen, min_bottom=0.2)  # room for the slanted widths labels
    return fig


def speedup_heatmap(
    df: pd.DataFrame, base_device: str | None = None, other_device: str | None = None, seed: int = 0,
    cells: pd.DataFrame | None = None,
) -> Figure:
    """Speedup (base / other median) over batch size × widths, one panel per machine, crossover boxed."""
    cells = report.cell_table(df) if cells is None else cells
    speed = report.speedup_table(df, base_device, other_device, seed=seed)
    table = speed.table
    panels = list(dict.fromkeys(table["run"])) if not table.empty else [None]
    fig, axes = _figure("speedup", df, nrows=len(panels),
                        detail=f"speedup = {speed.base_device} / {speed.other_device} median step time; "
                               f"> 1 (blue): {speed.other_device} faster" if speed.base_device else "")
    if table.empty:
        _empty_message(axes[0], speed.note)
        _footnote(fig, cells)
        return fig
    cross = report.crossover(df, cells=cells, speedup=speed).table
    vmin, vmax = min(table["speedup"].min(), 0.99), max(table["speedup"].max(), 1.01)
    norm = TwoSlopeNorm(vmin=vmin, vcenter=1.0, vmax=vmax)
    image = None
    for ax, run in zip(axes, panels):
        image = _heatmap_panel(ax, table[table["run"] == run], cross[cross["run"] == run], norm)
        machine = table.loc[table["run"] == run, "machine"].iloc[0]
        ax.set_title(machine if len(panels) == 1 else f"{machine} ({run})", fontsize=9)
    # Margins first: a colorbar placed before subplots_adjust would end up on top of the panel.
    _footnote(fig, cells, left=0.17, right=0.88,
              extra="Black box: crossover, the smallest batch size from which on "
              f"{speed.other_device} is faster at every larger size (speedup CI lower bound > 1).")
    fig.colorbar(image, ax=axes, fraction=0.05, pad=0.02,
                 label=f"speedup ({speed.base_device} time / {speed.other_device} time, ×)")
    return fig


def _row_label(keys: dict, varying: list[str]) -> str:
    extra = [f"{k}={keys[k]}" for k in varying if k != "widths"]
    return "\n".join([str(keys["widths"]), *extra])


def _heatmap_panel(ax, table: pd.DataFrame, cross: pd.DataFrame, norm):
    row_keys = ["widths", "impl", "mode", "loss", "dtype", "jit"]
    varying = [k for k in row_keys if table[k].nunique() > 1]
    table = table.assign(row_label=[_row_label(dict(zip(row_keys, r)), varying)
                               for r in table[row_keys].itertuples(index=False)])
    cross = cross.assign(row_label=[_row_label(dict(zip(row_keys, r)), varying)
                               for r in cross[row_keys].itertuples(index=False)])
    rows = sorted(table["row_label"].unique(), key=lambda r: (report.n_weights_of(r.split()[0]), r))
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


def time_split_chart(df: pd.DataFrame, widths: str | None = None, cells: pd.DataFrame | None = None) -> Figure:
    """Per batch size, the per-call step split into device work (in-graph time) and host dispatch, in %."""
    cells = report.cell_table(df) if cells is None else cells
    host = report.host_overhead_table(df, cells)
    widths = widths or (_default_widths(host) if not host.empty else _default_widths(cells))
    host = host[host["widths"] == widths]
    fig, (ax,) = _figure("time_split", df, detail=f"widths {widths}; host = per-call − in-graph median per step")
    if host.empty:
        _empty_message(ax, "needs both modes (per-call and in-graph) measured ok")
        _footnote(fig, cells[cells["widths"] == widths])
        return fig
    host = host.assign(status="ok")
    batches = sorted(host["batch_size"].unique())
    series = list(_series(host, ["machine", "run", "device", "impl", "loss", "dtype", "jit"]))
    width = 0.8 / len(series)
    for k, (label, g) in enumerate(series):
        x = np.array([batches.index(b) for b in g["batch_size"]]) - 0.4 + width * (k + 0.5)
        device = (100 - g["host_share_pct"]).clip(lower=0)
        hostpart = g["host_share_pct"].clip(lower=0)
        ax.bar(x, device, width * 0.95, label=f"{label}: device work", color=f"C{k}", alpha=0.9)
        ax.bar(x, hostpart, width * 0.95, bottom=device, label=f"{label}: host dispatch", color=f"C{k}",
               alpha=0.35, hatch="//")
        for xi, ms in zip(x, g["per_call_step_s"] * 1e3):
            ax.text(xi, 101, f"{ms:.3g} ms", ha="center", va="bottom", fontsize=6.5, rotation=90)
    ax.set_xticks(range(len(batches)))
    ax.set_xticklabels([str(b) for b in batches])
    ax.set_ylim(0, 118)
    # Outside the axes: every bar reaches 100 %, so no corner inside is free.
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _footnote(fig, cells[cells["widths"] == widths], extra="Numbers above the bars: per-call median step time.",
              right=0.78)
    return fig


# -------------------------------------------------------------------------------------------- saving


def available_charts(df: pd.DataFrame, cells: pd.DataFrame | None = None) -> list[str]:
    """Names of the charts this data can fill: the speedup needs two devices, the split needs both modes."""
    names = ["step_time", "throughput", "efficiency", "widths"]
    if report.default_pair(df) is not None:
        names.insert(2, "speedup")
    if not report.host_overhead_table(df, cells).empty:
        names.append("time_split")
    return names


def make_chart(name: str, df: pd.DataFrame, seed: int = 0, cells: pd.DataFrame | None = None) -> Figure:
    """The named chart (a key of CHARTS); `cells` = cell_table(df) when already computed."""
    builders = {
        "step_time": step_time_chart, "throughput": throughput_chart, "efficiency": efficiency_chart,
        "widths": widths_chart, "time_split": time_split_chart,
        "speedup": lambda d, cells: speedup_heatmap(d, seed=seed, cells=cells),
    }
    return builders[name](df, cells=cells)


def save_figure(fig: Figure, path: Path) -> Path:
    """Save as PNG through a temporary file and os.replace, so a half-written chart is never left behind."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=DPI, format="png")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_all(df: pd.DataFrame, out_dir: Path | str, seed: int = 0,
             cells: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write every chart the data can fill as out_dir/<name>.png; return {name: path} in report order."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cells = report.cell_table(df) if cells is None else cells  # once for all charts
    return {name: save_figure(make_chart(name, df, seed=seed, cells=cells), out_dir / f"{name}.png")
            for name in available_charts(df, cells)}

