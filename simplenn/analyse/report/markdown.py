"""The report as Markdown, section by section, from an Analysis: tables shown in display units, captions, warnings."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from simplenn.core.cases import FLOPS_FORMULA
from simplenn.analyse.display import fmt, fmt_value, markdown_table, split_constant
from simplenn.analyse.report.answer import answer_markdown
from simplenn.analyse.report.analysis import Analysis
from simplenn.analyse.report.captions import CHARTS
from simplenn.analyse.intervals import median_ci_label, n_rounds, ratio_ci_label
from simplenn.analyse.report.cross_machine import STEP_AT
from simplenn.analyse.report.frameworks_md import frameworks_section, impl_parity_text, parity_section
from simplenn.analyse.report.where_md import where_sections
from simplenn.analyse.report.tables import CURVE_KEYS, PAIR_KEYS, chip_peak, measured, only_ok, widths_order
from simplenn.store.completeness import partial_runs
from simplenn.store.results import machine_of, machine_versions
from simplenn.core.units import TimeUnit, time_unit

MiB = 2**20


_DISPLAY_KEYS = ["machine", "run", "impl", "mode", "loss", "dtype", "jit"]


def cells_for_display(cells: pd.DataFrame, unit: TimeUnit) -> pd.DataFrame:
    """The per-cell table in display units: step times in `unit`, samples/s, GFLOP/s, %, MiB."""
    ci = [f"{fmt(lo)}–{fmt(hi)}" if not pd.isna(lo) else "–"
          for lo, hi in zip(unit.of(cells["ci_low_s"]), unit.of(cells["ci_high_s"]))]
    return pd.DataFrame({
        **{k: cells[k] for k in _DISPLAY_KEYS},
        "device": cells["device"], "widths": cells["widths"], "batch_size": cells["batch_size"],
        "status": cells["status"], "n_blocks": cells["n_blocks"],
        f"median_{unit.name}": unit.of(cells["median_step_s"]), f"iqr_{unit.name}": unit.of(cells["iqr_s"]),
        f"ci95_{unit.name}": ci, "precision_pm_pct": 100 * cells["precision"],
        "imprecise": cells["imprecise"].map({True: "yes", False: ""}),
        "samples_per_s": cells["samples_per_s"], "gflop_per_s": cells["gflop_per_s"],
        "pct_of_ceiling": cells["pct_of_ceiling"], "pct_of_peak": cells["pct_of_peak"],
        "peak_mem_mib": cells["peak_mem_bytes"] / MiB, "warnings": cells["warnings"],
    })


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


def machines_section(analysis: Analysis) -> str:
    """One row per run: machine label, chip/CPU, OS, Python and library versions, GPU peak and its kind."""
    df, runs = analysis.samples, analysis.runs
    rows = []
    for run in dict.fromkeys(df["run"]):
        m = machine_of(runs, run)
        peak = chip_peak(runs.get(run) or {})
        versions = machine_versions(m)
        rows.append({
            "run": run,
            "machine": m.get("label") or df.loc[df["run"] == run, "machine"].iloc[0],
            "chip / CPU": m.get("chip") or m.get("cpu_model") or "unknown",
            "OS": " ".join(str(v) for v in (m.get("os"), m.get("os_version")) if v) or "unknown",
            "python": versions.get("python", "–"),
            "tensorflow": versions.get("tensorflow", "–"),
            "keras": versions.get("keras", "–"),
            "tensorflow-metal": versions.get("tensorflow-metal", "–"),
            "devices": ", ".join(sorted(df.loc[df["run"] == run, "device"].unique())),
            "GPU peak (FP32; kind)": peak.label if peak else "–",
        })
    return markdown_table(pd.DataFrame(rows))


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


def grid_section(analysis: Analysis) -> str:
    """The grid as recorded in run.json, and what was actually measured."""
    lines = []
    for run, meta in analysis.runs.items():
        grid = meta.get("grid") or {}
        if grid:
            items = "; ".join(f"{k} = {fmt_value(v)}" for k, v in grid.items())
            lines.append(f"- `{run}` grid: {items}")
    data = measured(analysis.samples)
    batches = ", ".join(str(b) for b in sorted(data["batch_size"].unique()))
    lines.append(f"- measured: devices {', '.join(sorted(data['device'].unique()))}; batch sizes {batches}; "
                 f"widths {', '.join(widths_order(data['widths']))}; impl {', '.join(sorted(data['impl'].unique()))}; "
                 f"modes {', '.join(sorted(data['mode'].unique()))}; {data['cell_id'].nunique()} cells, "
                 f"{int(data['step_s'].notna().sum())} timed blocks")
    return "\n".join(lines)


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


METHOD = (
    "Each cell's training step is traced once (timed on its own), warmed up, then timed in blocks of N steps with "
    "one synchronisation per block, so the per-step time is block time / N; cells are interleaved across devices "
    "and rounds, and every table gives the median over blocks with its 95 % confidence interval (speedups: a "
    "seeded bootstrap). Each cell is timed until the 95 % CI of its median is within ±`--precision` of the "
    "median, or for `--max-time` seconds of blocks; a cell stopped by the time limit is flagged imprecise. "
    + FLOPS_FORMULA + "; GFLOP/s is compared with the same run's measured "
    "tf.matmul ceiling of each device (the fastest of a 1024³ matmul and the steps' own big matmuls, timed one at a "
    "time with the step's shapes and transposes: a step cannot beat its fastest matmul) and, on Apple GPUs, with the "
    "chip's FP32 peak. The timed step trains with "
    "the grid's loss (default: the tutorial's per-class sigmoid cross-entropy) and plain SGD, whose cost does not "
    "depend on the learning rate (`train`'s own defaults, softmax and 0.2, are for learning, not timing). Apple "
    "GPU peaks are FP32 cores × 128 × 2 × clock, each labelled published (by Apple), "
    "derived (from a measured clock) or estimate (a third-party clock), with its source in simplenn/system/peaks.py. "
    "Thermal pressure is macOS's level (`notifyutil -g com.apple.system.thermalpressurelevel`: nominal, moderate, "
    "heavy, trapping, sleeping), read before and after each cell; moderate or worse is flagged in the cell's "
    "warnings. `unknown` means no reading (not a Mac, or notifyutil missing): it is not evidence of a cool machine."
)


def render_markdown(analysis: Analysis, out_dir: Path | str, chart_paths: Mapping[str, Path] | None = None) -> str:
    """The report as Markdown: machines, grid, method, answer (crossover), tables, charts, warnings."""
    out_dir, runs, unit = Path(out_dir), analysis.runs, analysis.step_unit
    speed, cross = analysis.speedup, analysis.crossover
    warnings = warnings_section(analysis)
    parts = [
        "# simplenn-bench report",
        *(f"> **Partial data.** {note}." for note in partial_runs(analysis.results)),  # say what was read
        "## The answer", answer_markdown(analysis, sum(line.startswith("- ") for line in warnings.splitlines())),
        "## Machines and versions", machines_section(analysis),
        *(["## Machines side by side", cross_machine_section(analysis)] if len(runs) > 1 else []),
        "## Grid", grid_section(analysis),
        "## Method", method_text(runs), ci_text(analysis),
    ]
    if speed.base_device is None or cross is None or cross.table.empty:
        parts += ["## When does the other device win?", speed.note or "No comparison possible."]
    else:
        parts += [f"## When does {speed.other_device} beat {speed.base_device}?",
                  f"Speedup = {speed.base_device} median / {speed.other_device} median (> 1: {speed.other_device} "
                  "is faster). The crossover is the smallest measured batch size from which on "
                  f"{speed.other_device} is faster at every larger size with the speedup CI's lower bound > 1; the "
                  "fit is time = overhead + cost × batch per device (least squares on relative error).",
                  _section_table(crossover_for_display(cross.table, unit)),
                  "### Speedup per batch size",
                  _section_table(speedup_for_display(speed.table, speed.base_device, speed.other_device, unit))]
    absent = absent_gpu_text(runs)
    if absent:
        parts.append(absent)
    parts += ["## Per-cell results",
              "Median step time over blocks with IQR and the median's 95 % CI; samples/s = batch / median; "
              "pct_of_ceiling = GFLOP/s as % of the device's measured matmul ceiling; pct_of_peak = % of the chip's "
              "FP32 GPU peak (Apple GPUs only; published, derived or estimate: see Machines); precision_pm_pct = "
              "the median's CI half-width reached when timing stopped (the worst round's), imprecise = stopped by "
              "--max-time short of --precision. Full precision in `summary.csv` (seconds).",
              *ceiling_text(analysis.cells),
              _section_table(cells_for_display(analysis.cells, unit))]
    parts += where_sections(analysis)  # host dispatch vs device work; inside the step, when cells were profiled
    parts += frameworks_section(analysis)
    if chart_paths:
        parts.append("## Charts")
        for name, path in chart_paths.items():
            spec = CHARTS[name].in_unit(unit.name)
            link = Path(os.path.relpath(Path(path), out_dir)).as_posix()
            parts.append(f"### {spec.title}\n\n![{spec.title}]({link})\n\n_x: {spec.xlabel}; y: {spec.ylabel}_")
        left_out = analysis.charts_left_out
        if left_out:
            parts.append("Charts left out, with nothing to draw:\n\n" + "\n".join(
                f"- `{name}.png` ({CHARTS[name].title}): {reason}" for name, reason in left_out.items()))
    parity, impl_parity = parity_section(runs), impl_parity_text(analysis.impl_parity)
    if parity or impl_parity:
        parts += ["## Parity", *([parity] if parity else []), *impl_parity]
    parts += ["## Warnings", warnings]
    return "\n\n".join(parts) + "\n"


def ci_text(analysis: Analysis) -> str:
    """Which CI each table shows: hierarchical over rounds when the run has ≥ 2, else over one round's blocks."""
    ok = only_ok(measured(analysis.samples), "step_s")
    rounds = n_rounds(ok)
    # Rounds ran in fresh processes when every record names its worker and no pid serves two rounds.
    fresh = ok["worker_pid"].notna().all() and ok.groupby("worker_pid")["round"].nunique().max() == 1
    return (f"CIs in this report ({rounds} round{'s' if rounds != 1 else ''}): per-cell table: "
            f"{median_ci_label(rounds, fresh)}. Speedup table: {ratio_ci_label(rounds)}, rounds paired across "
            "devices.")


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


def method_text(runs: Mapping[str, dict]) -> str:
    """The method paragraph; pytest-benchmark sources are timed per cell in pytest's order, not interleaved."""
    sources = {meta.get("source") for meta in runs.values()}
    if sources == {"pytest-benchmark"}:
        return METHOD.replace("cells are interleaved across devices and rounds", "cells ran in pytest's order "
                              "(pytest-benchmark rounds; not interleaved across devices)")
    return METHOD
