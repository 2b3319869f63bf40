"""The report's closing sections, in Markdown: where and how the numbers were made (machines and versions, the grid
as a sentence, the method in brief, which CI each table shows). They follow the answer, charts and tables."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from simplenn.core.cases import FLOPS_FORMULA
from simplenn.analyse.display import fmt, fmt_value, markdown_table
from simplenn.analyse.intervals import median_ci_label, ratio_ci_label
from simplenn.analyse.report.analysis import Analysis
from simplenn.store.runmeta import RunMeta


def machines_section(analysis: Analysis) -> str:
    """One row per run: machine label, chip/CPU, OS, Python and library versions, GPU peak and its kind."""
    df = analysis.samples
    rows = []
    for run in dict.fromkeys(df["run"]):
        meta, peak = analysis.results.meta(run), analysis.peaks.get(run)
        m, versions = meta.machine, meta.versions
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


# ------------------------------------------------------------------------------------------- the grid as a sentence


def _and(items: Sequence[object]) -> str:
    words = [fmt_value(x) for x in items]
    return " and ".join(words) if len(words) <= 2 else ", ".join(words[:-1]) + " and " + words[-1]


def _networks(hidden: Sequence[Sequence[int]]) -> str:
    return _and(["-".join(str(n) for n in (784, *h, 10)) for h in hidden])


def _seconds(value: object) -> str:
    return f"{fmt(value)} s"


# How each timing key of the grid reads in the sentence (keys absent from older runs are left out).
_TIMING = (
    ("precision", lambda v: f"until its median's 95 % CI is within ±{100 * float(v):g} %"),
    ("max_time_s", lambda v: f"for at most {_seconds(v)} of blocks"),
    ("min_time_s", lambda v: f"for at least {_seconds(v)}"),
    ("min_block_s", lambda v: f"in blocks of at least {_seconds(v)}"),
)


def grid_sentence(grid: Mapping[str, object], preset: Mapping | None = None) -> str:
    """The grid a run recorded (run.json `grid`), as sentences a reader can check; a key this function does not know
    is listed at the end as `key = value`, never dropped."""
    g = dict(grid)
    take = g.pop
    hidden, wide, wide_batch = take("hidden", []), take("wide_hidden", []), take("wide_batch", None)
    text = f"Networks {_networks(hidden)} at batch sizes {_and(take('batch_sizes', []))}"
    if wide:
        text += f", and {_networks(wide)} at batch size {fmt_value(wide_batch)}"
    devices, logical = take("devices", []), take("logical_cpus", 1)
    text += f"; devices {_and(devices)}"
    if logical and logical != 1:
        text += f" (the CPU split into {logical} logical devices)"
    jit = ["XLA on" if j else "XLA off" for j in take("jit", [])]
    text += (f"; implementation {_and(take('impls', []))}, mode {_and(take('modes', []))}, loss "
             f"{_and(take('losses', []))}, dtype {_and(take('dtypes', []))}, {_and(jit) or 'XLA off'}.")
    timing = [say(take(key)) for key, say in _TIMING if key in g]
    if timing:
        text += " Each cell timed " + ", ".join(timing) + "."
    rounds = take("rounds", 1)
    text += (f" {rounds} round{'s' if rounds != 1 else ''}; cells in a seeded order (seed {fmt_value(take('seed', '–'))}), a sentinel cell re-measured every "
             f"{fmt_value(take('sentinel_every', '–'))} cells; timeout {_seconds(take('timeout_s', '–'))} per cell")
    cooldown = take("cooldown_s", 0)
    text += (f", {_seconds(cooldown)} cool-down between cells." if cooldown else ", no cool-down.")
    profile, steps = take("profile", ()), take("profile_steps", None)
    if profile:
        cells = "every cell" if "all" in profile else "cells " + _and(profile)
        each = f"{steps} steps each" if steps else "one timing block each"
        text += f" After timing, {cells} traced under the profiler ({each})."
    if preset:
        changed = preset.get("overrides") or []
        text += (f" Preset {preset.get('name')} v{preset.get('version')}"
                 + (f", with {', '.join(changed)} changed." if changed else ", unchanged."))
    if g:
        text += " Other settings: " + "; ".join(f"{k} = {fmt_value(v)}" for k, v in g.items()) + "."
    return text


def grid_section(analysis: Analysis) -> str:
    """Each run's grid as a sentence, then what was actually measured."""
    several = len(analysis.runs) > 1
    lines = []
    for run, meta in analysis.runs.items():
        if meta.grid:
            sentence = grid_sentence(meta.grid, meta.preset)
            lines.append(f"`{run}`: {sentence}" if several else sentence)
    got = analysis.measured_grid
    lines.append(f"Measured: {got['n_cells']} cells, {got['n_blocks']} timed blocks, on {_and(got['devices'])}, at "
                 f"batch sizes {_and(got['batch_sizes'])}, widths {_and(got['widths'])}.")
    return "\n\n".join(lines)


# ------------------------------------------------------------------------------------------------------ the method

METHOD = (
    "Each cell's training step is traced once (timed on its own), warmed up, then timed in blocks of N steps with "
    "one synchronisation per block that reads every parameter back (per-step time = block time / N), until the 95 % "
    "CI of its median is within ±`--precision` or `--max-time` has passed (then it is flagged imprecise); cells are "
    "interleaved across devices and rounds. " + FLOPS_FORMULA + ". % of ceiling compares GFLOP/s with the same "
    "run's fastest tf.matmul probe on that device (a 1024³ matmul and the step's own big matmuls); Apple GPU peaks "
    "are cores × 128 × 2 × clock, each labelled published, derived or estimate (simplenn/system/peaks.py). The timed "
    "step uses the grid's loss and plain SGD, whose cost does not depend on the learning rate. Thermal pressure is "
    "macOS's level, read before and after each cell (`unknown`: no reading, not a cool machine). The full method: "
    "docs/method.md in the simplenn-bench repository."
)


def method_text(runs: Mapping[str, RunMeta]) -> str:
    """The method paragraph; pytest-benchmark sources are timed per cell in pytest's order, not interleaved."""
    sources = {meta.source for meta in runs.values()}
    if sources == {"pytest-benchmark"}:
        return METHOD.replace("cells are interleaved across devices and rounds", "cells ran in pytest's order "
                              "(pytest-benchmark rounds; not interleaved across devices)")
    return METHOD


def ci_text(analysis: Analysis) -> str:
    """Which CI each table shows: over round medians when the run has ≥ 2 rounds, else within-process."""
    rounds, fresh = analysis.rounds, analysis.fresh_rounds
    return (f"CIs in this report ({rounds} round{'s' if rounds != 1 else ''}): per-cell table: "
            f"{median_ci_label(rounds, fresh)}. Speedup table: {ratio_ci_label(rounds)}.")
