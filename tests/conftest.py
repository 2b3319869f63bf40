"""Fixtures for tests whose outcome depends on whether TensorFlow sees a GPU.

- `no_gpu`: the test checks what happens without a GPU; where TensorFlow sees one (a Mac whose Metal GPU works, a
  CUDA box) it is skipped with that reason instead of failing.
- `fake_metal_gpu`: `simplenn.system.devices.list_devices()` lists a working Metal `GPU:0` beside the real devices.
  This is how a Mac with a working GPU is simulated on Linux; code that asks `devices.list_devices()` sees it.
- `SIMPLENN_FAKE_GPU=1 pytest tests/...` applies the fake GPU to the whole session, to find the tests that assume
  there is none. It changes this process only: subprocesses (the bench suite, the sweep worker) see the real devices.
"""
from __future__ import annotations

import os

import pytest

from simplenn.system import devices
from simplenn.system.devices import Device

FAKE_METAL_GPU = Device("GPU:0", "gpu", "metal", "METAL")


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
