"""How precise a cell's time is across rounds: CIs from round medians, their labels, reproducibility.

Blocks of one round share the process's memory layout, allocator state, thread pools and whatever else ran on the
machine then, so no statistic of one round's blocks describes the next run. With several rounds (each in a fresh
worker process) the round medians are the independent observations: a cell's estimate weighs every round the same
(the geometric mean of its round medians, i.e. the mean of their logs), its CI is a Student t interval on the log
round medians (R − 1 degrees of freedom), a ratio between two runs uses the pooled variance of both runs' log round
medians (R₁ + R₂ − 2 df), and a speedup between devices of one run is a paired t on the per-round log ratios (the
devices shared each round's machine state). A hierarchical bootstrap over 2–3 rounds did not cover (73–81 % at
R = 3, issue 24); these intervals do, on the simulation in tests/simulate.py. With a single round the CI is over
that round's blocks and is labelled within-process wherever it is shown.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simplenn.core.stats import CONFIDENCE, bootstrap_ratio_ci, median_ci, t_quantile


# ---- statistics of log round medians, vectorised over leading axes (the last axis is the rounds; NaN = absent) ----

def t_quantiles(p: float, df: np.ndarray) -> np.ndarray:
    """t_quantile(p, df) elementwise over an array of integer degrees of freedom (NaN where df < 1)."""
    df = np.asarray(df, dtype=float)
    out = np.full(df.shape, np.nan)
    for d in np.unique(df[np.isfinite(df) & (df >= 1)]):
        out[df == d] = t_quantile(p, d)
    out[np.isinf(df)] = t_quantile(p, math.inf)
    return out


def log_round_stats(logs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(count, mean, variance with ddof 1) of log round medians along the last axis, NaN entries left out."""
    logs = np.asarray(logs, dtype=float)
    n = np.sum(~np.isnan(logs), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(logs, axis=-1) / n
        var = np.nansum((logs - mean[..., None]) ** 2, axis=-1) / (n - 1)
    return n, np.where(n > 0, mean, np.nan), np.where(n > 1, var, np.nan)


def log_mean_ci(logs: np.ndarray, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high) of log round medians: a Student t interval with R − 1 df (NaN bounds below 2 rounds)."""
    n, mean, var = log_round_stats(logs)
    half = t_quantiles(1 - (1 - confidence) / 2, n - 1) * np.sqrt(var / n)
    return mean, mean - half, mean + half


@dataclass(frozen=True)
class LogDiff:
    """A difference of mean log round medians (log of a ratio of geometric means), its standard error and df."""

    diff: np.ndarray
    se: np.ndarray
    df: np.ndarray

    def ci(self, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
        half = t_quantiles(1 - (1 - confidence) / 2, self.df) * self.se
        return self.diff - half, self.diff + half


def pooled_log_diff(new_logs: np.ndarray, base_logs: np.ndarray) -> LogDiff:
    """mean(new) − mean(base) of log round medians of two independent runs, pooled variance, n₁ + n₂ − 2 df.

    One side may have a single round (it then adds nothing to the variance); with one round a side there is no
    variance at all and se and df are NaN. The variance is pooled because both runs measure the same cell on the
    same machine: their round-to-round spread is the same quantity (Welch would leave ~R − 1 df at R = 3).
    """
    nn, mn, vn = log_round_stats(new_logs)
    nb, mb, vb = log_round_stats(base_logs)
    df = (nn - 1) + (nb - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (np.nan_to_num(vn) * (nn - 1) + np.nan_to_num(vb) * (nb - 1)) / df
        se = np.sqrt(pooled * (1 / nn + 1 / nb))
    ok = df >= 1
    return LogDiff(mn - mb, np.where(ok, se, np.nan), np.where(ok, df, np.nan))


def paired_log_diff(a_logs: np.ndarray, b_logs: np.ndarray) -> LogDiff:
    """mean(a − b) of per-round log ratios of two things measured in the same rounds: paired t, R − 1 df.

    Rounds where either side is missing (NaN) are left out.
    """
    d = np.asarray(a_logs, dtype=float) - np.asarray(b_logs, dtype=float)
    n, mean, var = log_round_stats(d)
    ok = n >= 2
    return LogDiff(mean, np.where(ok, np.sqrt(var / n), np.nan), np.where(ok, n - 1, np.nan))


# ---- the same on the tidy samples table: round medians, cell estimates, ratios ----

def padded_logs(medians: Sequence[pd.Series]) -> np.ndarray:
    """cells × rounds array of log round medians (one Series per cell), NaN where a cell has fewer rounds."""
    width = max((len(m) for m in medians), default=0)
    out = np.full((len(medians), max(width, 1)), np.nan)
    for i, m in enumerate(medians):
        out[i, :len(m)] = np.log(m.to_numpy(dtype=float))
    return out


def round_medians(values: Sequence[float], rounds: Sequence | None) -> pd.Series:
    """Median of each round's values, indexed by round (one round 0 when rounds is None)."""
    v = pd.Series(np.asarray(values, dtype=float))
    r = pd.Series(np.zeros(len(v), dtype=int) if rounds is None else np.asarray(list(rounds)))
    return v.groupby(r.to_numpy(), sort=True).median()


def cell_estimate(values: Sequence[float], rounds: Sequence | None = None) -> tuple[float, float, float]:
    """(estimate, ci_low, ci_high) of a cell's step time in seconds.

    ≥ 2 rounds: the geometric mean of the round medians (each round weighs the same: pooling blocks over-weights
    a noisy round, which runs to --max-time with more blocks) and its t interval on the logs. One round: the
    median of the blocks and its order-statistic CI (within-process).
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return (math.nan, math.nan, math.nan)
    med = round_medians(v, rounds)
    if len(med) >= 2:
        mean, low, high = log_mean_ci(np.log(med.to_numpy()))
        return (float(np.exp(mean)), float(np.exp(low)), float(np.exp(high)))
    low, high = median_ci(v)
    return (float(np.median(v)), low, high)


def ratio_ci(base: Sequence[float], new: Sequence[float], base_rounds: Sequence, new_rounds: Sequence,
             paired: bool, seed: int = 0) -> tuple[float, float, float]:
    """base / new step time with its 95 % CI.

    Rounds on both sides (≥ 2 shared rounds when `paired`, ≥ 2 on one side otherwise): the ratio of geometric means
    of round medians; paired (two devices in the same rounds of one run): t on the per-round log ratios, R − 1 df;
    unpaired (two runs): pooled two-sample t, R₁ + R₂ − 2 df. Otherwise median(base) / median(new) with a bootstrap
    over the blocks of the one round (within-process: run-to-run variation is not in it).
    """
    mb, mn = round_medians(base, base_rounds), round_medians(new, new_rounds)
    if paired:
        common = mb.index.intersection(mn.index)
        if len(common) >= 2:
            d = paired_log_diff(np.log(mb[common].to_numpy()), np.log(mn[common].to_numpy()))
            low, high = d.ci()
            return (float(np.exp(d.diff)), float(np.exp(low)), float(np.exp(high)))
    elif max(len(mb), len(mn)) >= 2:
        d = pooled_log_diff(np.log(mb.to_numpy()), np.log(mn.to_numpy()))
        low, high = d.ci()
        return (float(np.exp(d.diff)), float(np.exp(low)), float(np.exp(high)))
    return bootstrap_ratio_ci(np.asarray(base, dtype=float), np.asarray(new, dtype=float), seed=seed)


def n_rounds(samples: pd.DataFrame) -> int:
    """How many rounds the samples hold (0 when none): ≥ 2 makes every CI one over rounds."""
    return int(samples["round"].nunique()) if "round" in samples and len(samples) else 0


WITHIN_PROCESS = ("within-process: it describes this process's blocks only, not the next run, which can land "
                  "outside it (measure with --rounds 3 or more)")


def median_ci_label(rounds: int, fresh_processes: bool = True) -> str:
    """Which estimate and CI a table of cell times shows, for the report's method notes."""
    if rounds >= 2:
        covers = ("each round a fresh worker process, so it includes run-to-run variation" if fresh_processes else
                  "rounds measured in one process, before rounds restarted the worker: it includes the variation "
                  "between rounds, though not what a new process changes")
        return (f"step time = geometric mean of the {rounds} round medians (each round weighs the same); its 95 % CI "
                f"a Student t interval on the log round medians ({rounds - 1} df; {covers})")
    return f"step time = median of one round's blocks; its 95 % CI from their order statistics, {WITHIN_PROCESS}"


def ratio_ci_label(rounds: int, paired: bool = True) -> str:
    """Which CI a table of ratios shows: paired t (devices of one run), pooled t (two runs), or within-process."""
    if rounds >= 2:
        if paired:
            return (f"95 % CI of the ratio: paired Student t on the {rounds} per-round log ratios ({rounds - 1} df; "
                    "rounds paired across the two sides)")
        return ("95 % CI of the ratio: Student t on the log round medians of both runs, pooled variance "
                f"({2 * rounds - 2} df at {rounds} rounds a side)")
    return f"95 % CI of the ratio: bootstrap over one round's blocks, {WITHIN_PROCESS}"


def with_round_cis(samples: pd.DataFrame, stats: pd.DataFrame, by: Sequence[str], value: str = "step_s",
                   seed: int = 0) -> pd.DataFrame:
    """`stats` (one row per group of `by`, from stats.summarize) with n_rounds; where a group was measured in ≥ 2
    rounds, median_step_s becomes the geometric mean of its round medians and ci_low_s/ci_high_s its t interval.
    `ci_method` says which each row holds ("rounds" or "within-process")."""
    by = list(by)
    data = samples.dropna(subset=[value])
    per_round = data.groupby(by + ["round"], sort=False, dropna=False)[value].median().rename("_m").reset_index()
    rounds = per_round.groupby(by, sort=False, dropna=False)["round"].nunique().rename("n_rounds").reset_index()
    out = stats.drop(columns=["n_rounds"], errors="ignore").merge(rounds, on=by, how="left")
    out["n_rounds"] = out["n_rounds"].fillna(0).astype(int)
    out["ci_method"] = np.where(out["n_rounds"] >= 2, "rounds", "within-process")
    multi = per_round.merge(out.loc[out["n_rounds"] >= 2, by], on=by)
    if multi.empty:
        return out
    rows = []
    for key, group in multi.groupby(by, sort=False, dropna=False):
        mean, low, high = log_mean_ci(np.log(group["_m"].to_numpy()))
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))),
                     "_est": float(np.exp(mean)), "_low": float(np.exp(low)), "_high": float(np.exp(high))})
    out = out.merge(pd.DataFrame(rows, columns=by + ["_est", "_low", "_high"]), on=by, how="left")
    hier = out["_est"].notna()
    for col, src in (("median_step_s", "_est"), ("ci_low_s", "_low"), ("ci_high_s", "_high")):
        out.loc[hier, col] = out.loc[hier, src]
    return out.drop(columns=["_est", "_low", "_high"])


# ---- how far two runs of the same code are apart ----

def ideal_both_ways_share(rounds: int, confidence: float = CONFIDENCE, n_draws: int = 200_000) -> float:
    """The share of cells in which each run's CI holds the other run's estimate, for perfectly calibrated CIs.

    Two runs of the same code give two estimates with the same spread; each CI covers the truth 95 % of the time,
    yet both holding the other's estimate is rarer: the two estimates differ by √2 times one's spread, so for
    intervals of known width (z) the share is P(|Z| ≤ 1.96/√2) = 83 %; for t intervals over R rounds a side it is
    87 % at R = 2, 84 % at 3, 81 % at 5. A seeded simulation of normal log round medians.
    """
    rng = np.random.default_rng(12345)
    if rounds < 2:
        z = t_quantile(1 - (1 - confidence) / 2, math.inf)
        d = rng.standard_normal(n_draws) * math.sqrt(2)
        return float(np.mean(np.abs(d) <= z))
    x = rng.standard_normal((2, n_draws, rounds))
    mean, low, high = log_mean_ci(x, confidence)
    return float(np.mean((mean[0] >= low[1]) & (mean[0] <= high[1]) & (mean[1] >= low[0]) & (mean[1] <= high[0])))


def reproducibility(table: pd.DataFrame, groups: Sequence[str] = ()) -> dict:
    """How far two runs of the same grid disagree, from a comparison table with one row per matched cell.

    Columns read: base_median_s, new_median_s, base_ci_low_s, base_ci_high_s, new_ci_low_s, new_ci_high_s.
    Returns n_cells; sigma_pct = 100·RMS(log ratio)/√2, the spread of one run's log estimate of a cell (two runs'
    difference has √2 times it), overall and per group of `groups` (`sigma_by_group`: label → (n_cells, sigma_pct));
    the median, 90th percentile and max of |ratio − 1| in percent (from |log ratio|); and the share of cells whose
    CI holds the other run's estimate both ways (`share_ci_holds_other`), to be read against
    ideal_both_ways_share for the rounds used, not against 95 %.
    """
    if table.empty:
        return {"n_cells": 0}
    log_ratio = np.log((table["new_median_s"] / table["base_median_s"]).to_numpy(dtype=float))
    dev = 100 * np.expm1(np.abs(log_ratio))
    new_in_base = table["new_median_s"].between(table["base_ci_low_s"], table["base_ci_high_s"])
    base_in_new = table["base_median_s"].between(table["new_ci_low_s"], table["new_ci_high_s"])

    def sigma(x: np.ndarray) -> float:
        return float(100 * np.sqrt(np.mean(x ** 2)) / math.sqrt(2))

    by_group = {}
    if groups:
        labels = table[list(groups)].astype(str).agg(" ".join, axis=1).to_numpy()
        for label in dict.fromkeys(labels):
            x = log_ratio[labels == label]
            by_group[label] = (int(x.size), sigma(x))
    return {
        "n_cells": int(len(table)),
        "sigma_pct": sigma(log_ratio),
        "sigma_by_group": by_group,
        "median_abs_pct": float(np.median(dev)),
        "p90_abs_pct": float(np.quantile(dev, 0.9)),
        "max_abs_pct": float(dev.max()),
        "share_ci_holds_other": float((new_in_base & base_in_new).mean()),
    }


def reproducibility_label(r: dict, rounds: int) -> str:
    """The reproducibility figure (a `reproducibility` dict) in words, for `compare`'s output."""
    if not r.get("n_cells"):
        return "Reproducibility: no cell matched."
    groups = "; ".join(f"{label}: {s:.1f} % ({n} cells)" for label, (n, s) in r["sigma_by_group"].items())
    ideal = 100 * ideal_both_ways_share(rounds)
    return (f"Reproducibility over {r['n_cells']} matched cells: σ̂ = RMS(log new/base)/√2 = {r['sigma_pct']:.1f} % "
            f"per run{f' ({groups})' if groups else ''}; for two runs of unchanged code this is the spread of one "
            f"run's estimate of a cell (--sigma for one-round runs). |new/base − 1| median {r['median_abs_pct']:.1f} %, "
            f"90th percentile {r['p90_abs_pct']:.1f} %, max {r['max_abs_pct']:.1f} %. Cells whose CI holds the other "
            f"run's estimate, both ways: {100 * r['share_ci_holds_other']:.0f} % (about {ideal:.0f} % if both CIs "
            f"were exactly calibrated for run-to-run variation at {rounds} round{'s' if rounds != 1 else ''}).")
