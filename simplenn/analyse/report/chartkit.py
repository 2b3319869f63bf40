"""Matplotlib building blocks of the report's charts: the figure frame, footnote, series, axes and saving.

Figures are built with `matplotlib.figure.Figure` directly (Agg canvas, no pyplot): no global state, no GUI
backend, nothing to close, safe in tests and worker processes.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from simplenn.core import files
from simplenn.core.dimensions import ONE_SERIES
from simplenn.analyse.report.captions import ChartSpec
from simplenn.store.results import Results

FIGSIZE = (10, 6)
DPI = 120


def versions_line(results: Results) -> str:
    """'label: chip, OS, TF x, metal y' per run: every chart says where its numbers come from."""
    df = results.table
    parts = []
    for run in dict.fromkeys(df["run"]):
        meta = results.meta(run)
        m, v = meta.machine, meta.versions
        label = m.get("label") or df.loc[df["run"] == run, "machine"].iloc[0]
        bits = [m.get("chip") or m.get("cpu_model"), " ".join(str(x) for x in (m.get("os"), m.get("os_version")) if x)]
        bits += [f"TF {v['tensorflow']}" if "tensorflow" in v else None,
                 f"metal {v['tensorflow-metal']}" if "tensorflow-metal" in v else None]
        parts.append(f"{label}: " + ", ".join(b for b in bits if b) if any(bits) else str(label))
    return " | ".join(dict.fromkeys(parts))


def new_figure(spec: ChartSpec, results: Results, detail: str = "", nrows: int = 1) -> tuple[Figure, list]:
    """A titled figure with `nrows` labelled axes and a subtitle naming the machines (and `detail`)."""
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    fig.suptitle(spec.title, fontsize=14, fontweight="bold")
    axes = [fig.add_subplot(nrows, 1, i + 1) for i in range(nrows)]
    subtitle = "\n".join(textwrap.wrap(versions_line(results), 120) + ([detail] if detail else []))
    fig.text(0.5, 0.915, subtitle, ha="center", va="top", fontsize=8, color="0.3")
    for ax in axes:
        ax.set_xlabel(spec.xlabel)
        ax.set_ylabel(spec.ylabel)
        ax.grid(True, which="both", alpha=0.3)
    return fig, axes


def footnote(fig: Figure, cells: pd.DataFrame, extra: str = "", left: float = 0.08, right: float = 0.97,
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


def default_widths(cells: pd.DataFrame) -> str:
    """The widths measured ok in the most cells (of all cells when none is ok): what a one-widths chart shows."""
    ok = cells[cells["status"] == "ok"] if "status" in cells else cells
    counts = (ok if not ok.empty else cells)["widths"].value_counts()
    return str(counts.index[0]) if len(counts) else ""


def series(cells: pd.DataFrame, keys: list[str] | None = None):
    """(label, rows sorted by batch size) per line (ONE_SERIES unless `keys`); labels name only the keys that vary."""
    keys = [k for k in (keys or ONE_SERIES) if k in cells]
    varying = [k for k in keys if cells[k].nunique() > 1 or k == "device"]
    if "run" in varying and cells.groupby("machine")["run"].nunique().max() <= 1:
        varying.remove("run")  # one run per machine: the machine name says it already
    for key, group in cells.groupby(keys, sort=True):
        values = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        label = ", ".join(f"{values[k]}" if k in ("machine", "device", "run") else f"{k}={values[k]}" for k in varying)
        yield label, group.sort_values("batch_size")


def batch_axis(ax, batches) -> None:
    """Log-2 x axis with a tick at every measured batch size."""
    ax.set_xscale("log", base=2)
    ticks = sorted(set(int(b) for b in batches))
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(t) for t in ticks])
    ax.minorticks_off()


def human(value: float) -> str:
    """0.2, 6, 600k, 2M: tick labels without scientific notation."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def plain_log_y(ax) -> None:
    """Log y axis labelled 0.2, 1, 600k rather than 2×10⁻¹; minor ticks labelled only on short ranges."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: human(v)))

    def minor(value: float, _pos) -> str:
        low, high = ax.get_ylim()
        short = high / max(low, 1e-300) < 30  # within ~1.5 decades the decade ticks alone say too little
        lead = round(value / 10 ** np.floor(np.log10(value)))
        return human(value) if short and lead in (2, 3, 5) else ""

    ax.yaxis.set_minor_formatter(ticker.FuncFormatter(minor))


def empty_message(ax, text: str) -> None:
    """Say in the middle of the axes why they are empty."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=12, color="0.3")


def save_figure(fig: Figure, path: Path) -> Path:
    """Save as PNG atomically (simplenn.core.files), so a half-written chart is never left behind."""
    # zlib level 1: a third of the encoding time of the default level 6, for files ~10 % larger.
    return files.save_figure(fig, path, dpi=DPI, pil_kwargs={"compress_level": 1})
