"""`pytest --benchmark-only` prints the benchmark tables, not a SKIPPED line per non-benchmark test."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_benchmark_only_deselects_tests_that_are_not_benchmarks():
    # A file of plain tests beside the benchmark suite, on one device and the smallest grid: without the
    # deselection each plain test prints "Skipping non-benchmark (--benchmark-only active)" under -ra.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--benchmark-only", "tests/test_metrics.py", "bench/test_train_step.py",
         "--simplenn-devices", "CPU:0", "--simplenn-grid", "tiny", "--benchmark-max-time", "0.05",
         "--benchmark-min-rounds", "1", "-p", "no:cacheprovider"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "Skipping non-benchmark" not in out
    assert " deselected" in out, out[-2000:]
    assert "passed" in out
