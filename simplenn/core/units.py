"""Display units for times: seconds everywhere, converted only when shown, one unit picked per table."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TimeUnit:
    """A unit for showing durations held in seconds: its name (used in column headings) and its factor."""

    name: str
    per_second: float

    def of(self, seconds):
        """`seconds` (a number, array or Series) expressed in this unit."""
        return seconds * self.per_second


SECONDS, MILLISECONDS, MICROSECONDS, NANOSECONDS = (
    TimeUnit("s", 1.0), TimeUnit("ms", 1e3), TimeUnit("us", 1e6), TimeUnit("ns", 1e9))
UNITS = (SECONDS, MILLISECONDS, MICROSECONDS, NANOSECONDS)


def time_unit(*columns: Iterable[float]) -> TimeUnit:
    """The largest unit in which a table's typical time (the median of its finite, non-zero values) reads ≥ 1.

    pytest-benchmark's `time_unit` rule, applied once per table to the median rather than the minimum, so one
    very fast cell does not turn a table of milliseconds into thousands of microseconds. ms when there is nothing.
    """
    values = np.abs(np.concatenate([np.asarray(c, dtype=float).ravel() for c in columns] or [np.empty(0)]))
    values = values[np.isfinite(values) & (values > 0)]
    if values.size == 0:
        return MILLISECONDS
    typical = float(np.median(values))
    return next((u for u in UNITS if typical * u.per_second >= 1), NANOSECONDS)
