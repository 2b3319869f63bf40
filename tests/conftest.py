"""Fixtures shared by the tests. Session set-up (logical CPUs, the benchmark options) is in the root conftest.py.

- `synthetic_run`: a synthetic run folder (cheap, known truth); `real_run`: one real tiny run per session.
- `hide_package`: make `import name` fail for one test; `fake_worker`: `run` in-process with tiny.FakeWorker.
- `no_gpu`: the test checks what happens without a GPU; where TensorFlow sees one (a Mac whose Metal GPU works, a
  CUDA box) it is skipped with that reason instead of failing.
- `fake_metal_gpu`: `simplenn.system.devices.list_devices()` lists a working Metal `GPU:0` beside the real devices.
  This is how a Mac with a working GPU is simulated on Linux; code that asks `devices.list_devices()` sees it.
- `SIMPLENN_FAKE_GPU=1 pytest tests/...` applies the fake GPU to the whole session, to find the tests that assume
  there is none. It changes this process only: subprocesses (the bench suite, the sweep worker) see the real devices.

The builders these fixtures wrap live in plain modules beside this file (synthetic.py, tiny.py): tests import
those, never another test module (tests/test_suite_rules.py checks it).
"""
from __future__ import annotations

import importlib.abc
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from simplenn.system import devices
from simplenn.system.devices import Device
from synthetic import write_run
from tiny import METAL, TINY_RUN_FLAGS, FakeWorker

ROOT = Path(__file__).resolve().parents[1]
# Fixtures that make a test slow whatever else it does (each starts real runs, CLI processes or a resolver): a test
# asking for one is marked `slow` at collection, and so is every `network` test.
SLOW_FIXTURES = frozenset({"real_run", "machine_runs", "bench_run", "processes", "resolutions"})


def pytest_collection_modifyitems(session, config, items) -> None:
    """Mark `slow` every test that needs a real run, a process or the network, so `make test-fast` skips it."""
    for item in items:
        needs = SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
        if needs or (hasattr(item, "get_closest_marker") and item.get_closest_marker("network")):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def synthetic_run(tmp_path: Path) -> Path:
    """The default synthetic run folder (synthetic.write_run): two devices, two networks, two modes, extras."""
    return write_run(tmp_path / "m2pro-run")


@pytest.fixture(scope="session")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short real run on this machine (`simplenn-bench run`, tiny grid, two cells plus probes), made once.

    Shared by every test that needs a real run folder: copy it (shutil.copytree) before changing anything in it.
    """
    out = tmp_path_factory.mktemp("real") / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "simplenn.cli", "run", *TINY_RUN_FLAGS, "--out", str(out)],
                          cwd=tmp_path_factory.getbasetemp(), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


@pytest.fixture
def fake_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """`sweep.Worker` is a tiny.FakeWorker for this test: `simplenn-bench run` in-process measures nothing for real."""
    from simplenn import sweep

    monkeypatch.setattr(sweep, "Worker", lambda logical_cpus: FakeWorker())


@pytest.fixture
def hide_package(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """hide_package(name): `import name` fails for this test as on a machine without it; restored afterwards.

    The module is taken out of sys.modules rather than set to None: other libraries (scipy's array-API helpers,
    imported by Keras) look `torch` up there and would break on a None entry.
    """

    def hide(name: str) -> None:
        monkeypatch.delitem(sys.modules, name, raising=False)
        monkeypatch.setattr(sys, "meta_path", [_NotInstalled(name), *sys.meta_path])

    return hide


class _NotInstalled(importlib.abc.MetaPathFinder):
    """An import hook that makes one package (and its submodules) look absent."""

    def __init__(self, name: str):
        self.name = name

    def find_spec(self, fullname, path=None, target=None):
        if fullname == self.name or fullname.startswith(self.name + "."):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


# ------------------------------------------------------------------------ with or without a GPU

FAKE_METAL_GPU = METAL  # a Metal GPU:0 (tiny.METAL)


def _listing_with_fake_gpu(real):
    def list_devices() -> list[Device]:
        return [d for d in real() if d.kind != "gpu"] + [FAKE_METAL_GPU]

    return list_devices


@pytest.fixture()
def fake_metal_gpu(monkeypatch: pytest.MonkeyPatch) -> Device:
    """A working Metal GPU:0 in the device list (the rest of the list is the real one)."""
    monkeypatch.setattr(devices, "list_devices", _listing_with_fake_gpu(devices.list_devices))
    return FAKE_METAL_GPU


@pytest.fixture(scope="session", autouse=True)
def _fake_gpu_for_the_session():
    if os.environ.get("SIMPLENN_FAKE_GPU") != "1":
        yield
        return
    patch = pytest.MonkeyPatch()
    patch.setattr(devices, "list_devices", _listing_with_fake_gpu(devices.list_devices))
    yield
    patch.undo()


@pytest.fixture()
def no_gpu() -> None:
    """Skip, with the reason, where TensorFlow sees a GPU: the test checks behaviour that only holds without one."""
    gpus = [d.name for d in devices.list_devices() if d.kind == "gpu"]
    if gpus:
        pytest.skip(f"checks what happens without a GPU; TensorFlow sees {', '.join(gpus)} here")
