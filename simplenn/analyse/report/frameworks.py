"""The frameworks table: per device and batch size, every implementation and mode against TF scratch per-call.

Speedup = TF scratch per-call / implementation step time (> 1: the implementation is faster). With ≥ 2 rounds the
step times are geometric means of round medians and the CI is a paired t on the per-round log ratios (the two ran
interleaved in the same rounds of one run: precision.ratio_ci); with one round, medians and a bootstrap over the
blocks (within-process). The fastest
implementation of a cell is named only when the CI of runner-up / fastest lies above 1; otherwise the cell has
no clear winner. Pure functions of the tidy samples table and the runs' metadata: nothing here measures or draws.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from simplenn.core.cases import MODES
from simplenn.measure.runners import IMPLS
from simplenn.core.dimensions import ACROSS_IMPLS
from simplenn.analyse.intervals import cell_estimate, ratio_ci
from simplenn.store.runmeta import RunMeta

BASELINE = ("scratch", "per-call")
BASELINE_LABEL = "TF scratch per-call"
# One cell of the comparison: everything but the implementation and its mode (ACROSS_IMPLS).
TABLE_COLUMNS = ACROSS_IMPLS + [
    "impl", "mode", "status", "reason", "n_rounds", "n_blocks", "median_step_s", "ci_low_s", "ci_high_s",
    "speedup", "speedup_ci_low", "speedup_ci_high", "vs_baseline",
]
WINNER_COLUMNS = ACROSS_IMPLS + [
    "fastest", "fastest_median_s", "runner_up", "runner_up_median_s", "margin", "margin_ci_low", "margin_ci_high",
    "winner",
]
NO_CLEAR_WINNER = "no clear winner"


@dataclass(frozen=True)
class Frameworks:
    """`table`: one row per (cell, impl, mode) with its median, CI and speedup over TF scratch per-call;
    `winners`: one row per cell (device, batch size, …) naming the fastest implementation, or none when unclear.
    `note` says why the tables are empty."""

    table: pd.DataFrame
    winners: pd.DataFrame
    note: str = ""

    @property
    def empty(self) -> bool:
        return self.table.empty


def label(impl: str, mode: str) -> str:
    """How an implementation and mode are named in tables and charts ('TF scratch per-call', 'jax in-graph')."""
    return f"{'TF scratch' if impl == 'scratch' else impl} {mode}"


def _ratio(base: pd.DataFrame, new: pd.DataFrame, seed: int) -> tuple[float, float, float]:
    """base / new step time with its CI: paired t over the shared rounds when there are ≥ 2 (precision.ratio_ci)."""
    return ratio_ci(base["step_s"], new["step_s"], base["round"], new["round"], paired=True, seed=seed)


def _verdict(low: float, high: float) -> str:
    if low > 1:
        return "faster"
    if high < 1:
        return "slower"
    return "neither (CI spans 1)" if not math.isnan(low) else "–"


def _first_failure(statuses: pd.Series, reasons: pd.Series) -> tuple[str, str]:
    for status, reason in zip(statuses, reasons):
        if status != "ok":
            return status, reason if isinstance(reason, str) else ""
    return "ok", ""


def _cell_rows(cell: pd.DataFrame, seed: int) -> list[dict]:
    """The rows of one comparison cell: each implementation and mode against the baseline, in IMPLS × MODES order."""
    ok = cell[(cell["status"] == "ok") & cell["step_s"].notna()]
    base = ok[(ok["impl"] == BASELINE[0]) & (ok["mode"] == BASELINE[1])]
    rows = []
    for (impl, mode), group in cell.groupby(["impl", "mode"], sort=False):
        status, reason = _first_failure(group["status"], group["reason"])
        timed = ok[(ok["impl"] == impl) & (ok["mode"] == mode)]
        row = {"impl": impl, "mode": mode, "status": status, "reason": reason, "n_rounds": timed["round"].nunique(),
               "n_blocks": len(timed), "median_step_s": math.nan, "ci_low_s": math.nan, "ci_high_s": math.nan,
               "speedup": math.nan, "speedup_ci_low": math.nan, "speedup_ci_high": math.nan}
        if not timed.empty:
            row["median_step_s"], row["ci_low_s"], row["ci_high_s"] = cell_estimate(timed["step_s"], timed["round"])
            if (impl, mode) == BASELINE:
                row["speedup"] = 1.0  # by definition; resampling it against itself would only show its noise twice
            elif not base.empty:
                row["speedup"], row["speedup_ci_low"], row["speedup_ci_high"] = _ratio(base, timed, seed)
        row["vs_baseline"] = "baseline" if (impl, mode) == BASELINE else _verdict(row["speedup_ci_low"],
                                                                                   row["speedup_ci_high"])
        rows.append(row)
    order = {(i, m): n for n, (i, m) in enumerate((i, m) for i in IMPLS for m in MODES)}
    return sorted(rows, key=lambda r: order.get((r["impl"], r["mode"]), len(order)))


def _winner(cell: pd.DataFrame, rows: list[dict], seed: int) -> dict:
    """The fastest implementation of one cell, named only when runner-up / fastest has its CI above 1."""
    timed = sorted((r for r in rows if not math.isnan(r["median_step_s"])), key=lambda r: r["median_step_s"])
    out = {c: math.nan for c in WINNER_COLUMNS[len(ACROSS_IMPLS):]}
    if not timed:
        return {**out, "fastest": "", "runner_up": "", "winner": "nothing measured ok"}
    first = timed[0]
    out.update(fastest=label(first["impl"], first["mode"]), fastest_median_s=first["median_step_s"], runner_up="")
    if len(timed) == 1:
        return {**out, "winner": f"{out['fastest']} (the only one measured)"}
    second = timed[1]
    ok = cell[(cell["status"] == "ok") & cell["step_s"].notna()]

    def side(r: dict) -> pd.DataFrame:
        return ok[(ok["impl"] == r["impl"]) & (ok["mode"] == r["mode"])]

    margin, low, high = _ratio(side(second), side(first), seed)
    out.update(runner_up=label(second["impl"], second["mode"]), runner_up_median_s=second["median_step_s"],
               margin=margin, margin_ci_low=low, margin_ci_high=high)
    out["winner"] = out["fastest"] if low > 1 else f"{NO_CLEAR_WINNER} ({out['fastest']} ≈ {out['runner_up']})"
    return out


def frameworks_table(samples: pd.DataFrame, seed: int = 0) -> Frameworks:
    """Every implementation and mode against TF scratch per-call, per device and batch size (see Frameworks).

    `samples` is the tidy samples table (one row per timed block; sentinel rows are left out). Empty, with a
    note, unless some cell was measured with more than one implementation.
    """
    data = samples[~samples["sentinel"].fillna(False).astype(bool)]
    # Two modes of one implementation are the host-overhead table's business; this one compares implementations.
    if data.empty or data.groupby(ACROSS_IMPLS, dropna=False)["impl"].nunique().max() < 2:
        return Frameworks(pd.DataFrame(columns=TABLE_COLUMNS), pd.DataFrame(columns=WINNER_COLUMNS),
                          "Only one implementation was measured: there is no other framework to compare it with.")
    rows, winners = [], []
    for keys, cell in data.groupby(ACROSS_IMPLS, sort=True, dropna=False):
        group = dict(zip(ACROSS_IMPLS, keys))
        cell_rows = _cell_rows(cell, seed)
        rows += [{**group, **r} for r in cell_rows]
        winners.append({**group, **_winner(cell, cell_rows, seed)})
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    baseline = table[(table["impl"] == BASELINE[0]) & (table["mode"] == BASELINE[1])]
    note = "" if baseline["median_step_s"].notna().any() else (
        f"{BASELINE_LABEL} was not measured ok, so there are no speedups; the fastest is still named per cell.")
    return Frameworks(table, pd.DataFrame(winners, columns=WINNER_COLUMNS), note)


PARITY_COLUMNS = ["run", "device", "widths", "batch_size", "n_steps", "dtype", "impl", "mode", "status",
                  "loss_rel_diff", "weights_max_abs_diff", "weights_max_rel_diff", "rtol", "atol", "reason"]


def impl_parity_table(runs: Mapping[str, RunMeta]) -> pd.DataFrame:
    """One row per run, dtype, implementation and mode: its recorded parity with scratch per-call (run.json
    `impl_parity`, written at the end of a run with more than one implementation). Empty when none was recorded."""
    rows = []
    for run, meta in runs.items():
        parity = meta.impl_parity
        if parity is None:
            continue
        where = {"run": run, "device": parity.get("device"), "batch_size": parity.get("batch_size"),
                 "widths": "x".join(map(str, parity.get("layer_sizes") or [])) or None}
        rows += [{**where, **r} for r in parity.get("rows") or []]
    return pd.DataFrame(rows, columns=PARITY_COLUMNS) if rows else pd.DataFrame(columns=PARITY_COLUMNS)
