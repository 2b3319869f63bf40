"""When a cell has been timed enough: the adaptive stopping rule (target precision of the median, or a time limit)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simplenn.core.stats import CONFIDENCE, median_ci


def rel_halfwidth(blocks: Sequence[float], confidence: float = CONFIDENCE) -> float:
    """Half the width of the median's distribution-free CI, relative to the median (inf with < 6 blocks).

    With fewer than 6 samples no order-statistic interval reaches 95 %: precision is then unknown, not good.
    """
    x = np.asarray(blocks, dtype=float)
    if x.size < 6:
        return math.inf
    low, high = median_ci(x, confidence)
    median = float(np.median(x))
    return (high - low) / 2 / median if median > 0 else math.inf


@dataclass(frozen=True)
class StopRule:
    """When a cell has been timed enough: tight enough, or out of time (then it is flagged imprecise).

    No defaults here: a rule is built from the timing `Settings` (`Settings.stop_rule()`), whose fields are the one
    place the defaults are written.
    """

    precision: float  # target: the median's 95 % CI within ± this fraction of the median
    max_time_s: float  # of timed blocks, per cell
    min_blocks: int
    min_time_s: float
    max_blocks: int

    def done(self, blocks: Sequence[float]) -> bool:
        """True when timing can stop: the minimum is met, and the target precision or a limit is reached.

        The minimum (min_blocks, min_time_s) comes before max_time_s: a time limit never leaves a cell with
        fewer blocks than a CI needs. max_blocks is absolute.
        """
        total_s = float(np.sum(blocks)) if len(blocks) else 0.0
        if len(blocks) >= self.max_blocks:
            return True
        if len(blocks) < self.min_blocks or total_s < self.min_time_s:
            return False
        return total_s >= self.max_time_s or rel_halfwidth(blocks) <= self.precision

    def reached(self, blocks: Sequence[float]) -> tuple[float, bool]:
        """(relative CI half-width reached, imprecise): imprecise when it stopped short of the target."""
        reached = rel_halfwidth(blocks)
        return reached, not reached <= self.precision
