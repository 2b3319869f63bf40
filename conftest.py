"""Session-wide pytest set-up for tests/ and bench/: logical CPUs, the benchmark suite's options, timing on/off.

The options live here rather than in bench/conftest.py so they exist whichever paths pytest is given.
"""
from __future__ import annotations

import pytest

from bench.options import add_options, timing_requested

DEFAULT_LOGICAL_CPUS = 2


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("simplenn", "simplenn-bench")
    group.addoption(
        "--logical-cpus", type=int, default=DEFAULT_LOGICAL_CPUS, metavar="N",
        help=f"split the CPU into N TensorFlow logical devices CPU:0…CPU:N-1 for the whole session "
             f"(default {DEFAULT_LOGICAL_CPUS}, so tests and benchmarks exercise the two-device path without a GPU)",
    )
    add_options(group)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Plain `pytest` smoke-runs the benchmark bodies: pytest-benchmark's --benchmark-disable unless a timing
    # option was given. tryfirst: this must precede pytest-benchmark's own pytest_configure (trylast), which
    # reads the flag once; setting it there also avoids its "--benchmark-only with --benchmark-disable" error.
    if config.pluginmanager.hasplugin("benchmark") and not timing_requested(config):
        config.option.benchmark_disable = True
    if config.getoption("help", default=False):
        return  # `pytest --help` need not pay for importing TensorFlow
    # The whole session — tests/ and bench/ — runs with CPU:0 and CPU:1 (by default) so the two-device path
    # (placement, device selection, CPU-vs-other-device tables) is exercised on machines without a GPU; other
    # tests rely on CPU:1 existing. It must happen before anything initialises TensorFlow's devices: here,
    # before collection.
    from simplenn.system.devices import setup_logical_cpus
    from simplenn.core.errors import FieldError

    try:
        setup_logical_cpus(config.getoption("logical_cpus"))
    except FieldError as e:
        raise pytest.UsageError(str(e.as_flag({"logical_cpus": "--logical-cpus"}))) from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # With --benchmark-only, pytest-benchmark skips every test that does not use its fixture, one SKIPPED line
    # (and one "s") each: hundreds of lines around the benchmark tables. Deselect them instead ("N deselected").
    if not config.getoption("benchmark_only", default=False):
        return
    keep = [item for item in items if "benchmark" in getattr(item, "fixturenames", ())]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep
