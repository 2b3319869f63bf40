"""The regression gate as one named rule (simplenn.analyse.gate.Gate), on small hand-made arrays of log round medians."""
from __future__ import annotations

import math

import numpy as np
import pytest

from simplenn.analyse.gate import NO_VERDICT, REGRESSION, SAME, Gate

QUIET = np.array([0.0, 0.01, -0.01])  # one quiet cell's log round medians (3 rounds)


def _cells(noisy_base: np.ndarray, noisy_new: np.ndarray, n_quiet: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """n_quiet unchanged quiet cells plus one noisy cell, as (cells × rounds) arrays: (new, base)."""
    base = np.vstack([QUIET] * n_quiet + [noisy_base])
    new = np.vstack([QUIET[::-1]] * n_quiet + [noisy_new])
    return new, base


def test_a_noisy_cell_does_not_borrow_the_quiet_cells_variance():
    """Rounds 0.5 apart in log time: +1.0 is not significant on the cell's own variance (t = 2.45, 4 df, p = 0.035
    against 0.05 / 9), but would be on the quiet cells' (the guard off flags it)."""
    new, base = _cells(np.array([0.0, 0.5, -0.5]), np.array([1.0, 1.5, 0.5]))
    kept = Gate().judge(new, base)
    assert not kept.moderated[-1] and kept.moderated[:-1].all()
    assert kept.verdict[-1] == SAME and not kept.flagged
    unguarded = Gate(guard=False).judge(new, base)
    assert unguarded.moderated[-1] and unguarded.verdict[-1] == REGRESSION


def test_significant_and_large_both_needed():
    quiet_shift = np.vstack([QUIET] * 9)
    small = Gate().judge(quiet_shift + math.log(1.05), quiet_shift)  # certain, but below the 10 % threshold
    assert (small.p_slower < 0.05 / 9).all() and not small.flagged
    large = Gate().judge(quiet_shift + math.log(1.3), quiet_shift)
    assert (large.verdict == REGRESSION).all() and Gate().fails(quiet_shift + math.log(1.3), quiet_shift)
    assert Gate(threshold_pct=50).judge(quiet_shift + math.log(1.3), quiet_shift).verdict[0] == SAME


def test_bonferroni_counts_the_cells_judged():
    """A p of 0.01 passes alone (m = 1) and fails among 9 cells (0.05 / 9 = 0.0056)."""
    base, new = np.array([[0.0, 0.1, -0.1]]), np.array([[0.3, 0.4, 0.2]])
    alone = Gate(moderate=False).judge(new, base)
    assert 0.0056 < alone.p_slower[0] < 0.05 and alone.verdict[0] == REGRESSION and alone.m == 1
    many = Gate(moderate=False).judge(np.vstack([new] + [QUIET] * 8), np.vstack([base] + [QUIET] * 8))
    assert many.m == 9 and many.verdict[0] == SAME


def test_one_round_a_side_gets_no_verdict_unless_a_sigma_is_supplied():
    base, new = np.array([[0.0], [0.0]]), np.array([[math.log(1.5)], [0.0]])
    assert list(Gate().judge(new, base).verdict) == [NO_VERDICT, NO_VERDICT]
    known = Gate(sigma_pct=5).judge(new, base)
    assert list(known.verdict) == [REGRESSION, SAME] and np.isinf(known.df).all()
    assert known.se[0] == pytest.approx(math.log1p(0.05) * math.sqrt(2))


def test_the_rule_is_stated_and_bad_settings_refused():
    text = Gate(threshold_pct=20, sigma_pct=8).text()
    assert "Bonferroni" in text and "above 1.2" in text and "σ 8 %" in text
    for bad in (dict(threshold_pct=0), dict(alpha=1.5), dict(sigma_pct=-1)):
        with pytest.raises(ValueError):
            Gate(**bad)
