"""The stopping rule and the intervals over round medians, on synthetic samples with known structure."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from simplenn.analyse.intervals import (cell_estimate, ideal_both_ways_share, log_mean_ci, paired_log_diff,
                                        pooled_log_diff, ratio_ci, reproducibility, round_medians)
from simplenn.measure.stop import StopRule, rel_halfwidth


def rule(min_time_s: float = 0.0) -> StopRule:
    """±2 % within 3 s, ≥ 6 blocks, and `min_time_s` of blocks (0: only the precision and the limits count)."""
    return StopRule(precision=0.02, max_time_s=3.0, min_blocks=6, min_time_s=min_time_s, max_blocks=1000)


def _run(rule: StopRule, draw) -> list[float]:
    blocks: list[float] = []
    while not rule.done(blocks):
        blocks.append(draw())
    return blocks


def test_rel_halfwidth_unknown_below_six_blocks_and_zero_for_identical_blocks():
    assert rel_halfwidth([0.1] * 5) == math.inf
    assert rel_halfwidth([0.1] * 6) == 0.0
    assert 0 < rel_halfwidth([0.1, 0.11, 0.09, 0.1, 0.12, 0.08, 0.1]) < 0.2


def test_quiet_blocks_stop_at_the_minimum():
    rng = np.random.default_rng(0)
    quiet = rule()
    blocks = _run(quiet, lambda: 0.05 * (1 + 0.001 * rng.standard_normal()))
    assert len(blocks) == 6
    assert quiet.reached(blocks)[1] is False


def test_noisy_blocks_run_to_the_time_limit_and_are_flagged_imprecise():
    rng = np.random.default_rng(0)
    noisy = rule()
    blocks = _run(noisy, lambda: 0.05 * rng.lognormal(0, 0.5))
    assert sum(blocks) >= 3.0 and sum(blocks[:-1]) < 3.0
    reached, imprecise = noisy.reached(blocks)
    assert imprecise and reached > 0.02


def test_minimum_time_is_honoured_before_precision():
    blocks = _run(rule(min_time_s=0.5), lambda: 0.05)
    assert len(blocks) == 10


def _shifted_rounds(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    means = [1.0, 1.25, 0.85, 1.1]
    values = np.concatenate([m * (1 + 0.01 * rng.standard_normal(30)) for m in means])
    rounds = np.repeat(np.arange(len(means)), 30)
    return values, rounds


def test_cell_estimate_weighs_every_round_the_same():
    values, rounds = _shifted_rounds()
    # A noisy round that ran to --max-time has three times the blocks: pooled, it would pull the median its way.
    values = np.concatenate([values, np.full(60, 1.25)])
    rounds = np.concatenate([rounds, np.full(60, 1)])
    est, low, high = cell_estimate(values, rounds)
    assert est == pytest.approx(math.exp(np.mean(np.log(round_medians(values, rounds)))))
    assert est == pytest.approx((1.0 * 1.25 * 0.85 * 1.1) ** 0.25, rel=0.01)
    assert np.median(values) > 1.1 > est  # the pooled median was pulled toward the long round
    assert low < est < high


def test_cell_ci_is_a_t_interval_on_the_log_round_medians():
    values, rounds = _shifted_rounds()
    logs = np.log(round_medians(values, rounds).to_numpy())
    _, low, high = cell_estimate(values, rounds)
    half = 3.182 * logs.std(ddof=1) / 2  # t(0.975, 3 df) · s / √4
    assert math.log(low) == pytest.approx(logs.mean() - half, rel=1e-3)
    assert math.log(high) == pytest.approx(logs.mean() + half, rel=1e-3)


def test_one_round_gives_the_median_and_its_order_statistic_ci():
    rng = np.random.default_rng(2)
    values = 1 + 0.05 * rng.standard_normal(30)
    est, low, high = cell_estimate(values, np.zeros(30))
    assert est == pytest.approx(np.median(values)) and low < est < high


def test_vectorised_intervals_match_the_formulas_and_skip_absent_rounds():
    logs = np.array([[0.0, 0.1, -0.1, np.nan], [0.2, 0.2, 0.2, 0.2]])
    mean, low, high = log_mean_ci(logs)
    assert mean[0] == pytest.approx(0.0) and high[0] == pytest.approx(4.303 * 0.1 / math.sqrt(3), rel=1e-3)
    assert low[1] == high[1] == pytest.approx(0.2)
    d = pooled_log_diff(np.array([0.3, 0.4, 0.5]), np.array([0.0, 0.1, 0.2]))
    assert d.diff == pytest.approx(0.3) and d.df == 4 and d.se == pytest.approx(0.1 * math.sqrt(2 / 3))
    one = pooled_log_diff(np.array([0.3]), np.array([0.0]))  # one round a side: no variance at all
    assert math.isnan(one.se) and math.isnan(one.df)


def test_paired_ratio_cancels_a_shift_shared_by_both_devices():
    values, rounds = _shifted_rounds()
    faster = values / 2  # the other device, measured in the same rounds, is exactly 2× faster
    ratio, lo_p, hi_p = ratio_ci(values, faster, rounds, rounds, paired=True)
    _, lo_i, hi_i = ratio_ci(values, faster, rounds, rounds, paired=False)
    assert ratio == pytest.approx(2.0)
    assert lo_p <= 2.0 <= hi_p
    assert (hi_p - lo_p) < (hi_i - lo_i) / 3
    d = paired_log_diff(np.log([1.0, 1.2, 0.9]), np.log([0.5, 0.6, 0.45]))
    assert d.diff == pytest.approx(math.log(2)) and d.df == 2 and d.se == pytest.approx(0.0, abs=1e-12)


def test_ideal_both_ways_share_is_far_below_95_percent():
    assert ideal_both_ways_share(1) == pytest.approx(0.834, abs=0.005)  # P(|Z| ≤ 1.96/√2)
    assert 0.78 < ideal_both_ways_share(3) < 0.9


def test_reproducibility_summary():
    table = pd.DataFrame({
        "base_median_s": [1.0, 1.0, 1.0, 1.0],
        "new_median_s": [1.0, 1.1, 1 / 1.2, 1.02],
        "base_ci_low_s": [0.95, 0.95, 0.95, 0.95], "base_ci_high_s": [1.05, 1.05, 1.05, 1.05],
        "new_ci_low_s": [0.95, 1.05, 0.8, 0.99], "new_ci_high_s": [1.05, 1.15, 0.85, 1.05],
    })
    r = reproducibility(table)
    assert r["n_cells"] == 4
    assert r["max_abs_pct"] == pytest.approx(20.0)
    assert r["median_abs_pct"] == pytest.approx(6.0)  # median of 0, 10, 20, 2
    assert r["share_ci_holds_other"] == pytest.approx(0.5)  # cells 1 and 4
    assert r["sigma_pct"] == pytest.approx(100 * np.sqrt(np.mean(np.log([1, 1.1, 1 / 1.2, 1.02]) ** 2) / 2))
    table["device"] = ["CPU:0", "CPU:0", "GPU:0", "GPU:0"]
    by = reproducibility(table, ["device"])["sigma_by_group"]
    assert by["CPU:0"] == (2, pytest.approx(100 * math.log(1.1) / 2))
