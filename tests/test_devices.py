"""Device selection by friendly or TensorFlow name, the absent-device error, and backend detection."""
from __future__ import annotations

import pytest

from simplenn.system.devices import backend_of, list_devices, select, setup_logical_cpus, short_name
from simplenn.core.errors import UsageError
from simplenn.cli.run import FIELD_FLAGS
from tiny import CPU0, CPU1, METAL

MAC = [CPU0, METAL]
TWO_CPUS = [CPU0, CPU1]


@pytest.mark.parametrize(
    "requested, present, expected",
    [
        (["cpu"], MAC, [CPU0]),
        (["gpu"], MAC, [METAL]),
        (["all"], MAC, [CPU0, METAL]),
        (["cpu", "gpu"], MAC, [CPU0, METAL]),
        (["GPU:0"], MAC, [METAL]),
        (["gpu:0"], MAC, [METAL]),
        (["/device:GPU:0"], MAC, [METAL]),
        (["/job:localhost/replica:0/task:0/device:CPU:1"], TWO_CPUS, [CPU1]),
        (["CPU:1", "cpu"], TWO_CPUS, [CPU1, CPU0]),
        (["cpu", "CPU:0", " cpu "], TWO_CPUS, [CPU0]),  # duplicates collapse
        (["all"], TWO_CPUS, [CPU0, CPU1]),
    ],
)
def test_select(requested, present, expected):
    assert select(requested, present) == expected


def test_absent_gpu_lists_present_devices_and_why():
    with pytest.raises(UsageError) as info:
        select(["gpu"], TWO_CPUS, "tensorflow-metal is not installed")
    message = str(info.value)
    assert message.startswith("devices: 'gpu' is not present")  # the field; `run` names its flag
    assert str(info.value.as_flag(FIELD_FLAGS)).startswith("--devices: 'gpu' is not present")
    assert "CPU:0, CPU:1" in message and "tensorflow-metal is not installed" in message


def test_absent_cpu_does_not_blame_the_gpu():
    with pytest.raises(UsageError) as info:
        select(["CPU:5"], TWO_CPUS, "tensorflow-metal is not installed")
    assert "CPU:0, CPU:1" in str(info.value) and "metal" not in str(info.value)


def test_absent_device_names_the_callers_option():
    with pytest.raises(UsageError, match="^--device: 'tpu' is not present"):
        select(["tpu"], TWO_CPUS, option="--device")


def test_nothing_present():
    with pytest.raises(UsageError, match="TensorFlow sees: none"):
        select(["cpu"], [])


@pytest.mark.parametrize(
    "kind, details, platform, metal, cuda, rocm, expected",
    [
        ("cpu", {"device_name": "METAL"}, "darwin", True, False, False, "none"),
        ("gpu", {"device_name": "METAL"}, "darwin", True, False, False, "metal"),
        ("gpu", {"device_name": "metal"}, "linux", False, False, False, "metal"),
        ("gpu", {}, "darwin", True, False, False, "metal"),  # details can be empty under the plugin
        ("gpu", {"compute_capability": (8, 6), "device_name": "NVIDIA A100"}, "linux", False, True, False, "cuda"),
        ("gpu", {"compute_capability": (7, 5)}, "linux", False, False, False, "cuda"),
        ("gpu", {}, "linux", False, True, False, "cuda"),
        ("gpu", {}, "linux", False, False, True, "rocm"),
        ("gpu", {}, "linux", False, False, False, "unknown"),
        ("gpu", {}, "darwin", False, False, False, "unknown"),
    ],
)
def test_backend_of(kind, details, platform, metal, cuda, rocm, expected):
    assert backend_of(kind, details, platform, metal, cuda, rocm) == expected


def test_short_name():
    assert short_name("/job:localhost/replica:0/task:0/device:CPU:1") == "CPU:1"
    assert short_name("/device:GPU:0") == "GPU:0"
    assert short_name("CPU:0") == "CPU:0"


def test_session_sees_two_logical_cpus():
    # The test session splits the CPU in two (conftest); a second call with the same count is a no-op.
    setup_logical_cpus(2)
    names = [d.name for d in list_devices() if d.kind == "cpu"]
    assert names == ["CPU:0", "CPU:1"]
    assert all(d.backend == "none" for d in list_devices() if d.kind == "cpu")


def test_logical_cpus_cannot_change_after_start():
    n_cpus = sum(d.kind == "cpu" for d in list_devices())
    with pytest.raises(UsageError, match="^logical_cpus: .*already initialised"):
        setup_logical_cpus(n_cpus + 1)
    with pytest.raises(UsageError, match="^logical_cpus: must be an integer"):
        setup_logical_cpus(0)
