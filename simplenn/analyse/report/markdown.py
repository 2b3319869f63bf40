"""The report as Markdown, from an Analysis: the answer first, then the charts, the result tables (in display units)
and, after them, how and where the numbers were made (context_md), parity and warnings."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from simplenn.analyse.display import fmt, fmt_value, markdown_table, split_constant
from simplenn.analyse.report.answer import answer_markdown
from simplenn.analyse.report.analysis import Analysis
from simplenn.analyse.report.captions import CHARTS
from simplenn.analyse.report.context_md import (METHOD, ci_text, grid_section, grid_sentence, machines_section,
                                                method_text)
from simplenn.analyse.report.cross_machine import STEP_AT
from simplenn.analyse.report.frameworks_md import frameworks_section, impl_parity_text, parity_section
from simplenn.analyse.report.tables_md import cells_for_display, crossover_for_display, section_table, speedup_for_display
from simplenn.analyse.report.where_md import where_sections
from simplenn.store.completeness import partial_runs
from simplenn.store.runmeta import Drift, RunMeta

__all__ = ["METHOD", "absent_gpu_text", "cells_for_display", "cross_machine_table", "grid_sentence", "method_text",
           "render_markdown"]

def cross_machine_table(analysis: Analysis) -> str:
    """The cross-machine table as Markdown: one row per machine × device, step times in the report's unit."""
    t, unit = analysis.machines.table, analysis.step_unit
    speed = [f"{fmt(v)}× [{fmt(lo)}–{fmt(hi)}] at {at}" if not pd.isna(v) else "–"
             for v, lo, hi, at in zip(t["best_speedup"], t["best_speedup_ci_low"], t["best_speedup_ci_high"],
                                      t["best_speedup_at"])]
    peak = [f"{fmt(v)} ({kind})" if not pd.isna(v) else "–" for v, kind in zip(t["pct_of_peak"], t["peak_kind"])]
    return markdown_table(pd.DataFrame({
        "machine": t["machine"], "device": t["device"], "chip / CPU": t["chip"],
        "GPU cores": t["gpu_cores"].map(lambda v: "–" if pd.isna(v) else str(int(v))), "RAM GB": t["ram_gb"],
        "tensorflow": t["tensorflow"], "tensorflow-metal": t["tensorflow_metal"], "grid": t["grid"],
        **{f"step b{b} ({unit.name})": unit.of(t[f"step_b{b}_s"]) for b in STEP_AT},
        "best speedup [95 % CI]": speed, "crossover batch": t["crossover_batch"], "crossover": t["crossover"],
        "best GFLOP/s": t["best_gflop_per_s"], "% of GPU peak": peak,
    }))


def cross_machine_section(analysis: Analysis) -> str:
    """The machines side by side: what is compared and how, what was left out, then the table."""
    m = analysis.machines
    curve = ", ".join(f"{k} {fmt_value(v)}" for k, v in m.curve.items()) or "none shared"
    left_out = (f"**{m.n_left_out} cells measured ok by some runs only are left out**" if m.n_left_out
                else "none is left out")
    text = (f"Compared on the {m.n_shared} cells that every run measured ok; {left_out}. A machine is one run "
            "folder, named from its hardware fields (chip, GPU cores, CPU cores, RAM, OS, arch), not its label. Step "
            f"times (median per step) and the crossover are those of one curve: {curve}. ")
    if m.base_device:
        text += (f"Speedup = {m.base_device} median / {m.other_device} median step time (> 1: {m.other_device} "
                 "faster); best = the shared configuration with the highest CI lower bound. Crossover: the smallest "
                 f"measured batch size from which on {m.other_device} is faster at every larger size (CI lower "
                 "bound > 1). ")
    text += ("GFLOP/s = FLOPs per step (see Method) / median step time, best shared cell; % of GPU peak: of the chip's FP32 "
             "peak (GPU rows of known Apple chips only; published, derived or estimate: simplenn/system/peaks.py).")
    return text + "\n\n" + cross_machine_table(analysis)


def warnings_section(analysis: Analysis) -> str:
    """Everything a reader should distrust: unstable cells, hot machines, drift, failed cells, run warnings."""
    cells = analysis.cells
    lines = []
    for r in cells[cells["warnings"] != ""].itertuples(index=False):
        lines.append(f"- `{r.cell_id}` ({r.machine}): {r.warnings}")
    for r in cells[cells["status"] != "ok"].itertuples(index=False):
        lines.append(f"- `{r.cell_id}` ({r.machine}) is **{r.status}**: {r.reason or 'no reason recorded'}")
    for run, meta in analysis.runs.items():
        lines += [f"- `{run}`: {_drift_text(meta.drift)}"] if meta.drift else []
        lines += [f"- `{run}`: {w}" for w in meta.warnings]
    return "\n".join(lines) if lines else "None."


def _drift_text(drift: Drift) -> str:
    details = ", ".join(f"{k} = {fmt(v)}" for k, v in drift.figures().items())
    text = f"sentinel `{drift.cell}` drift: {details}"
    # The verdict is the one the run recorded (sweep.drift, against its DRIFT_WARN): not judged twice.
    if drift.warning:
        text += f" — **the machine drifted by {100 * (drift.ratio - 1):+.0f} % during the run**"
    return text


def charts_section(analysis: Analysis, out_dir: Path, chart_paths: Mapping[str, Path]) -> list[str]:
    """'## Charts': each chart with its axes, then the charts left out and why."""
    parts = ["## Charts"]
    for name, path in chart_paths.items():
        spec = CHARTS[name].in_unit(analysis.step_unit.name)
        link = Path(os.path.relpath(Path(path), out_dir)).as_posix()
        parts.append(f"### {spec.title}\n\n![{spec.title}]({link})\n\n_x: {spec.xlabel}; y: {spec.ylabel}_")
    left_out = analysis.charts_left_out
    if left_out:
        parts.append("Charts left out, with nothing to draw:\n\n" + "\n".join(
            f"- `{name}.png` ({CHARTS[name].title}): {reason}" for name, reason in left_out.items()))
    return parts if len(parts) > 1 else []


def speedup_section(analysis: Analysis) -> list[str]:
    """The crossover and speedup tables of two devices; with one device there is nothing to say (the answer says so)."""
    speed, cross, unit = analysis.speedup, analysis.crossover, analysis.step_unit
    if speed.base_device is None:
        return []
    if cross is None or cross.table.empty:
        return [f"## When does {speed.other_device} beat {speed.base_device}?", speed.note or "No comparison possible."]
    return [f"## When does {speed.other_device} beat {speed.base_device}?",
            f"Speedup = {speed.base_device} median / {speed.other_device} median (> 1: {speed.other_device} "
            "is faster). The crossover is the smallest measured batch size from which on "
            f"{speed.other_device} is faster at every larger size with the speedup CI's lower bound > 1; the "
            "fit is time = overhead + cost × batch per device (least squares on relative error).",
            section_table(crossover_for_display(cross.table, unit)),
            "### Speedup per batch size",
            section_table(speedup_for_display(speed.table, speed.base_device, speed.other_device, unit))]


def cells_section(analysis: Analysis) -> list[str]:
    """'## Per-cell results': the columns a reader needs; summary.csv holds every statistic of every cell."""
    table, constant = split_constant(cells_for_display(analysis.cells, analysis.step_unit), ["machine", "run"])
    return ["## Per-cell results",
            "Median step time over blocks with its 95 % CI (see CIs under Method); samples/s = batch / median; "
            "% of ceiling = GFLOP/s as a share of the device's measured matmul ceiling"
            + ("; % of GPU peak = of the chip's FP32 peak (published, derived or estimate: see Machines)"
               if "% of GPU peak" in table else "")
            + ". Status: ok or the failure, and the flags explained under [Warnings](#warnings). `summary.csv` "
            "beside this report has every cell's full statistics (IQR, MAD, min, mean, n blocks, precision "
            "reached, peak memory, trace time; seconds).",
            *ceiling_text(analysis.cells), markdown_table(table)]


def render_markdown(analysis: Analysis, out_dir: Path | str, chart_paths: Mapping[str, Path] | None = None) -> str:
    """The report as Markdown: the answer, the charts, the tables, then how and where it was measured, warnings."""
    out_dir, runs = Path(out_dir), analysis.runs
    warnings = warnings_section(analysis)
    parts = [
        "# simplenn-bench report",
        *(f"> **Partial data.** {note}." for note in partial_runs(analysis.results)),  # say what was read
        "## The answer", answer_markdown(analysis, sum(line.startswith("- ") for line in warnings.splitlines())),
        *charts_section(analysis, out_dir, chart_paths or {}),
        *(["## Machines side by side", cross_machine_section(analysis)] if len(runs) > 1 else []),
        *speedup_section(analysis),
        *cells_section(analysis),
    ]
    parts += where_sections(analysis)  # host dispatch vs device work; inside the step, when cells were profiled
    parts += frameworks_section(analysis)
    absent = absent_gpu_text(runs)
    parts += ["## Machines and versions", machines_section(analysis), *([absent] if absent else []),
              "## Grid", grid_section(analysis),
              "## Method", method_text(runs), ci_text(analysis)]
    parity, impl_parity = parity_section(runs), impl_parity_text(analysis.impl_parity)
    if parity or impl_parity:
        parts += ["## Parity", *([parity] if parity else []), *impl_parity]
    parts += ["## Warnings", warnings]
    return "\n\n".join(parts) + "\n"


def ceiling_text(cells: pd.DataFrame) -> list[str]:
    """A call-out for cells faster than their device's measured ceiling (never a silent > 100 %)."""
    above = cells[cells["beyond_ceiling"] | (cells["pct_of_ceiling"] > 100)]
    if above.empty:
        return []
    listing = ", ".join(f"`{r.cell_id}` {r.pct_of_ceiling:.0f} %"
                        + (" even at the slow end of the CI" if r.beyond_ceiling else " at the median")
                        for r in above.itertuples(index=False))
    many = len(above) != 1
    timed = "these cells' timings" if many else "this cell's timing"
    return [f"**{len(above)} cell{'s' if many else ''} above the measured matmul ceiling** ({listing}). A step cannot "
            "run faster than its fastest matmul, so pct_of_ceiling is no efficiency there: the run's ceiling probes "
            f"and {timed} do not agree, and the run should be measured again."]


def absent_gpu_text(runs: Mapping[str, RunMeta]) -> str:
    """Runs that measured no GPU, with the reason recorded when the run started (never a made-up GPU figure)."""
    lines = [f"- `{run}`: no GPU was measured — {meta.gpu_missing_reason}"
             for run, meta in runs.items() if meta.gpu_missing_reason]
    return "\n".join(lines)
