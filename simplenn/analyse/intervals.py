"""How precise a median is across rounds: CIs that resample rounds before blocks, their labels, reproducibility.

A block bootstrap inside one process understates run-to-run variation: blocks of one round share the process's
memory layout, allocator state, thread pools and whatever else ran on the machine then. With several rounds
(each in a fresh worker process), a hierarchical bootstrap resamples rounds first, then blocks within each
chosen round, so the interval also covers the between-round spread. With a single round it is the ordinary
block bootstrap.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simplenn.core.stats import CONFIDENCE, bootstrap_ratio_ci, median_ci

N_RESAMPLES = 2000
# Two-sided 95 % Student t quantiles by degrees of freedom 1..30 (the table of pyperf/_utils.py).
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
Z95 = 1.959964


def _resampled_medians(values: np.ndarray, rounds: np.ndarray, chosen: np.ndarray, rng: np.random.Generator
                       ) -> np.ndarray:
    """Median of each resample: the rounds in `chosen` (B × R codes), then blocks drawn within each round."""
    order = np.argsort(rounds, kind="stable")
    v, codes = values[order], rounds[order]
    counts = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    n_chosen = counts[chosen]  # B × R
    width = int(counts.max())
    draw = np.floor(rng.random((*chosen.shape, width)) * n_chosen[..., None]).astype(int)
    idx = starts[chosen][..., None] + draw
    sample = np.where(np.arange(width) < n_chosen[..., None], v[idx], np.nan)
    return np.nanmedian(sample.reshape(len(chosen), -1), axis=1)


def _codes(rounds: Sequence | None, n: int) -> np.ndarray:
    if rounds is None:
        return np.zeros(n, dtype=int)
    return pd.factorize(pd.Series(list(rounds)), sort=True)[0]


def hierarchical_median_ci(values: Sequence[float], rounds: Sequence | None = None,
                           confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES, seed: int = 0
                           ) -> tuple[float, float]:
    """Percentile-bootstrap CI of the median, resampling rounds first, then blocks within each round."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return (math.nan, math.nan)
    codes = _codes(rounds, v.size)
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, codes.max() + 1, size=(n_resamples, codes.max() + 1))
    medians = _resampled_medians(v, codes, chosen, rng)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(medians, [alpha, 1 - alpha])
    return (float(low), float(high))


def hierarchical_ratio_ci(base: Sequence[float], new: Sequence[float], base_rounds: Sequence | None = None,
                          new_rounds: Sequence | None = None, paired: bool = False, confidence: float = CONFIDENCE,
                          n_resamples: int = N_RESAMPLES, seed: int = 0) -> tuple[float, float, float]:
    """median(base) / median(new) with a hierarchical-bootstrap CI.

    `paired=True` draws the same round numbers on both sides: right for two devices measured in the same
    rounds of one run (round r of each shares the machine's state), wrong for two independent runs.
    """
    a, b = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    if a.size == 0 or b.size == 0:
        return (math.nan, math.nan, math.nan)
    ca, cb = _codes(base_rounds, a.size), _codes(new_rounds, b.size)
    rng = np.random.default_rng(seed)
    ra, rb = ca.max() + 1, cb.max() + 1
    chosen_a = rng.integers(0, ra, size=(n_resamples, ra))
    chosen_b = chosen_a if paired and ra == rb else rng.integers(0, rb, size=(n_resamples, rb))
    ratios = _resampled_medians(a, ca, chosen_a, rng) / _resampled_medians(b, cb, chosen_b, rng)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return (float(np.median(a) / np.median(b)), float(low), float(high))


def reproducibility(table: pd.DataFrame) -> dict[str, float]:
    """How far two runs of the same grid disagree, from a comparison table with one row per matched cell.

    Columns read: base_median_s, new_median_s, base_ci_low_s, base_ci_high_s, new_ci_low_s, new_ci_high_s.
    Returns the median, 90th percentile and max of |ratio − 1| in percent (from |log ratio|, so 2× faster and 2×
    slower count alike), the share of cells whose CI holds the other run's median (both ways), and n_cells.
    """
    if table.empty:
        return {"n_cells": 0}
    ratio = table["new_median_s"] / table["base_median_s"]
    dev = 100 * np.expm1(np.abs(np.log(ratio.to_numpy(dtype=float))))
    new_in_base = table["new_median_s"].between(table["base_ci_low_s"], table["base_ci_high_s"])
    base_in_new = table["base_median_s"].between(table["new_ci_low_s"], table["new_ci_high_s"])
    return {
        "n_cells": int(len(table)),
        "median_abs_pct": float(np.median(dev)),
        "p90_abs_pct": float(np.quantile(dev, 0.9)),
        "max_abs_pct": float(dev.max()),
        "share_ci_holds_other": float((new_in_base & base_in_new).mean()),
    }


def n_rounds(samples: pd.DataFrame) -> int:
    """How many rounds the samples hold (0 when none): ≥ 2 makes every CI hierarchical."""
    return int(samples["round"].nunique()) if "round" in samples and len(samples) else 0


def median_ci_label(rounds: int, fresh_processes: bool = True) -> str:
    """Which CI a table of medians shows, for the report's method notes."""
    if rounds >= 2:
        how, covers = (("each a fresh worker process", "run-to-run variation") if fresh_processes else
                       ("one process: measured before rounds restarted the worker", "the variation between rounds, "
                        "though not what a new process changes"))
        return (f"95 % CI of the median: hierarchical bootstrap over the {rounds} rounds ({how}), then the blocks "
                f"within each round, so it includes {covers}")
    return ("95 % CI of the median: order statistics of one round's blocks; it does not include run-to-run "
            "variation (use --rounds ≥ 2 for that)")


def ratio_ci_label(rounds: int) -> str:
    """Which CI a table of ratios (speedup, compare) shows."""
    if rounds >= 2:
        return "95 % CI of the ratio: hierarchical bootstrap (rounds, then blocks within a round)"
    return "95 % CI of the ratio: bootstrap over one round's blocks (run-to-run variation not included)"


def ratio_ci(base: Sequence[float], new: Sequence[float], base_rounds: Sequence, new_rounds: Sequence,
             paired: bool, seed: int = 0) -> tuple[float, float, float]:
    """median(base) / median(new) with the CI the report shows: hierarchical when either side has ≥ 2 rounds,
    else the bootstrap over blocks (stats.bootstrap_ratio_ci)."""
    if max(pd.Series(list(base_rounds)).nunique(), pd.Series(list(new_rounds)).nunique()) >= 2:
        return hierarchical_ratio_ci(base, new, base_rounds, new_rounds, paired=paired, seed=seed)
    return bootstrap_ratio_ci(base, new, seed=seed)


def few_rounds_factor(rounds: int) -> float:
    """How much wider a CI over `rounds` rounds must be for a decision: t(R−1) / z · √(R / (R−1)); 1 below 2 rounds.

    A bootstrap over R clusters treats the R rounds seen as the whole population of rounds: with few rounds it
    understates the between-round spread (by √((R−1)/R)) and uses a normal quantile where a t quantile with R−1
    degrees of freedom belongs. With 2 rounds the factor is 9.2, with 3 2.7, with 5 1.6, with 10 1.2.
    """
    if rounds < 2:
        return 1.0
    t = _T95[rounds - 2] if rounds - 2 < len(_T95) else Z95
    return t / Z95 * math.sqrt(rounds / (rounds - 1))


def widen(ratio: float, low: float, high: float, factor: float) -> tuple[float, float]:
    """A ratio's CI stretched by `factor` around the ratio on the log scale (where a ratio's CI is symmetric-ish)."""
    if not all(math.isfinite(v) and v > 0 for v in (ratio, low, high)):
        return (low, high)
    return (ratio * (low / ratio) ** factor, ratio * (high / ratio) ** factor)


def median_ci_of(values: Sequence[float], rounds: Sequence | None = None, seed: int = 0) -> tuple[float, float]:
    """The median's 95 % CI as the report shows it: hierarchical over ≥ 2 rounds, else order statistics of blocks."""
    if rounds is not None and pd.Series(list(rounds)).nunique() >= 2:
        return hierarchical_median_ci(values, rounds, seed=seed)
    return median_ci(np.asarray(values, dtype=float))


def with_round_cis(samples: pd.DataFrame, stats: pd.DataFrame, by: Sequence[str], value: str = "step_s",
                   seed: int = 0) -> pd.DataFrame:
    """`stats` (one row per group of `by`) with n_rounds, and ci_low_s/ci_high_s made hierarchical where a group
    was measured in ≥ 2 rounds; `ci_method` says which CI each row holds ("rounds" or "blocks")."""
    by = list(by)
    data = samples.dropna(subset=[value])
    rounds = data.groupby(by, sort=False, dropna=False)["round"].nunique().rename("n_rounds").reset_index()
    out = stats.drop(columns=["n_rounds"], errors="ignore").merge(rounds, on=by, how="left")
    out["n_rounds"] = out["n_rounds"].fillna(0).astype(int)
    out["ci_method"] = np.where(out["n_rounds"] >= 2, "rounds", "blocks")
    multi = out.loc[out["n_rounds"] >= 2, by]
    if multi.empty:
        return out
    rows = []
    for key, group in data.merge(multi, on=by).groupby(by, sort=False, dropna=False):
        low, high = hierarchical_median_ci(group[value].to_numpy(), group["round"].to_numpy(), seed=seed)
        rows.append({**dict(zip(by, key)), "_low": low, "_high": high})
    out = out.merge(pd.DataFrame(rows, columns=by + ["_low", "_high"]), on=by, how="left")
    hier = out["_low"].notna()
    out.loc[hier, "ci_low_s"], out.loc[hier, "ci_high_s"] = out.loc[hier, "_low"], out.loc[hier, "_high"]
    return out.drop(columns=["_low", "_high"])
