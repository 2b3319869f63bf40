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
from simplenn.analyse.report.tables import CURVE_KEYS, PAIR_KEYS, is_nominal
from simplenn.analyse.report.where_md import where_sections
from simplenn.store.completeness import partial_runs
from simplenn.core.units import TimeUnit, time_unit

__all__ = ["METHOD", "absent_gpu_text", "cells_for_display", "cross_machine_table", "grid_sentence", "method_text",
           "render_markdown"]

_DISPLAY_KEYS = ["machine", "run", "impl", "mode", "loss", "dtype", "jit"]


def cell_status(row) -> str:
    """A cell's status in a few words: ok or its failure, and the flags a reader should see beside its numbers
    (unstable, imprecise, above the ceiling, hot); the full text of each is under Warnings."""
    words = [row.status if row.status == "ok" else f"**{row.status}**"]
    if row.status != "ok" and row.n_blocks > 0:
        words.append("ok in some rounds only")
    if row.unstable:
        words.append(f"unstable (IQR {100 * row.iqr_rel:.1f} %)")
    if row.imprecise:
        words.append(f"imprecise (±{100 * row.precision:.1f} %)" if row.precision == row.precision else "imprecise")
    if row.beyond_ceiling or row.pct_of_ceiling > 100:
        words.append("above the ceiling")
    hot = [str(v) for v in (row.thermal_before, row.thermal_after) if not is_nominal(v)]
    if hot:
        words.append(f"thermal {hot[-1]}")
    return ", ".join(words)


def cells_for_display(cells: pd.DataFrame, unit: TimeUnit) -> pd.DataFrame:
    """The per-cell table a reader needs, in display units: cell, device, batch, median step with its 95 % CI,
    samples/s, GFLOP/s, % of ceiling (and % of GPU peak when a cell has one), status. summary.csv has the rest."""
    median = [f"{fmt(m)} ({fmt(lo)}–{fmt(hi)})" if not pd.isna(lo) else fmt(m)
              for m, lo, hi in zip(unit.of(cells["median_step_s"]), unit.of(cells["ci_low_s"]),
                                   unit.of(cells["ci_high_s"]))]
    shown = pd.DataFrame({
        "machine": cells["machine"], "run": cells["run"], "cell": [f"`{c}`" for c in cells["cell_id"]],
        "device": cells["device"], "batch": cells["batch_size"], f"median step ({unit.name}, 95 % CI)": median,
        "samples/s": cells["samples_per_s"], "GFLOP/s": cells["gflop_per_s"], "% of ceiling": cells["pct_of_ceiling"],
        "% of GPU peak": cells["pct_of_peak"],
        "status": [cell_status(r) for r in cells.itertuples(index=False)],
    })
    return shown if cells["pct_of_peak"].notna().any() else shown.drop(columns="% of GPU peak")


def speedup_for_display(table: pd.DataFrame, base: str, other: str, unit: TimeUnit) -> pd.DataFrame:
    """The speedup table in display units: both medians in `unit`, ratios in ×."""
    return pd.DataFrame({
        **{k: table[k] for k in PAIR_KEYS},
        f"{base}_median_{unit.name}": unit.of(table["base_median_s"]),
        f"{other}_median_{unit.name}": unit.of(table["other_median_s"]),
        "speedup_x": table["speedup"], "ci95_low_x": table["speedup_ci_low"], "ci95_high_x": table["speedup_ci_high"],
        "faster": table["faster"],
    })


def crossover_for_display(table: pd.DataFrame, unit: TimeUnit) -> pd.DataFrame:
    """The crossover table in display units: overheads in `unit`, per-sample costs in a unit of their own."""
    per_sample = time_unit(table["base_cost_s_per_sample"], table["other_cost_s_per_sample"])
    return pd.DataFrame({
        **{k: table[k] for k in CURVE_KEYS},
        "answer": table["answer"], "crossover_batch": table["crossover_batch"],
        "fit_crossover_batch": table["fit_crossover_batch"].round(0),
        f"base_overhead_{unit.name}": unit.of(table["base_overhead_s"]),
        f"base_cost_{per_sample.name}_per_sample": per_sample.of(table["base_cost_s_per_sample"]),
        f"other_overhead_{unit.name}": unit.of(table["other_overhead_s"]),
        f"other_cost_{per_sample.name}_per_sample": per_sample.of(table["other_cost_s_per_sample"]),
    })


def _section_table(display: pd.DataFrame) -> str:
    table, constant = split_constant(display, _DISPLAY_KEYS)
    return "\n\n".join(x for x in (constant, markdown_table(table)) if x)


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
        lines += [f"- `{run}`: {_drift_text(meta.get('drift'))}"] if meta.get("drift") else []
        lines += [f"- `{run}`: {w}" for w in meta.get("warnings") or []]
    return "\n".join(lines) if lines else "None."


def _drift_text(drift: object) -> str:
    if not isinstance(drift, Mapping):
        return f"sentinel drift: {drift}"
    ratio = drift.get("ratio")
    cell = drift.get("sentinel") or drift.get("cell") or drift.get("cell_id") or "sentinel"
    details = ", ".join(f"{k} = {fmt(v)}" for k, v in drift.items() if k not in ("sentinel", "cell", "cell_id", "warning"))
    text = f"sentinel `{cell}` drift: {details}"
    # The verdict is the one the run recorded (sweep.drift, against its DRIFT_WARN): not judged twice.
    if isinstance(ratio, (int, float)) and drift.get("warning"):
        text += f" — **the machine drifted by {100 * (ratio - 1):+.0f} % during the run**"
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
            _section_table(crossover_for_display(cross.table, unit)),
            "### Speedup per batch size",
            _section_table(speedup_for_display(speed.table, speed.base_device, speed.other_device, unit))]


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


def absent_gpu_text(runs: Mapping[str, dict]) -> str:
    """Runs that measured no GPU, with the reason recorded when the run started (never a made-up GPU figure)."""
    lines = [f"- `{run}`: no GPU was measured — {meta['gpu_missing_reason']}"
             for run, meta in runs.items() if meta.get("gpu_missing_reason")]
    return "\n".join(lines)
