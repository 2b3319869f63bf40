"""Statistics of per-step times: every summary is derived from the raw block samples, in one place."""
from __future__ import annotations

import math
from functools import lru_cache
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


def t_sf(t: np.ndarray | float, df: np.ndarray | int) -> np.ndarray:
    """P(T > t) for Student's t with integer `df` ≥ 1 (elementwise; df may be an array). df = inf gives the normal.

    The closed forms for integer degrees of freedom (Abramowitz & Stegun 26.7.3–4: a finite series in cos θ with
    θ = atan(t/√df)), so the package needs no scipy; tests/test_stats.py holds them against scipy.stats.t.
    """
    t, df = np.broadcast_arrays(np.asarray(t, dtype=float), np.asarray(df, dtype=float))
    out = np.full(t.shape, np.nan)
    normal = df > 1e6  # beyond this the series would take forever and the normal is exact to ~1e-6
    if normal.any():
        out[normal] = 0.5 * np.vectorize(math.erfc)(t[normal] / math.sqrt(2))
    finite = ~normal & (df >= 1) & ~np.isnan(t)
    if finite.any():
        tt, nu = t[finite], df[finite].astype(int)
        theta = np.arctan(np.abs(tt) / np.sqrt(nu))
        c2, s = np.cos(theta) ** 2, np.sin(theta)
        odd = nu % 2 == 1
        # A(t|ν) = P(|T| ≤ |t|), summed term by term up to the largest ν needed.
        term = np.where(odd, s * np.sqrt(c2), s)  # odd: sinθ·cosθ; even: sinθ
        total = np.where(odd & (nu > 1), term, np.where(odd, 0.0, term))
        k = 1
        while True:
            # term ratio: odd ν: (2k)/(2k+1)·cos²θ over k = 1.. (ν−3)/2; even ν: (2k−1)/(2k)·cos²θ over k = 1.. (ν−2)/2
            term = term * c2 * np.where(odd, 2 * k / (2 * k + 1), (2 * k - 1) / (2 * k))
            live = np.where(odd, k <= (nu - 3) // 2, k <= (nu - 2) // 2)
            if not live.any():
                break
            total = total + np.where(live, term, 0.0)
            k += 1
        a = np.where(odd, 2 / np.pi * (theta + total), total)
        out[finite] = np.where(tt >= 0, (1 - a) / 2, (1 + a) / 2)
    return out if out.ndim else float(out)


def t_quantile(p: float, df: int | float) -> float:
    """The p-quantile of Student's t with integer `df` ≥ 1 (df = inf: the normal), by bisection on t_sf."""
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    return _t_quantile(float(p), float(df))


@lru_cache(maxsize=4096)
def _t_quantile(p: float, df: float) -> float:
    if p < 0.5:
        return -_t_quantile(1 - p, df)
    low, high = 0.0, 1.0
    while float(t_sf(high, df)) > 1 - p:
        high *= 2
    for _ in range(100):
        mid = (low + high) / 2
        low, high = (mid, high) if float(t_sf(mid, df)) > 1 - p else (low, mid)
        if high - low < 1e-12 * max(1.0, high):
            break
    return (low + high) / 2


def _beta_inc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), by its continued fraction (modified Lentz)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast only below this point
        return 1.0 - _beta_inc(b, a, 1 - x)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)) / a
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1) < 1e-14:
            break
    return front * f


def f_sf(f: float, df1: float, df2: float) -> float:
    """P(F > f) for Fisher's F with (df1, df2) degrees of freedom."""
    if f <= 0:
        return 1.0
    return _beta_inc(df2 / 2, df1 / 2, df2 / (df2 + df1 * f))


@lru_cache(maxsize=4096)
def f_quantile(p: float, df1: float, df2: float) -> float:
    """The p-quantile of Fisher's F with (df1, df2) degrees of freedom, by bisection on f_sf."""
    low, high = 0.0, 1.0
    while f_sf(high, df1, df2) > 1 - p:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if f_sf(mid, df1, df2) > 1 - p else (low, mid)
        if high - low < 1e-10 * max(1.0, high):
            break
    return (low + high) / 2
