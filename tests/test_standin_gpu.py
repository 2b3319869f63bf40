"""The GPU path on the stand-in GPU, in this session: discovery, placement, asynchrony, device memory, parity.

The stand-in (native/standin_gpu/, docs/standin-gpu.md) is a TensorFlow PluggableDevice of type SIMGPU that the
session loads through SIMPLENN_PLUGIN (root conftest.py). Every test here takes `standin_device` and skips, saying
why, where it cannot be built. tests/test_standin_cli.py runs the CLI, a sweep and the benchmark suite on it.
"""
from __future__ import annotations

import ctypes
import warnings

import pytest

from simplenn.cli.info import collect
from simplenn.core.cases import Case, MatMul
from simplenn.measure.ceiling import probe_ceiling
from simplenn.measure.cell import Settings, measure
from simplenn.measure.parity import device_parity
from simplenn.measure.runners.scratch import ScratchRunner
from simplenn.nn.model import tf
from simplenn.system import plugins, standin
from simplenn.system.devices import Device, list_devices, select
from simplenn.system.placement import is_placement_error, missing_ops, placement_reason
from doubles import RetracingRunner
from tiny import FAST, TINY
from sync_checks import K, NoWait, ReadsLoss, check_value



@pytest.fixture(scope="module")
def gpu(standin_device) -> Device:
    return next(d for d in list_devices() if d.name == standin_device)


def test_listed_as_an_accelerator_with_its_platform_and_picked_by_gpu(gpu):
    assert gpu == Device(gpu.name, "gpu", "standin", standin.PLATFORM)
    assert gpu.name.startswith(standin.DEVICE_TYPE + ":")
    assert select(["gpu"], list_devices()) == [gpu]
    info = collect(logical_cpus=2, ceiling=False)
    assert gpu.to_dict() in info["devices"] and info["gpu_missing_reason"] is None


@pytest.mark.parametrize("mode", ["per-call", "in-graph"])
def test_a_float32_cell_runs_on_it_traces_once_and_reports_its_allocator_peak(gpu, mode):
    result = measure(Case(gpu.name, 8, TINY, mode=mode), FAST, gpu)
    assert result.status == "ok", result.reason
    assert all(v.endswith(f"device:{gpu.name}") for v in result.placement.values())
    assert result.n_traces == 1 and result.backend == "standin" and result.device_kind == "gpu"
    # TensorFlow's allocator over the plugin's memory (BFC, as for a CUDA GPU): at least the two float32 batches.
    assert result.peak_bytes and result.peak_bytes >= 8 * (TINY[0] + TINY[-1]) * 4


def test_a_retracing_step_is_invalid_on_it(gpu):
    result = measure(Case(gpu.name, 8, TINY), FAST, gpu, make_runner=RetracingRunner)
    assert result.status == "invalid" and "retrac" in result.reason


@pytest.mark.parametrize("mode", ["per-call", "in-graph"])
def test_float64_is_unsupported_because_its_ops_left_the_device(gpu, mode):
    # No float64 kernels, as on Metal: TensorFlow runs the step's float64 ops on the CPU inside the tf.function
    # without a word (soft placement off or not); the first call's placement record makes the cell unsupported.
    result = measure(Case(gpu.name, 8, TINY, dtype="float64", mode=mode), FAST, gpu)
    assert result.status == "unsupported", (result.status, result.reason)
    assert "`MatMul`" in result.reason and "float64" in result.reason and gpu.name in result.reason
    assert result.reason.startswith(f"{mode} runs ") and result.block_s == ()


def test_the_ceiling_probe_runs_on_it_with_strict_placement(gpu):
    # After a cell, soft placement is off for the process: the end-of-run probe's tf.zeros (Fill) must have a kernel.
    soft = tf.config.get_soft_device_placement()
    tf.config.set_soft_device_placement(False)
    try:
        ceiling = probe_ceiling(gpu.name, (MatMul(64, 128, 32, transpose_a=True),), settings=FAST)
    finally:
        tf.config.set_soft_device_placement(soft)
    assert ceiling.gflops > 0 and ceiling.device == gpu.name


def test_xla_is_unsupported_on_it(gpu):
    result = measure(Case(gpu.name, 8, TINY, jit=True), FAST, gpu)
    assert result.status == "unsupported" and "XLA (--jit on) has no compiler" in result.reason, result.reason


def _no_kernel_error(fn) -> str:
    soft = tf.config.get_soft_device_placement()
    tf.config.set_soft_device_placement(False)  # as measure's strict_device; soft placement on moves the op instead
    try:
        with pytest.raises((tf.errors.InvalidArgumentError, tf.errors.NotFoundError)) as caught:
            fn()
    finally:
        tf.config.set_soft_device_placement(soft)
    return getattr(caught.value, "message", None) or str(caught.value)


def test_tensorflows_real_no_kernel_errors_name_the_op(gpu):
    # The stand-in has no Log kernel. Pinned to it, eagerly or inside a tf.function, TensorFlow refuses at placement.
    x = tf.constant([1.0, 2.0])

    def eager():
        with tf.device(gpu.name):
            tf.math.log(x)

    @tf.function
    def pinned(v):
        with tf.device(gpu.name):
            return tf.math.log(v)

    for text in (_no_kernel_error(eager), _no_kernel_error(lambda: pinned(x))):
        assert is_placement_error(text) and missing_ops(text) == ("Log",), text
        assert placement_reason(text, gpu.name, "per-call").startswith(f"per-call needs `Log` on {gpu.name}")


@pytest.fixture
def queue_counters(gpu):
    """(enqueued, completed) task counts of the stand-in's queue, read through the library TensorFlow loaded."""
    path = next(p for p in plugins.plugin_paths() if "standin" in p.name)
    lib = ctypes.CDLL(str(path))
    for name in ("simplenn_standin_enqueued", "simplenn_standin_completed"):
        getattr(lib, name).restype = ctypes.c_uint64
    return lambda: (lib.simplenn_standin_enqueued(), lib.simplenn_standin_completed())


def check_standin_waits(runner, counters) -> None:
    """After run(k) the device is still working (checked, not assumed); after sync() all of it has run."""
    for k in (K, 4 * K, 16 * K):
        runner.run(k)
        enqueued, completed = counters()
        if completed < enqueued:
            break
        runner.sync()
    assert completed < enqueued, "run(k) should return while the stand-in's queue is still busy"
    runner.sync()
    assert counters()[1] >= enqueued, "sync() returned before the device ran the work enqueued by run(k)"


def test_sync_reads_the_last_update_after_the_device_ran_it(gpu, queue_counters):
    with tf.device(gpu.name):
        check_value(ScratchRunner(Case(gpu.name, 8, TINY)))
        check_standin_waits(ScratchRunner(Case(gpu.name, 8, TINY)), queue_counters)


def test_a_sync_that_does_not_wait_or_reads_only_the_loss_fails(gpu, queue_counters):
    with tf.device(gpu.name):
        with pytest.raises(AssertionError, match="sync\\(\\) returned before"):
            check_standin_waits(NoWait(ScratchRunner(Case(gpu.name, 8, TINY))), queue_counters)
        # Reading the loss back waits here (its copy queues behind the update on the one in-order queue), but it
        # is not the parameters' checksum: the value check catches it.
        with pytest.raises(AssertionError):
            check_value(ReadsLoss(ScratchRunner(Case(gpu.name, 8, TINY))))


@pytest.mark.parametrize("loss", ["sigmoid", "softmax"])
@pytest.mark.parametrize("mode", ["per-call", "in-graph"])
def test_device_parity_with_the_cpu(gpu, mode, loss):
    # Every kernel of both losses and both modes against the CPU's, after 4 steps, within the float32 tolerance.
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # device_parity warns on a mismatch: fail on it here
        result = device_parity(["CPU:0", gpu.name], layer_sizes=(64, 32, 10), batch_size=16, n_steps=4, mode=mode,
                               loss=loss)
    assert result.ok, result.to_dict()
