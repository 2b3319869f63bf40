"""Statistics on literal samples: median, pandas-linear IQR, MAD, the order-statistic CI, the unstable flag."""
from __future__ import annotations

import itertools
import math
import statistics

import numpy as np

import pandas as pd
import pytest

from simplenn.core.stats import UNSTABLE_IQR_REL, bootstrap_ratio_ci, median_ci, summarize

# Ten samples with unequal gaps so every order statistic is distinguishable; deliberately unsorted.
TEN = [22.0, 1.0, 46.0, 4.0, 11.0, 2.0, 37.0, 16.0, 7.0, 29.0]  # sorted: 1 2 4 7 11 16 22 29 37 46


def test_summary_of_ten_literal_samples():
    df = pd.DataFrame({"cell": "a", "step_s": TEN})
    row = summarize(df, by=["cell"]).iloc[0]
    assert row["n_blocks"] == 10
    assert row["median_step_s"] == 13.5  # (11 + 16) / 2
    # pandas' linear quantiles: q1 at position 0.25·9 = 2.25 → 4 + 0.25·(7 − 4); q3 at 6.75 → 22 + 0.75·(29 − 22).
    assert row["q1_step_s"] == pytest.approx(4.75)
    assert row["q3_step_s"] == pytest.approx(27.25)
    assert row["iqr_s"] == pytest.approx(22.5)
    # |x − 13.5| sorted: 2.5 2.5 6.5 8.5 9.5 11.5 12.5 15.5 23.5 32.5 → median (9.5 + 11.5) / 2.
    assert row["mad_s"] == pytest.approx(10.5)
    assert row["min_step_s"] == 1.0
    assert row["mean_step_s"] == pytest.approx(17.5)
    assert row["std_step_s"] == pytest.approx(statistics.stdev(TEN))
    assert (row["ci_low_s"], row["ci_high_s"]) == (2.0, 37.0)
    assert row["iqr_rel"] == pytest.approx(22.5 / 13.5)
    assert bool(row["unstable"]) is True


def _coverage_by_enumeration(n: int, j: int) -> float:
    """P(x(j) ≤ true median ≤ x(n−j+1)) for a continuous distribution, counted over all 2^n below/above patterns.

    x(j) ≤ m exactly when at least j samples fall below m, and m ≤ x(n−j+1) when at most n−j do: no binomial
    formula involved, so this is a reference independent of median_ci's own arithmetic.
    """
    patterns = itertools.product((0, 1), repeat=n)  # 1: that sample lies below the median
    return sum(j <= sum(p) <= n - j for p in patterns) / 2**n


@pytest.mark.parametrize("confidence", [0.95, 0.85])
def test_median_ci_n10_takes_the_narrowest_interval_that_reaches_the_confidence(confidence):
    n, ordered = len(TEN), sorted(TEN)
    j = max(k for k in range(1, n // 2 + 1) if _coverage_by_enumeration(n, k) >= confidence)
    assert median_ci(TEN, confidence=confidence) == (ordered[j - 1], ordered[n - j])
    assert (j, median_ci(TEN, confidence=confidence)) == ((2, (2.0, 37.0)) if confidence == 0.95 else (3, (4.0, 29.0)))


def test_median_ci_covers_the_true_median_as_often_as_it_claims():
    # Simulation: samples of a known distribution (median 0); the 95 % interval must hold it ≥ 95 % of the time.
    rng = np.random.default_rng(1)
    for n in (6, 10, 25):
        draws = rng.standard_normal((3000, n))
        covered = np.mean([low <= 0 <= high for low, high in map(median_ci, draws)])
        assert covered >= 0.94, (n, covered)  # exact coverage: 0.969 (n 6), 0.979 (n 10), 0.957 (n 25)
        if n >= 10:
            assert covered < 0.995  # and it is not simply [min, max], which would cover ≥ 0.998 here


def test_median_ci_n5_falls_back_to_min_max():
    # n = 5: even j = 1 covers only 1 − 2/32 = 0.9375 < 0.95, so the widest interval [x(1), x(5)] is returned.
    assert 1 - 2 / 32 < 0.95
    assert median_ci([5.0, 3.0, 9.0, 1.0, 4.0]) == (1.0, 9.0)


def test_median_ci_n20_by_binomial_sum():
    values = [float(v * v) for v in range(20)]
    coverage = [1 - 2 * sum(math.comb(20, k) for k in range(j)) / 2**20 for j in range(1, 11)]
    j = max(j for j, c in enumerate(coverage, start=1) if c >= 0.95)
    assert j == 6  # 1 − 2·P(Bin(20, ½) ≤ 5) = 0.9586; j = 7 gives 0.8847
    assert median_ci(values) == (values[j - 1], values[20 - j])


def test_median_ci_empty_is_nan():
    low, high = median_ci([])
    assert math.isnan(low) and math.isnan(high)


def test_unstable_flag_and_grouping():
    steady = [1.00, 1.01, 0.99, 1.02, 0.98, 1.00]  # IQR/median ≈ 2 %
    noisy = [1.0, 1.4, 0.7, 1.2, 0.8, 1.0]  # IQR/median ≈ 38 %
    df = pd.DataFrame(
        {"device": ["CPU:0"] * 6 + ["CPU:1"] * 6 + ["GPU:0"], "step_s": steady + noisy + [math.nan]}
    )
    out = summarize(df, by=["device"]).set_index("device")
    assert list(out.index) == ["CPU:0", "CPU:1"]  # the NaN-only cell (no samples) is dropped
    assert out.loc["CPU:0", "iqr_rel"] < UNSTABLE_IQR_REL and not out.loc["CPU:0", "unstable"]
    assert out.loc["CPU:1", "iqr_rel"] > UNSTABLE_IQR_REL and out.loc["CPU:1", "unstable"]
    assert out.loc["CPU:1", "median_step_s"] == pytest.approx(1.0)
    assert out.loc["CPU:0", "n_blocks"] == 6


def test_summarize_without_samples_has_the_columns():
    out = summarize(pd.DataFrame({"cell": ["a"], "step_s": [math.nan]}), by=["cell"])
    assert out.empty and {"median_step_s", "ci_low_s", "unstable"} <= set(out.columns)


def test_bootstrap_ratio_ci():
    base = [2.0, 2.1, 1.9, 2.0, 2.2, 1.8, 2.0]
    new = [1.0, 1.05, 0.95, 1.0, 1.1, 0.9, 1.0]
    ratio, low, high = bootstrap_ratio_ci(base, new, seed=0)
    assert ratio == pytest.approx(2.0)
    assert low <= ratio <= high and low > 1.5 and high < 2.5
    assert bootstrap_ratio_ci(base, new, seed=0) == (ratio, low, high)  # seeded: reproducible
    assert bootstrap_ratio_ci([3.0] * 4, [1.5] * 4) == (2.0, 2.0, 2.0)
    assert all(math.isnan(v) for v in bootstrap_ratio_ci([], new))
