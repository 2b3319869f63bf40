"""The suite's command-line options, and when benchmarks are timed rather than smoke-run (used by the root conftest)."""
from __future__ import annotations

import pytest

from bench.grids import GRIDS, SMOKE_GRID, TIMED_GRID

# pytest-benchmark options that only make sense with timed benchmarks: any of them turns timing on.
# Without one, benchmarks are disabled (each body runs once, untimed) so plain `pytest` stays a fast smoke test.
TIMING_OPTIONS = ("benchmark_only", "benchmark_enable", "benchmark_json", "benchmark_save", "benchmark_autosave",
                  "benchmark_compare", "benchmark_compare_fail", "benchmark_histogram", "benchmark_csv",
                  "benchmark_cprofile")


def add_options(group: pytest.OptionGroup) -> None:
    group.addoption(
        "--simplenn-grid", choices=sorted(GRIDS), default=None,
        help=f"benchmark grid (batch sizes × widths); default: {SMOKE_GRID} when benchmarks are disabled "
             f"(plain pytest), {TIMED_GRID} when they are timed (--benchmark-only, --benchmark-json, …)",
    )
    group.addoption(
        "--simplenn-devices", default="cpu,gpu", metavar="LIST",
        help="devices to benchmark: cpu, gpu, all, or TensorFlow names like CPU:0,CPU:1 (default cpu,gpu; "
             "a missing GPU is reported as skipped, with the reason)",
    )


def timing_requested(config: pytest.Config) -> bool:
    """True when the command line asks for timed benchmarks (any of TIMING_OPTIONS)."""
    return any(config.getoption(name, default=None) for name in TIMING_OPTIONS)
