"""Device pairs: speedup per configuration with a bootstrap CI, the crossover batch size, and the line fit."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simplenn.core.errors import UsageError
from simplenn.core.dimensions import ACROSS_DEVICES, ONE_CURVE
from simplenn.analyse.report.tables import cell_table, measured, n_weights_of, only_ok
from simplenn.store.results import Results, as_results
from simplenn.analyse.intervals import cell_estimate, ratio_ci


@dataclass(frozen=True)
class Speedup:
    """`table`: per (machine, run, impl, mode, loss, dtype, jit, widths, batch_size), speedup = base / other
    step time (> 1: the other device is faster) with its 95 % CI: with ≥ 2 rounds, step times are geometric means of
    round medians and the CI a paired t on the per-round log speedups (the devices shared each round); with one
    round, medians and a seeded bootstrap over blocks (within-process). `note` says why it is empty."""

    base_device: str | None
    other_device: str | None
    table: pd.DataFrame
    note: str = ""


SPEEDUP_COLUMNS = ACROSS_DEVICES + [
    "base_median_s", "other_median_s", "speedup", "speedup_ci_low", "speedup_ci_high", "faster",
]


def devices_present(samples: pd.DataFrame) -> list[str]:
    """Devices with at least one ok measurement, CPU:0 first, then in name order."""
    return sorted(only_ok(measured(samples), "step_s")["device"].unique(), key=lambda d: (d != "CPU:0", d))


def default_pair(samples: pd.DataFrame) -> tuple[str, str] | None:
    """CPU:0 versus the first GPU; without a GPU the first two devices present; None with a single device."""
    devices = devices_present(samples)
    if len(devices) < 2:
        return None
    gpus = sorted(measured(samples).loc[lambda d: d["device_kind"] == "gpu", "device"].unique())
    gpus = [g for g in gpus if g in devices]
    if "CPU:0" in devices and gpus:
        return "CPU:0", gpus[0]
    return devices[0], devices[1]


def _resolve_pair(samples: pd.DataFrame, base: str | None, other: str | None) -> tuple[str | None, str | None, str]:
    present = devices_present(samples)
    if base is None and other is None:
        pair = default_pair(samples)
        if pair is None:
            only = present[0] if present else "none"
            return None, None, f"Only one device was measured ({only}): there is no device to compare it with."
        return pair[0], pair[1], ""
    for name, dev in (("base", base), ("other", other)):
        if dev is not None and dev not in present:
            raise UsageError(f"{name} device {dev!r} has no ok cell; measured devices: {', '.join(present) or 'none'}")
    base = base or next(d for d in present if d != other)
    other = other or next((d for d in present if d != base), None)
    if other is None or other == base:
        return None, None, f"Only one device was measured ({base}): there is no device to compare it with."
    return base, other, ""


def speedup_table(
    data: Results | pd.DataFrame, base_device: str | None = None, other_device: str | None = None, seed: int = 0
) -> Speedup:
    """Base / other step time per configuration, with its CI (see Speedup): paired t over rounds for ≥ 2 rounds,
    a seeded bootstrap over blocks for one."""
    samples = as_results(data).table
    base, other, note = _resolve_pair(samples, base_device, other_device)
    if base is None:
        return Speedup(None, None, pd.DataFrame(columns=SPEEDUP_COLUMNS), note)
    ok = only_ok(measured(samples), "step_s")
    ok = ok[ok["device"].isin([base, other])]

    def one(group: pd.DataFrame) -> pd.Series:
        on_base, on_other = group[group["device"] == base], group[group["device"] == other]
        b, o = on_base["step_s"].to_numpy(), on_other["step_s"].to_numpy()
        # Both devices ran in the same rounds of one run: round r of each shares the machine's state (paired).
        ratio, low, high = ratio_ci(b, o, on_base["round"], on_other["round"], paired=True, seed=seed)
        return pd.Series({
            "base_median_s": cell_estimate(b, on_base["round"])[0],
            "other_median_s": cell_estimate(o, on_other["round"])[0],
            "speedup": ratio, "speedup_ci_low": low, "speedup_ci_high": high,
        })

    if ok.empty:
        table = pd.DataFrame(columns=SPEEDUP_COLUMNS)
    else:
        table = ok.groupby(ACROSS_DEVICES, sort=True).apply(one, include_groups=False).reset_index()
        table = table.dropna(subset=["speedup"]).reset_index(drop=True)
        table["faster"] = table.apply(lambda r: _winner(r, base, other), axis=1) if len(table) else []
    if table.empty:
        note = f"No configuration was measured ok on both {base} and {other}."
    return Speedup(base, other, table[SPEEDUP_COLUMNS] if not table.empty else table, note)


def _winner(row: pd.Series, base: str, other: str) -> str:
    if row["speedup_ci_low"] > 1:
        return other
    if row["speedup_ci_high"] < 1:
        return base
    return "neither (CI spans 1)"


@dataclass(frozen=True)
class Crossover:
    """Per curve (machine, run, impl, mode, loss, dtype, jit, widths): where the other device starts to win.

    `crossover_batch`: the smallest measured batch size from which on the other device is faster at every larger
    measured size with the speedup CI's lower bound > 1 (a lone win below a loss does not count).
    `fit_crossover_batch`: where the least-squares lines time = overhead_s + cost_s_per_sample × batch of the two
    devices meet (NaN when they do not meet at a positive batch size); the fit parameters are columns too.
    """

    base_device: str | None
    other_device: str | None
    table: pd.DataFrame
    note: str = ""


CROSSOVER_COLUMNS = ONE_CURVE + [
    "crossover_batch", "max_batch", "answer", "fit_crossover_batch", "fit_answer",
    "base_overhead_s", "base_cost_s_per_sample", "other_overhead_s", "other_cost_s_per_sample",
]


def fit_line(batch_sizes: Sequence[float], times_s: Sequence[float]) -> tuple[float, float]:
    """(overhead_s, cost_s_per_sample) of time = overhead + cost × batch, least squares on relative residuals.

    Relative residuals keep the large batches (long times) from drowning out the small ones, where the overhead
    is all there is. NaNs when fewer than two distinct batch sizes are given.
    """
    b = np.asarray(batch_sizes, dtype=float)
    t = np.asarray(times_s, dtype=float)
    if np.unique(b).size < 2:
        return (math.nan, math.nan)
    design = np.column_stack([np.ones_like(b), b]) / t[:, None]
    (overhead, cost), *_ = np.linalg.lstsq(design, np.ones_like(t), rcond=None)
    return (float(overhead), float(cost))


def fit_crossing(base: tuple[float, float], other: tuple[float, float]) -> float:
    """Batch size where the two fitted lines meet (NaN unless at a positive batch with the other cheaper per sample)."""
    (ob, cb), (oo, co) = base, other
    if not (cb > co):
        return math.nan
    b = (oo - ob) / (cb - co)
    return float(b) if b > 0 else math.nan


def crossover(
    data: Results | pd.DataFrame, base_device: str | None = None, other_device: str | None = None, seed: int = 0, *,
    cells: pd.DataFrame | None = None, speedup: Speedup | None = None,
) -> Crossover:
    """Where the other device starts to win, per curve, measured and from the line fit (see Crossover).

    `cells` (cell_table(data)) and `speedup` (speedup_table for the same pair) may be passed when already computed.
    """
    speed = speedup or speedup_table(data, base_device, other_device, seed=seed)
    if speed.table.empty:
        return Crossover(speed.base_device, speed.other_device, pd.DataFrame(columns=CROSSOVER_COLUMNS), speed.note)
    base, other = speed.base_device, speed.other_device
    measured_part = speed.table.groupby(ONE_CURVE, sort=True).apply(
        lambda g: _measured_crossover(g, other), include_groups=False
    )
    fits = _fits(cell_table(data) if cells is None else cells, base, other)
    table = measured_part.join(fits, how="left").reset_index()
    table["fit_crossover_batch"] = [
        fit_crossing((r.base_overhead_s, r.base_cost_s_per_sample), (r.other_overhead_s, r.other_cost_s_per_sample))
        for r in table.itertuples(index=False)
    ]
    table["fit_answer"] = [_fit_answer(r, other) for r in table.itertuples(index=False)]
    order = table.assign(_w=table["widths"].map(n_weights_of)).sort_values(["machine", "run", "impl", "mode", "_w"])
    return Crossover(base, other, order[CROSSOVER_COLUMNS].reset_index(drop=True))


def _measured_crossover(curve: pd.DataFrame, other: str) -> pd.Series:
    curve = curve.sort_values("batch_size")
    wins = (curve["speedup_ci_low"] > 1).to_numpy()
    batches = curve["batch_size"].to_numpy()
    # Suffix-all: position i counts only if the other device also wins at every larger measured batch size.
    stays = np.flip(np.logical_and.accumulate(np.flip(wins)))
    max_batch = int(batches[-1])
    if stays.all():
        answer, at = f"{other} faster at every measured batch size", int(batches[0])
    elif not stays.any():
        answer, at = f"{other} never faster in the measured range (up to batch {max_batch})", math.nan
    else:
        at = int(batches[np.argmax(stays)])
        answer = f"{other} faster from batch {at} on"
    lone = [int(b) for b, w, s in zip(batches, wins, stays) if w and not s]
    if lone:
        answer += f" (also at batch {', '.join(map(str, lone))}, but not consistently)"
    return pd.Series({"crossover_batch": at, "max_batch": max_batch, "answer": answer})


def _fits(cells: pd.DataFrame, base: str, other: str) -> pd.DataFrame:
    ok = only_ok(cells, "median_step_s")
    cols = ["base_overhead_s", "base_cost_s_per_sample", "other_overhead_s", "other_cost_s_per_sample"]
    if ok.empty:
        return pd.DataFrame(columns=ONE_CURVE + cols).set_index(ONE_CURVE)

    def one(group: pd.DataFrame) -> pd.Series:
        out = {}
        for side, dev in (("base", base), ("other", other)):
            g = group[group["device"] == dev]
            out[f"{side}_overhead_s"], out[f"{side}_cost_s_per_sample"] = fit_line(g["batch_size"], g["median_step_s"])
        return pd.Series(out)

    return ok.groupby(ONE_CURVE, sort=True).apply(one, include_groups=False)


def _fit_answer(row, other: str) -> str:
    if math.isnan(row.base_cost_s_per_sample) or math.isnan(row.other_cost_s_per_sample):
        return "no fit (fewer than two batch sizes on a device)"
    if not math.isnan(row.fit_crossover_batch):
        return f"fitted lines cross at batch ≈ {row.fit_crossover_batch:.0f}"
    if row.other_cost_s_per_sample < row.base_cost_s_per_sample:
        return f"fit: {other} faster at every batch size"
    return f"fit: {other} never faster (its per-sample cost is not lower)"
