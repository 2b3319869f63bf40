"""Session-wide pytest set-up for tests/ and bench/: the stand-in GPU, logical CPUs, the benchmark options, timing.

The options live here rather than in bench/conftest.py so they exist whichever paths pytest is given.
"""
from __future__ import annotations

import os

import pytest

from bench.options import add_options, timing_requested

DEFAULT_LOGICAL_CPUS = 2
_STANDIN_MISSING = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("simplenn", "simplenn-bench")
    group.addoption(
        "--logical-cpus", type=int, default=DEFAULT_LOGICAL_CPUS, metavar="N",
        help=f"split the CPU into N TensorFlow logical devices CPU:0…CPU:N-1 for the whole session "
             f"(default {DEFAULT_LOGICAL_CPUS}, so tests and benchmarks exercise the two-device path without a GPU)",
    )
    group.addoption(
        "--standin", choices=("auto", "off"), default="auto",
        help="auto (default): build the stand-in GPU (native/standin_gpu/, cached) and load it into the session and "
             "every process it starts, through SIMPLENN_PLUGIN, unless SIMPLENN_PLUGIN is already set; off: do not",
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

    # The stand-in GPU, before anything imports TensorFlow: the GPU path (plugin discovery, placement, asynchrony,
    # device memory) then runs in this session and in every CLI or sweep worker it starts (they inherit the
    # variable). Tests that need it take the `standin_device` fixture, which skips with the reason when it is absent.
    from simplenn.system import plugins, standin

    if config.getoption("standin") == "off":
        config.stash[_STANDIN_MISSING] = "the stand-in GPU is off (--standin off)"
    elif not os.environ.get(plugins.ENV):
        try:
            os.environ[plugins.ENV] = str(standin.build())
        except standin.CannotBuild as e:
            config.stash[_STANDIN_MISSING] = f"the stand-in GPU cannot be built here: {e}"
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


def pytest_report_header(config: pytest.Config) -> list[str]:
    missing = config.stash.get(_STANDIN_MISSING, "")
    return [f"stand-in GPU: {missing}" if missing else f"SIMPLENN_PLUGIN: {os.environ.get('SIMPLENN_PLUGIN')}"]


@pytest.fixture(scope="session")
def standin_device(request) -> str:
    """The stand-in GPU's TensorFlow name ('SIMGPU:0') in this session; skips, saying why, when it is not loaded."""
    missing = request.config.stash.get(_STANDIN_MISSING, "")
    if missing:
        pytest.skip(missing)
    from simplenn.system import plugins, standin
    from simplenn.system.devices import list_devices

    names = [d.name for d in list_devices() if d.description == standin.PLATFORM]
    if not names:
        pytest.skip(f"{plugins.ENV}={os.environ.get(plugins.ENV)} does not load the stand-in GPU")
    return names[0]
