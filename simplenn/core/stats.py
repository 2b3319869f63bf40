"""Statistics of per-step times: every summary is derived from the raw block samples, in one place."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

# A cell is flagged unstable when its spread is this large relative to its median (torch.utils.benchmark's rule).
UNSTABLE_IQR_REL = 0.10
CONFIDENCE = 0.95


def median_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Distribution-free confidence interval of the median from order statistics (binomial, p = 1/2).

    The interval [x(j), x(n-j+1)] covers the median with probability 1 - 2·P(Bin(n, ½) ≤ j-1); the largest
    such j reaching `confidence` is used. With fewer than 6 samples no j reaches 95 %, and [min, max] is
    returned (for n = 5 its coverage is 93.75 %).
    """
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n == 0:
        return (math.nan, math.nan)
    j, tail = 1, 0.0
    for cand in range(1, n // 2 + 1):
        tail += math.comb(n, cand - 1) / 2**n  # P(Bin(n, ½) ≤ cand-1)
        if 1 - 2 * tail < confidence:
            break
        j = cand
    return (float(x[j - 1]), float(x[n - j]))


SUMMARY_COLUMNS = ["n_blocks", "median_step_s", "q1_step_s", "q3_step_s", "iqr_s", "mad_s", "min_step_s",
                   "mean_step_s", "std_step_s", "ci_low_s", "ci_high_s"]


def summarize(samples: pd.DataFrame, by: Sequence[str], value: str = "step_s") -> pd.DataFrame:
    """One row per group of `by`: n_blocks, median, IQR, MAD, min, mean, stdev and the median's 95 % CI (seconds).

    Rows whose `value` is NaN (cells without samples) are ignored; `iqr_rel` = IQR / median and `unstable`
    = iqr_rel > 10 % are added. Quantiles are pandas' (linear interpolation).
    """
    by = list(by)
    data = samples.dropna(subset=[value])
    if data.empty:
        return pd.DataFrame(columns=by + SUMMARY_COLUMNS + ["iqr_rel", "unstable"])
    groups = data.groupby(by, sort=True, dropna=False)[value]
    q = groups.quantile([0.25, 0.5, 0.75]).unstack()
    deviation = (data[value] - groups.transform("median")).abs()
    ci = groups.apply(lambda s: median_ci(s.to_numpy()))
    out = pd.DataFrame({
        "n_blocks": groups.size(),
        "median_step_s": q[0.5],
        "q1_step_s": q[0.25],
        "q3_step_s": q[0.75],
        "iqr_s": q[0.75] - q[0.25],
        "mad_s": deviation.groupby([data[k] for k in by], sort=True, dropna=False).median(),
        "min_step_s": groups.min(),
        "mean_step_s": groups.mean(),
        "std_step_s": groups.std(ddof=1),
        "ci_low_s": ci.map(lambda t: t[0]),
        "ci_high_s": ci.map(lambda t: t[1]),
    }).reset_index()
    out["n_blocks"] = out["n_blocks"].astype(int)
    out["iqr_rel"] = out["iqr_s"] / out["median_step_s"]
    out["unstable"] = out["iqr_rel"] > UNSTABLE_IQR_REL
    return out


def bootstrap_ratio_ci(
    base: Sequence[float],
    new: Sequence[float],
    n_resamples: int = 2000,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float, float]:
    """median(base) / median(new) with a seeded percentile-bootstrap CI over the blocks of each side."""
    a = np.asarray(base, dtype=float)
    b = np.asarray(new, dtype=float)
    if a.size == 0 or b.size == 0:
        return (math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    ma = np.median(rng.choice(a, size=(n_resamples, a.size), replace=True), axis=1)
    mb = np.median(rng.choice(b, size=(n_resamples, b.size), replace=True), axis=1)
    ratios = ma / mb
    alpha = (1 - confidence) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return (float(np.median(a) / np.median(b)), float(low), float(high))
