"""The answer first: a few sentences per run, generated from the report's tables (never from separate arithmetic).

The question the tool exists for: is the GPU faster than the CPU for this network, from which batch size, by how
much, and how sure? Each number quoted here is a value of the speedup, crossover, host-overhead, cell or
frameworks table of the same `Analysis`, and `RunAnswer` keeps those values beside the sentences so a test can hold
one to the other.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from simplenn.analyse.report.analysis import Analysis
from simplenn.analyse.report.tables import n_weights_of, only_ok

# The curve the answer speaks of: the tutorial's network, the from-scratch implementation, one call per step.
HEADLINE = {"impl": "scratch", "mode": "per-call"}
SMALL_BATCH = 32


@dataclass(frozen=True)
class RunAnswer:
    """The answer for one run: its sentences, and the table values they quote (for the witness test)."""

    run: str
    machine: str
    sentences: tuple[str, ...]
    quoted: dict = field(default_factory=dict)


def _headline_rows(table: pd.DataFrame, run: str) -> pd.DataFrame:
    """The rows of `table` on the headline curve of `run`: scratch per-call if measured, and the smallest network."""
    rows = table[table["run"] == run]
    for key, value in HEADLINE.items():
        if (rows[key] == value).any():
            rows = rows[rows[key] == value]
    if rows.empty:
        return rows
    smallest = min(rows["widths"].unique(), key=n_weights_of)
    rows = rows[rows["widths"] == smallest]
    first = rows.iloc[0]
    return rows[(rows["loss"] == first["loss"]) & (rows["dtype"] == first["dtype"]) & (rows["jit"] == first["jit"])]


def _x(value: float) -> str:
    return f"{value:.2f}×" if value < 10 else f"{value:.1f}×"


def _two_devices(analysis: Analysis, run: str, quoted: dict) -> list[str]:
    speed, cross = analysis.speedup, analysis.crossover
    base, other = speed.base_device, speed.other_device
    curve = _headline_rows(speed.table, run).sort_values("batch_size")
    if curve.empty:
        return [f"{base} and {other} were not both measured ok on one configuration of this run."]
    first = curve.iloc[0]
    where = f"{first['widths']} ({first['impl']}, {first['mode']}, {first['dtype']})"
    out = []
    crow = _headline_rows(cross.table, run) if cross is not None else pd.DataFrame()
    if not crow.empty:
        c = crow.iloc[0]
        quoted.update(crossover_batch=c["crossover_batch"], fit_crossover_batch=c["fit_crossover_batch"])
        fit = "" if math.isnan(c["fit_crossover_batch"]) else f"; the fitted lines cross at batch ≈ {c['fit_crossover_batch']:.0f}"
        if math.isnan(c["crossover_batch"]):
            out.append(f"For {where}, {other} is never reliably faster than {base} up to batch {int(c['max_batch'])} "
                       f"(no batch size from which the speedup's 95 % CI stays above 1{fit}).")
        else:
            out.append(f"For {where}, {other} is faster than {base} from batch {int(c['crossover_batch'])} on "
                       f"(the speedup's 95 % CI is above 1 from there up{fit}).")
    best = curve.loc[curve["speedup"].idxmax()]
    quoted.update(best_speedup=best["speedup"], best_low=best["speedup_ci_low"], best_high=best["speedup_ci_high"],
                  best_batch=int(best["batch_size"]))
    ci = f"{best['speedup_ci_low']:.2f}–{best['speedup_ci_high']:.2f}, 95 % CI"
    if best["speedup_ci_low"] > 1:
        out.append(f"At best {other} is {_x(best['speedup'])} faster ({ci}) at batch {int(best['batch_size'])}.")
    elif best["speedup"] > 1:
        out.append(f"Its largest speedup, {_x(best['speedup'])} at batch {int(best['batch_size'])} ({ci}), is not "
                   "distinguishable from 1.")
    small = curve.iloc[(curve["batch_size"] - SMALL_BATCH).abs().argsort()[:1]].iloc[0]
    if small["speedup"] < 1:
        quoted.update(small_batch=int(small["batch_size"]), small_base_faster=1 / small["speedup"])
        text = f"At batch {int(small['batch_size'])} {base} is {_x(1 / small['speedup'])} faster"
        host = _headline_host(analysis, run, other, int(small["batch_size"]), first["widths"])
        if host is not None:
            quoted["small_host_share_pct"] = host
            text += f": host dispatch is {host:.0f} % of {other}'s step"
        out.append(text + ".")
    return out


def _headline_host(analysis: Analysis, run: str, device: str, batch: int, widths: str) -> float | None:
    host = analysis.host
    rows = host[(host["run"] == run) & (host["device"] == device) & (host["batch_size"] == batch)
                & (host["widths"] == widths) & (host["impl"] == HEADLINE["impl"])]
    return None if rows.empty else float(rows.iloc[0]["host_share_pct"])


def _one_device(analysis: Analysis, run: str, quoted: dict) -> list[str]:
    cells = only_ok(analysis.cells, "median_step_s")
    cells = cells[cells["run"] == run]
    devices = sorted(cells["device"].unique())
    reason = analysis.results.meta(run).gpu_missing_reason or ""
    text = (f"Only {', '.join(devices) or 'no device'} was measured ok in this run, so there is no CPU-vs-GPU "
            "comparison" + (f" (no GPU: {reason.rstrip('.')})." if reason else ".") +
            " On a machine with a GPU, `simplenn-bench run --devices cpu,gpu` measures both.")
    out = [text]
    curve = _headline_rows(cells, run)
    if not curve.empty:
        top = curve.loc[curve["samples_per_s"].idxmax()]
        quoted.update(top_samples_per_s=top["samples_per_s"], top_batch=int(top["batch_size"]))
        out.append(f"On {top['device']}, {top['widths']} ({top['impl']}, {top['mode']}) trains fastest per sample at "
                   f"batch {int(top['batch_size'])}: {top['samples_per_s']:,.0f} samples/s.")
    return out


def _noise(analysis: Analysis, run: str, quoted: dict) -> str:
    """The median relative half-width of the run's speedup (or cell) CIs: differences below it are noise."""
    speed = analysis.speedup.table
    rows = speed[speed["run"] == run] if not speed.empty else speed
    if not rows.empty:
        half = (rows["speedup_ci_high"] - rows["speedup_ci_low"]) / 2 / rows["speedup"]
        what = "speedup"
    else:
        cells = only_ok(analysis.cells, "median_step_s")
        cells = cells[cells["run"] == run]
        half = (cells["ci_high_s"] - cells["ci_low_s"]) / 2 / cells["median_step_s"]
        what = "step-time"
    rounds = analysis.samples.loc[analysis.samples["run"] == run, "round"].nunique()
    pct = 100 * float(half.median())
    quoted["noise_pct"] = pct
    return (f"Differences under {pct:.0f} % are within this run's noise (the median half-width of its {what} "
            f"95 % CIs; {rounds} round{'s' if rounds != 1 else ''}).")


def answer_markdown(analysis: Analysis, n_warnings: int) -> str:
    """The report's opening section: each run's sentences, then how many warnings there are and where."""
    several = len(analysis.runs) > 1
    parts = []
    for a in answers(analysis):
        text = " ".join(a.sentences)
        parts.append(f"**{a.machine}** (`{a.run}`): {text}" if several else f"On {a.machine}: {text}")
    parts.append(f"{n_warnings} warning{'s' if n_warnings != 1 else ''}: see [Warnings](#warnings)." if n_warnings
                 else "No warnings.")
    return "\n\n".join(parts)


def answers(analysis: Analysis) -> list[RunAnswer]:
    """One `RunAnswer` per run of the analysis, in the runs' order."""
    out = []
    two = analysis.speedup.base_device is not None
    for run in analysis.runs:
        quoted: dict = {}
        machine_rows = analysis.cells.loc[analysis.cells["run"] == run, "machine"]
        machine = str(machine_rows.iloc[0]) if len(machine_rows) else run
        if two and (analysis.speedup.table["run"] == run).any():
            body = _two_devices(analysis, run, quoted)
        else:
            body = _one_device(analysis, run, quoted)
        sentences = (*body, _noise(analysis, run, quoted))
        out.append(RunAnswer(run, machine, sentences, quoted))
    return out
