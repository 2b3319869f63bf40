"""The stopping rule and the round-aware (hierarchical) bootstrap, on synthetic samples with known structure."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from simplenn.analyse.intervals import hierarchical_median_ci, hierarchical_ratio_ci, reproducibility
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


def test_hierarchical_ci_is_wider_than_block_only_ci_when_rounds_shift():
    values, rounds = _shifted_rounds()
    lo_b, hi_b = hierarchical_median_ci(values)  # one pool of blocks
    lo_h, hi_h = hierarchical_median_ci(values, rounds)
    assert (hi_h - lo_h) > 3 * (hi_b - lo_b)
    assert lo_h <= np.median(values) <= hi_h


def test_hierarchical_ci_matches_block_ci_without_round_effects():
    rng = np.random.default_rng(2)
    values = 1 + 0.05 * rng.standard_normal(120)
    rounds = np.repeat(np.arange(4), 30)
    lo_b, hi_b = hierarchical_median_ci(values)
    lo_h, hi_h = hierarchical_median_ci(values, rounds)
    assert (hi_h - lo_h) == pytest.approx(hi_b - lo_b, rel=0.5)


def test_hierarchical_ratio_ci_paired_rounds_cancel_a_shared_shift():
    values, rounds = _shifted_rounds()
    faster = values / 2  # the other device, measured in the same rounds, is exactly 2× faster
    ratio, lo_p, hi_p = hierarchical_ratio_ci(values, faster, rounds, rounds, paired=True)
    _, lo_i, hi_i = hierarchical_ratio_ci(values, faster, rounds, rounds, paired=False)
    assert ratio == pytest.approx(2.0)
    assert lo_p <= 2.0 <= hi_p
    assert (hi_p - lo_p) < (hi_i - lo_i) / 3


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
