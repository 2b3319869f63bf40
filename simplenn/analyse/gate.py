"""The regression gate: which cells of a comparison got slower, as one named rule (`Gate`).

A cell is a **regression** when both hold:
- significant: the one-sided t test of "new is no slower than base" on the log round medians rejects at
  `alpha` / m, where m is the number of cells compared (Bonferroni: the chance that any of the m unchanged cells is
  flagged stays ≤ `alpha`);
- large: the estimated slowdown (the ratio of the geometric means of the round medians) exceeds `threshold_pct`.
An **improvement** is the mirror image. Anything else is "no significant change".

The test's variance is each cell's pooled variance of the log round medians of both runs (R₁ + R₂ − 2 df), and,
with `moderate`, it borrows strength from the other cells of the same comparison (a moderated t, as limma does
for genes): s̃² = (d₀·s₀² + d·s²) / (d₀ + d) with d₀ + d degrees of freedom, s₀² the pooled variance of the
other cells and d₀ their df, capped at `prior_df`. The guard: a cell whose own variance exceeds the others' beyond
the `guard_level` point of the F distribution keeps its own variance and df (a noisy cell must not borrow
quietness it does not have).

With one round a side a cell has no variance at all: no verdict, unless a between-run σ is supplied (`sigma_pct`:
the spread of one run's log estimate of a cell, e.g. σ̂ from a same-code pair's reproducibility figure); the test
then uses it as known (normal quantiles).

Everything is vectorised over leading axes so tests/simulate.py can judge thousands of comparisons at once with
this very code: arrays are (..., cells, rounds), NaN where a round is absent.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simplenn.analyse.intervals import log_round_stats, pooled_log_diff, t_quantiles
from simplenn.core.stats import CONFIDENCE, f_quantile, t_sf

REGRESSION, IMPROVEMENT, SAME = "regression", "improvement", "no significant change"
NO_VERDICT = "no verdict (one round a side)"
# Verdict codes of the vectorised judgement, in this order.
VERDICTS = (SAME, REGRESSION, IMPROVEMENT, NO_VERDICT)


@dataclass(frozen=True)
class Judgement:
    """Per cell (arrays shaped like the leading and cell axes): log ratio new/base and its standard error and df,
    the per-cell 95 % CI of the ratio, the one-sided p-values (unadjusted), m, and the verdict code
    (index into VERDICTS)."""

    diff: np.ndarray
    se: np.ndarray
    df: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_slower: np.ndarray
    p_faster: np.ndarray
    m: np.ndarray
    code: np.ndarray
    moderated: np.ndarray  # True where the cell borrowed variance from the others

    @property
    def ratio(self) -> np.ndarray:
        return np.exp(self.diff)

    @property
    def verdict(self) -> np.ndarray:
        return np.asarray(VERDICTS, dtype=object)[self.code]

    @property
    def flagged(self) -> np.ndarray:
        """True per comparison (leading axes) when any cell regressed: what makes `compare` exit 1."""
        return np.any(self.code == 1, axis=-1)


@dataclass(frozen=True)
class Gate:
    """The regression rule (see the module docstring); `fails` and `judge` are the only ways to apply it."""

    threshold_pct: float = 10.0
    alpha: float = 0.05  # family-wise, per direction, over the cells compared
    moderate: bool = True
    prior_df: float = 4.0  # at most this much weight (in df) for the other cells' variance (docs/statistics.md)
    guard: bool = True  # a cell whose variance exceeds the others' keeps its own (off only to show what it does)
    guard_level: float = 0.05
    sigma_pct: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.threshold_pct) and self.threshold_pct > 0):
            raise ValueError(f"threshold_pct must be > 0, got {self.threshold_pct!r}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha!r}")
        if self.sigma_pct is not None and not (math.isfinite(self.sigma_pct) and self.sigma_pct > 0):
            raise ValueError(f"sigma_pct must be > 0, got {self.sigma_pct!r}")

    @property
    def limit(self) -> float:
        return 1 + self.threshold_pct / 100

    def judge(self, new_logs: np.ndarray, base_logs: np.ndarray, confidence: float = CONFIDENCE) -> Judgement:
        """Verdicts for arrays of log round medians shaped (..., cells, rounds); NaN marks an absent round."""
        new_logs, base_logs = np.asarray(new_logs, dtype=float), np.asarray(base_logs, dtype=float)
        d = pooled_log_diff(new_logs, base_logs)
        nn, nb = log_round_stats(new_logs)[0], log_round_stats(base_logs)[0]
        k = 1 / nn + 1 / nb
        var, df = d.se ** 2 / k, d.df.astype(float)
        moderated = np.zeros(df.shape, dtype=bool)
        if self.moderate:
            var, df, moderated = self._moderated(var, df)
        se = np.sqrt(var * k)
        if self.sigma_pct is not None:
            known = np.isnan(df) & np.isfinite(d.diff)
            sigma = math.log1p(self.sigma_pct / 100)
            se = np.where(known, sigma * math.sqrt(2), se)
            df = np.where(known, math.inf, df)
        judged = np.isfinite(se) & np.isfinite(d.diff)
        with np.errstate(invalid="ignore", divide="ignore"):
            # Rounds that agree exactly (synthetic data) give se = 0: any difference is then certain, none is none.
            t = np.where(se > 0, d.diff / se, np.sign(d.diff) * np.inf)
        t = np.nan_to_num(t, nan=0.0, posinf=np.inf, neginf=-np.inf)
        df_or_1 = np.where(np.isnan(df), 1.0, df)  # placeholder where unjudged (masked below); inf stays inf
        p_slower, p_faster = t_sf(t, df_or_1), t_sf(-t, df_or_1)
        p_slower, p_faster = np.where(judged, p_slower, np.nan), np.where(judged, p_faster, np.nan)
        m = np.sum(judged, axis=-1, keepdims=True)
        level = self.alpha / np.maximum(m, 1)
        log_limit = math.log(self.limit)
        code = np.where(~judged, 3, 0)
        code = np.where(judged & (p_slower < level) & (d.diff > log_limit), 1, code)
        code = np.where(judged & (p_faster < level) & (d.diff < -log_limit), 2, code)
        half = t_quantiles(1 - (1 - confidence) / 2, df) * se
        return Judgement(diff=d.diff, se=se, df=df, ci_low=np.exp(d.diff - half), ci_high=np.exp(d.diff + half),
                         p_slower=p_slower, p_faster=p_faster, m=np.broadcast_to(m[..., 0], d.diff.shape[:-1]),
                         code=code, moderated=moderated)

    def _moderated(self, var: np.ndarray, df: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each cell's variance shrunk toward the other cells' pooled variance, unless the guard keeps it apart."""
        has = np.isfinite(df) & (df >= 1)
        d = np.where(has, df, 0.0)
        ss = np.where(has, var * d, 0.0)
        d_others = np.sum(d, axis=-1, keepdims=True) - d
        with np.errstate(invalid="ignore", divide="ignore"):
            s0 = (np.sum(ss, axis=-1, keepdims=True) - ss) / d_others
            ratio = var / s0
        crit = np.full(var.shape, np.inf)
        ok = has & (d_others >= 1) & (s0 > 0)
        for d1, d2 in set(zip(d[ok].tolist(), d_others[ok].tolist())):
            crit[ok & (d == d1) & (d_others == d2)] = f_quantile(1 - self.guard_level, d1, d2)
        borrow = ok & (ratio <= crit) if self.guard else ok
        d0 = np.minimum(d_others, self.prior_df)
        with np.errstate(invalid="ignore", divide="ignore"):
            shrunk = (d0 * s0 + d * var) / (d0 + d)
        return np.where(borrow, shrunk, var), np.where(borrow, d0 + d, df), borrow

    def fails(self, new_logs: np.ndarray, base_logs: np.ndarray) -> bool:
        """True when any cell of one comparison (cells × rounds arrays) is a regression."""
        return bool(self.judge(new_logs, base_logs).flagged)

    def text(self) -> str:
        """The rule in one sentence, for the printed output."""
        borrow = (f"; each cell's variance borrows up to {self.prior_df:g} df from the other cells' unless its own is "
                  f"larger beyond the F test's {100 * (1 - self.guard_level):g} % point" if self.moderate else "")
        known = (f"; a cell with one round a side uses the supplied between-run σ {self.sigma_pct:g} %"
                 if self.sigma_pct is not None else "")
        return (f"regression = new slower with a one-sided t test on the log round medians significant at "
                f"{100 * self.alpha:g} % / m (Bonferroni over the m cells compared) AND the estimated ratio new/base "
                f"above {self.limit:.3g}; improvement = the mirror image below {1 / self.limit:.3g}{borrow}{known}")
