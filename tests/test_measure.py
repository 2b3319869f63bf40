"""The measurement core on two logical CPUs: placement, statuses, block calibration, real synchronisation, and an
independent perf_counter check. Times are only compared with each other (ratios), never with constants."""
from __future__ import annotations

import statistics
import time
from dataclasses import replace

import numpy as np
import pytest

from simplenn.core.cases import Case
from simplenn.core.errors import FieldError, UsageError
from simplenn.measure.cell import Settings, measure, time_blocks
from simplenn.nn.model import sgd_step, tf
from simplenn.store.results import rows, frame
from simplenn.measure.runners.base import Unsupported
from simplenn.measure.runners.scratch import ScratchRunner
from simplenn.cli.run import FIELD_FLAGS
from doubles import RetracingRunner
from tiny import CPU0, CPU1, FAST, METAL, TINY



def _keep(runners):
    """A make_runner that builds the normal ScratchRunner and keeps it for inspection."""

    def make(case, seed):
        runner = ScratchRunner(case, seed)
        runners.append(runner)
        return runner

    return make


@pytest.mark.parametrize("device", [CPU0, CPU1], ids=["CPU:0", "CPU:1"])
def test_cell_runs_on_the_requested_device(device):
    runners = []
    result = measure(Case(device.name, 8, TINY), FAST, device, make_runner=_keep(runners))
    assert result.status == "ok", result.reason
    assert result.case.device == device.name
    assert result.placement and all(v.endswith(f"device:{device.name}") for v in result.placement.values())
    (runner,) = runners
    for p in runner.network.params:
        assert p.device.endswith(f"device:{device.name}"), p.name
    assert runner.x.device.endswith(device.name) and runner.loss.device.endswith(device.name)
    assert len(result.block_s) >= FAST.min_blocks and sum(result.block_s) >= FAST.min_time_s
    assert result.n_traces == 1 and np.isfinite(result.final_loss) and result.trace_s > 0


def test_retracing_step_is_invalid_not_timed():
    result = measure(Case("CPU:0", 8, TINY), FAST, CPU0, make_runner=RetracingRunner)
    assert result.status == "invalid"
    assert "retrac" in result.reason
    assert result.block_s == () and result.n_steps == 0
    assert result.n_traces >= 2


class NaNLabelRunner(ScratchRunner):
    def __init__(self, case, seed):
        super().__init__(case, seed)
        with tf.device(case.device):
            self.y = tf.fill(self.y.shape, float("nan"))


class NaNInputRunner(ScratchRunner):
    """NaN pixels: the weights of the first layer turn NaN while the loss stays finite (the fused
    MatMul+BiasAdd+ReLU maps NaN to 0), so only a check of the parameters catches it."""

    def __init__(self, case, seed):
        super().__init__(case, seed)
        with tf.device(case.device):
            self.x = tf.fill(self.x.shape, float("nan"))


class HugeStepRunner(ScratchRunner):
    """Learning rate 1e30: the weights blow up to inf within a few steps and the loss becomes non-finite."""

    def __init__(self, case, seed):
        super().__init__(case, seed)
        self.network.learning_rate = 1e30
        from simplenn.nn.model import make_train_step

        self.fn = make_train_step(self.network)


@pytest.mark.parametrize(
    "runner, words",
    [(NaNLabelRunner, "non-finite loss"), (HugeStepRunner, "non-finite loss"), (NaNInputRunner, "non-finite parameters")],
)
def test_non_finite_training_is_invalid(runner, words):
    result = measure(Case("CPU:0", 8, TINY, loss="softmax"), FAST, CPU0, make_runner=runner)
    assert result.status == "invalid"
    assert words in result.reason


def test_blocks_are_calibrated_to_the_minimum_block_time(monkeypatch):
    clock = [0.0]
    # A fake clock, 0.5 ms per step exactly: a loaded machine (sleep overshoot) cannot make it pass or fail.
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    calls = []

    def run(n):
        calls.append(n)
        clock[0] += 0.0005 * n

    settings = Settings(min_block_s=0.01, min_blocks=4, min_time_s=0.05)
    n, blocks, calibration = time_blocks(run, lambda: None, settings)
    assert n > 1 and calls[0] == 1  # it started from one step and grew
    assert all(b >= settings.min_block_s for b in blocks)
    assert len(blocks) >= settings.min_blocks and sum(blocks) >= settings.min_time_s
    assert calibration[-1 - settings.warmup_blocks] >= settings.min_block_s  # the block that stopped calibration
    assert all(c < settings.min_block_s for c in calibration[: -1 - settings.warmup_blocks])
    # Every timed and warm-up block ran the calibrated n steps.
    assert calls[-(len(blocks) + settings.warmup_blocks):] == [n] * (len(blocks) + settings.warmup_blocks)
    assert len(calls) == len(blocks) + len(calibration)

    # Per-step time × n is the block time in the tidy table (the one place step_s is derived).
    case = Case("CPU:0", 8, TINY)
    from simplenn.core.records import CellRecord

    record = CellRecord(case, "ok", n_steps=n, block_s=tuple(blocks)).to_json()
    df = frame(rows("run", "machine", [record]))
    assert len(df) == len(blocks)
    np.testing.assert_allclose(df["step_s"] * df["n_steps"], df["block_s"], rtol=1e-12)
    np.testing.assert_allclose(df["block_s"], blocks)
    np.testing.assert_allclose(df["step_s"], 0.0005, rtol=1e-9)  # the fake clock's 0.5 ms per step


def test_one_slow_calibration_block_does_not_leave_blocks_short():
    calls = []

    def run(n):
        calls.append(n)
        # The first block (one step) is hit by a 30 ms stall (another process on a shared vCPU).
        time.sleep(0.0005 * n + (0.03 if len(calls) == 1 else 0))

    settings = Settings(min_block_s=0.02, min_blocks=3, min_time_s=0.05)
    n, blocks, _ = time_blocks(run, lambda: None, settings)
    assert n >= 30 and calls[:2] == [1, 1]  # the stalled one-step block was not taken at its word
    assert all(b >= settings.min_block_s for b in blocks)


def test_check_stops_timing():
    from simplenn.measure.cell import Invalid

    seen = []

    def check():
        seen.append(1)
        if len(seen) > 2:
            raise Invalid("stop")

    with pytest.raises(Invalid):
        time_blocks(lambda n: time.sleep(0.002 * n), lambda: None, FAST, check)


class SlowUpdateRunner(ScratchRunner):
    """Each step's first-weight update also depends on a 1024×1024 float32 matmul (≈ 2 GFLOP, ~10 ms here)."""

    def __init__(self, case, seed):
        super().__init__(case, seed)
        network = self.network
        with tf.device(case.device):
            self.big = tf.Variable(tf.random.stateless_uniform((1024, 1024), seed=(5, 6)) / 1024.0)

        big = self.big

        @tf.function(input_signature=[tf.TensorSpec((None, case.layer_sizes[0])), tf.TensorSpec((None, case.layer_sizes[-1]))])
        def step(x, y):
            loss = sgd_step(network, x, y)
            extra = tf.matmul(big, big)
            # Adds exactly 0 but cannot be computed before the matmul: the update depends on the extra work.
            network.weights[0].assign_add(tf.zeros_like(network.weights[0]) * extra[0, 0])
            return loss

        self.fn = step


def _median_step(result):
    assert result.status == "ok", result.reason
    return statistics.median(b / result.n_steps for b in result.block_s)


@pytest.fixture()
def asynchronous_execution():
    """Eager calls return before their work is done, as on a GPU: a timer that does not wait would be caught."""
    tf.config.experimental.set_synchronous_execution(False)
    try:
        yield
    finally:
        tf.config.experimental.set_synchronous_execution(True)


@pytest.mark.slow
def test_synchronisation_waits_for_the_update(asynchronous_execution):
    # Inside CPU:0's scope: a tf.function called outside any scope runs on the highest-priority device (a GPU,
    # or the stand-in GPU the test session loads).
    with tf.device("CPU:0"):
        _synchronisation_waits_for_the_update()


def _synchronisation_waits_for_the_update():
    case = Case("CPU:0", 8, TINY)
    # The premise: here, enqueuing steps returns long before they are done, and sync() waits for them.
    runner = SlowUpdateRunner(case, 0)
    runner.run(1)
    runner.sync()
    t0 = time.perf_counter()
    runner.run(3)
    enqueued_s = time.perf_counter() - t0
    runner.sync()
    synced_s = time.perf_counter() - t0
    assert enqueued_s < 0.5 * synced_s, (enqueued_s, synced_s)

    big = runner.big

    @tf.function
    def extra_work():
        return tf.matmul(big, big)[0, 0]

    extra_work().numpy()
    normal, slow, extra = [], [], []
    for _ in range(2):  # interleaved
        normal.append(_median_step(measure(case, FAST, CPU0)))
        slow.append(_median_step(measure(case, FAST, CPU0, make_runner=SlowUpdateRunner)))
        t0 = time.perf_counter()
        extra_work().numpy()
        extra.append(time.perf_counter() - t0)
    # The extra matmul is many times the tiny step; if the timed blocks did not wait for it, the two would be alike
    # (a no-op sync gives slow ≈ 1.7 × normal here: only the dispatch of the bigger function shows).
    assert statistics.median(extra) > 5 * max(normal), (normal, extra)
    assert min(slow) > 1.5 * max(normal), (normal, slow)
    assert min(slow) - max(normal) > 0.5 * min(extra), (normal, slow, extra)


@pytest.mark.slow
def test_suite_agrees_with_a_plain_perf_counter_loop():
    """CPU:0, batch 256, 784-100-30-10: the suite's median per-step time is within 2× of a hand-timed loop."""
    case = Case("CPU:0", 256, (784, 100, 30, 10))
    suite, plain = [], []
    for _ in range(3):  # interleaved rounds
        runners = []
        suite.append(_median_step(measure(case, FAST, CPU0, make_runner=_keep(runners))))
        runner = runners[0]
        per_step = []
        with tf.device(case.device):  # as measure(): outside any scope the calls would go to a GPU if one is present
            for _ in range(3):
                t0 = time.perf_counter()
                for _ in range(20):
                    loss = runner.fn(runner.x, runner.y)
                float(loss.numpy())
                float(runner.network.weights[0][0, 0].numpy())
                per_step.append((time.perf_counter() - t0) / 20)
        plain.append(statistics.median(per_step))
    ratio = statistics.median(suite) / statistics.median(plain)
    assert 0.5 < ratio < 2.0, (suite, plain)


@pytest.mark.parametrize(
    "case, words",
    [
        (Case("GPU:0", 8, TINY, jit=True), "XLA"),
        (Case("GPU:0", 8, TINY, dtype="float64"), "float64"),
    ],
)
def test_metal_unsupported_cases(case, words):
    result = measure(case, FAST, METAL)
    assert result.status == "unsupported"
    assert words in result.reason and "Metal" in result.reason
    assert result.backend == "metal" and result.device_kind == "gpu" and result.block_s == ()


def test_metal_supported_case_reaches_the_runner():
    # Any machine: a plain float32 case on a Metal device passes the unsupported check and is handed to the runner.
    reached = []

    def make(case, seed):
        reached.append(case)
        raise Unsupported("stopped at the runner")

    result = measure(Case("GPU:0", 8, TINY), FAST, METAL, make_runner=make)
    assert [c.device for c in reached] == ["GPU:0"] and result.reason == "stopped at the runner"


def test_a_missing_gpu_is_not_measured(no_gpu):
    # Without a GPU: the same case fails on the missing device, and not with a Metal reason.
    result = measure(Case("GPU:0", 8, TINY), FAST, METAL)
    assert result.status != "ok" and "Metal" not in result.reason


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": -8}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"batch_size": 8, "layer_sizes": ()}, "layer_sizes"),
        ({"batch_size": 8, "layer_sizes": (784,)}, "layer_sizes"),
        ({"batch_size": 8, "layer_sizes": (784, 0, 10)}, "layer_sizes"),
        ({"batch_size": 8, "dtype": "int8"}, "dtype"),
        ({"batch_size": 8, "loss": "hinge"}, "loss"),
        ({"batch_size": 8, "mode": "async"}, "mode"),
    ],
)
def test_case_validation(kwargs, field):
    """Below the CLI an error names the field; the CLI maps it to the flag (FieldError.as_flag)."""
    with pytest.raises(FieldError, match=f"^{field}: ") as info:
        Case("CPU:0", **kwargs)
    assert isinstance(info.value, ValueError) and info.value.field == field
    assert str(info.value.as_flag(FIELD_FLAGS)).startswith("--")  # every Case field has a `run` flag


@pytest.mark.parametrize(
    "kwargs",
    [{"min_time_s": 0}, {"min_time_s": -1.0}, {"min_block_s": 0}, {"min_block_s": float("nan")},
     {"min_blocks": 0}, {"min_blocks": 10, "max_blocks": 5}],
)
def test_settings_validation(kwargs):
    with pytest.raises(UsageError):
        Settings(**kwargs)


def test_case_ids():
    assert Case("CPU:0", 256, (784, 100, 30, 10)).id == "cpu-b256-w100x30"
    assert Case("CPU:1", 8, TINY, loss="softmax").id == "cpu1-b8-w16x8x4-softmax"
    assert Case("GPU:0", 32, dtype="float16", jit=True).id == "gpu-b32-w100x30-f16-xla"


def test_a_runner_on_the_wrong_device_is_invalid():
    from dataclasses import replace

    def elsewhere(case, seed):
        return ScratchRunner(replace(case, device="CPU:0"), seed)

    result = measure(Case("CPU:1", 8, TINY), FAST, CPU1, make_runner=elsewhere)
    assert result.status == "invalid"
    assert "wrong placement" in result.reason and "CPU:0" in result.reason


@pytest.mark.slow
def test_host_overhead_is_non_negative_within_noise_on_a_tiny_grid():
    """Per-call minus in-graph, measured for real: clearly positive where dispatch dominates (batch 8)."""
    from simplenn.analyse.report import host_overhead_table

    records = []
    for seq, (batch, mode) in enumerate((b, m) for b in (8, 256) for m in ("per-call", "in-graph")):
        result = measure(Case("CPU:0", batch, (64, 32, 10), mode=mode), Settings(min_block_s=0.01, min_blocks=5, max_time_s=0.3,
                                                                              min_time_s=0.1), CPU0)
        assert result.status == "ok", result.reason
        records.append(replace(result, seq=seq).to_json())
    host = host_overhead_table(frame(rows("run", "machine", records))).set_index("batch_size")
    # One compiled call costs ~0.1-0.5 ms here; the in-graph step of this tiny network a few µs.
    assert host.loc[8, "host_overhead_s"] > 0.5 * host.loc[8, "per_call_step_s"]
    assert host.loc[256, "host_overhead_s"] > -0.25 * host.loc[256, "per_call_step_s"]


class SyntheticDevice:
    """A device on an injected clock: run(n) costs n × step_s × (1 + jitter), sync() costs fixed_s."""

    def __init__(self, step_s: float, jitter: float = 0.0, fixed_s: float = 0.0, seed: int = 0):
        self.now, self.step_s, self.jitter, self.fixed_s = 0.0, step_s, jitter, fixed_s
        self.rng = np.random.default_rng(seed)
        self.calls: list[int] = []

    def clock(self) -> float:
        return self.now

    def run(self, n: int) -> None:
        self.calls.append(n)
        noise = self.rng.lognormal(0.0, self.jitter) if self.jitter else 1.0
        self.now += n * self.step_s * noise

    def sync(self) -> None:
        self.now += self.fixed_s


ADAPTIVE = Settings(min_block_s=0.05, min_blocks=6, min_time_s=0.3, precision=0.02, max_time_s=3.0)


def test_a_quiet_device_stops_at_the_minimum_with_its_precision_reached():
    device = SyntheticDevice(step_s=1e-3, jitter=0.002)
    n, blocks, _ = time_blocks(device.run, device.sync, ADAPTIVE, clock=device.clock)
    assert len(blocks) == 6 and ADAPTIVE.min_time_s <= sum(blocks) < ADAPTIVE.max_time_s
    reached, imprecise = ADAPTIVE.stop_rule().reached(blocks)
    assert reached <= ADAPTIVE.precision and not imprecise


def test_a_noisy_device_runs_to_the_time_limit_and_is_flagged_imprecise():
    device = SyntheticDevice(step_s=1e-3, jitter=0.4)
    n, blocks, _ = time_blocks(device.run, device.sync, ADAPTIVE, clock=device.clock)
    assert sum(blocks) >= ADAPTIVE.max_time_s > sum(blocks[:-1])  # stopped by the limit, at the first block past it
    reached, imprecise = ADAPTIVE.stop_rule().reached(blocks)
    assert imprecise and reached > ADAPTIVE.precision


def test_a_moderately_noisy_device_gets_more_blocks_until_precise():
    device = SyntheticDevice(step_s=1e-3, jitter=0.05)
    n, blocks, _ = time_blocks(device.run, device.sync, ADAPTIVE, clock=device.clock)
    assert 6 < len(blocks) and sum(blocks) < ADAPTIVE.max_time_s
    reached, imprecise = ADAPTIVE.stop_rule().reached(blocks)
    assert reached <= ADAPTIVE.precision and not imprecise


def test_a_fixed_per_block_cost_lengthens_the_blocks_until_it_is_below_half_the_precision():
    """A 2 ms read-back per block (an asynchronous GPU's sync): 50 ms blocks would carry 4 % of it."""
    slow_sync = SyntheticDevice(step_s=1e-4, fixed_s=0.002)
    n, blocks, _ = time_blocks(slow_sync.run, slow_sync.sync, ADAPTIVE, clock=slow_sync.clock)
    assert all(0.002 / b <= ADAPTIVE.precision / 2 * 1.05 for b in blocks), (n, blocks[:3])
    fast_sync = SyntheticDevice(step_s=1e-4, fixed_s=1e-5)
    m, fast_blocks, _ = time_blocks(fast_sync.run, fast_sync.sync, ADAPTIVE, clock=fast_sync.clock)
    assert max(fast_blocks) < 0.1 and n > 3 * m  # without the fixed cost, the 50 ms floor is enough
