"""Measure one Case: build its runner on the device, trace, warm up, time calibrated blocks, check the result.

The per-block protocol (the only place time is taken):
  run(n) enqueues n training steps; sync() reads back, on the host, a value that depends on every parameter's
  last update — on an asynchronous GPU, fetching the loss would prove only that the loss was computed.
  block_s = perf_counter() after sync − perf_counter() before run(n). Per-step time = block_s / n is derived
  in exactly one place (simplenn.timing.per_step_s).
"""
from __future__ import annotations

import math
import time

import numpy as np
from collections.abc import Callable
from dataclasses import dataclass, field

from simplenn.cases import Case, check_seconds, unsupported_reason
from simplenn.data import synthetic_batch
from simplenn.devices import Device, short_name
from simplenn.errors import FieldError
from simplenn.placement import is_placement_error, placement_reason
from simplenn.runners import Runner, Unsupported, runner


@dataclass(frozen=True)
class Settings:
    """How long to measure. Defaults: blocks ≥ 50 ms, ≥ 5 blocks and ≥ 0.5 s of timed blocks per cell."""

    min_block_s: float = 0.05
    min_blocks: int = 5
    min_time_s: float = 0.5
    max_blocks: int = 200
    warmup_blocks: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        check_seconds(self.min_block_s, "min_block_s")
        check_seconds(self.min_time_s, "min_time_s")
        if self.min_blocks < 1 or self.max_blocks < self.min_blocks:
            raise FieldError("min_blocks", f"must be ≥ 1 and ≤ max_blocks ({self.max_blocks}), got {self.min_blocks}")


@dataclass(frozen=True)
class CellResult:
    """One measured cell: status, every raw block time, and what was checked along the way."""

    case: Case
    status: str
    reason: str = ""
    trace_s: float | None = None
    n_steps: int = 0  # steps per timed block
    block_s: tuple[float, ...] = ()
    calibration_s: tuple[float, ...] = ()
    peak_bytes: int | None = None
    placement: dict = field(default_factory=dict)
    final_loss: float | None = None
    n_traces: int | None = None
    backend: str = "none"
    device_kind: str = "cpu"

    def to_record(self) -> dict:
        return {
            "kind": "cell", "id": self.case.id, "case": self.case.to_dict(), "status": self.status,
            "reason": self.reason, "trace_s": self.trace_s, "n_steps": self.n_steps, "block_s": list(self.block_s),
            "calibration_s": list(self.calibration_s), "peak_bytes": self.peak_bytes, "placement": self.placement,
            "final_loss": self.final_loss, "n_traces": self.n_traces, "backend": self.backend,
            "device_kind": self.device_kind,
        }


class Invalid(Exception):
    """The cell cannot give a trustworthy number; the message says why."""


def time_blocks(run: Callable[[int], None], sync: Callable[[], object], settings: Settings,
                check: Callable[[], None] = lambda: None) -> tuple[int, list[float], list[float]]:
    """Calibrate n so one block of n steps lasts ≥ min_block_s, warm up, then time blocks.

    Returns (n, timed block seconds, calibration block seconds). Calibration ends with two consecutive blocks
    of n steps ≥ min_block_s (the second is the first warm-up block); calibration and warm-up blocks are kept
    apart from the timed ones. `check()` runs after every block and raises Invalid to stop early (retracing).
    """
    def timed(n: int) -> float:
        t0 = time.perf_counter()
        run(n)
        sync()
        dt = time.perf_counter() - t0
        check()
        return dt

    calibration: list[float] = []

    def block(n: int) -> float:
        calibration.append(timed(n))
        return calibration[-1]

    n = 1
    while True:
        dt = block(n)
        if dt >= settings.min_block_s:
            # A stall (another process on a shared vCPU) can make one block long enough by accident: a second
            # block of n steps, which is also the first warm-up block, must confirm it.
            dt = block(n)
            if dt >= settings.min_block_s:
                break
        # Aim 20 % past the target so noise does not leave the next block short; at most ×100 per round.
        n = max(n + 1, min(n * 100, math.ceil(n * 1.2 * settings.min_block_s / max(dt, 1e-9))))
    for _ in range(settings.warmup_blocks - 1):
        block(n)
    blocks: list[float] = []
    while len(blocks) < settings.max_blocks and (len(blocks) < settings.min_blocks or sum(blocks) < settings.min_time_s):
        blocks.append(timed(n))
    return n, blocks, calibration


def reset_peak_bytes(tf, device: str) -> None:
    """Reset the device allocator's peak, where the allocator keeps statistics."""
    try:
        tf.config.experimental.reset_memory_stats(device)
    except (ValueError, RuntimeError, AttributeError):
        pass


def peak_bytes(tf, device: str) -> int | None:
    """Peak bytes of TensorFlow's allocator on the device since the reset (None where it is not tracked)."""
    try:
        peak = tf.config.experimental.get_memory_info(device)["peak"]
    except (ValueError, RuntimeError, AttributeError):
        return None
    return int(peak) if peak else None


def measure(case: Case, settings: Settings = Settings(), device: Device | None = None,
            make_runner: Callable[[Case, int], Runner] | None = None) -> CellResult:
    """Measure one cell and give it a status: ok, invalid (why), unsupported (why) or oom.

    `make_runner(case, seed)` builds the runner (default: simplenn.runners.runner).
    """
    from simplenn.tfimport import tensorflow

    tf = tensorflow()
    device = device or Device(case.device, case.device.split(":")[0].lower(), "none")
    common = {"case": case, "backend": device.backend, "device_kind": device.kind}
    reason = unsupported_reason(case, device.backend)
    if reason:
        return CellResult(status="unsupported", reason=reason, **common)
    strict_device(tf, case.device)
    runner_box: list = []  # the runner, once built, so a failure can still report its trace count
    # Calls are made inside the device scope too: a tf.function called outside it places its call op (and
    # its outputs) on the default device.
    try:
        with tf.device(case.device):
            return _measure_on_device(case, settings, make_runner or runner, common, runner_box)
    except Unsupported as e:  # a peer implementation that is not installed or cannot run this case
        return CellResult(status="unsupported", reason=str(e), **common)
    except Invalid as e:
        return CellResult(status="invalid", reason=str(e), n_traces=runner_box[0].n_traces() if runner_box else None,
                          **common)
    except tf.errors.ResourceExhaustedError as e:
        return CellResult(status="oom", reason=_first_line(e), **common)
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, tf.errors.UnimplementedError) as e:
        # The whole message, not its first line: the op types of a colocation failure follow on later lines.
        text = getattr(e, "message", None) or str(e)
        if is_placement_error(text):
            return CellResult(status="unsupported", reason=placement_reason(text, case.device, case.mode, case.jit),
                              **common)
        return CellResult(status="invalid", reason=_first_line(e), **common)
    except MemoryError as e:
        return CellResult(status="oom", reason=f"host memory exhausted: {e}", **common)


def first_call(runner: Runner) -> tuple[float, int | None]:
    """Time the first call (tracing/compilation) on its own; returns (seconds, trace count after it)."""
    t0 = time.perf_counter()
    runner.run(1)
    runner.sync()
    return time.perf_counter() - t0, runner.n_traces()


def strict_device(tf, device: str) -> None:
    """Strict placement (an op without a kernel on `device` is an error, never a silent CPU fallback); fresh peak."""
    tf.config.set_soft_device_placement(False)
    reset_peak_bytes(tf, device)


def retrace_check(runner: Runner, traces_after_first: int | None) -> Callable[[], None]:
    """A check() for time_blocks that raises Invalid once the runner has traced again since its first call."""
    def check() -> None:
        count = runner.n_traces()
        if traces_after_first is not None and count != traces_after_first:
            raise Invalid(f"retraced during timing ({count} traces after {traces_after_first}); times would include tracing")

    return check


def validate(runner: Runner, case: Case, after: str) -> tuple[float, dict]:
    """Raise Invalid unless loss and parameters are finite and the variables sit on case.device; (loss, placement)."""
    loss = runner.last_loss()
    placement = runner.placement()
    if not math.isfinite(loss):
        raise Invalid(f"non-finite loss ({loss}) after {after}")
    # The loss alone is not enough: the fused MatMul+BiasAdd+ReLU maps NaN to 0, so NaN weights can give a finite loss.
    checksum = runner.sync()
    if isinstance(checksum, (int, float)) and not math.isfinite(checksum):
        raise Invalid(f"non-finite parameters (checksum {checksum}) after {after}")
    wrong = {k: v for k, v in placement.items() if v and short_name(v).upper() != case.device.upper()}
    if wrong:
        raise Invalid(f"wrong placement: requested {case.device}, found {wrong}")
    return loss, placement


def _measure_on_device(case: Case, settings: Settings, make_runner, common: dict, runner_box: list) -> CellResult:
    """Trace call timed apart, calibrated blocks with a retrace check between them, then validity checks."""
    from simplenn.tfimport import tensorflow

    runner = make_runner(case, settings.seed)
    runner_box.append(runner)
    trace_s, traces_after_first = first_call(runner)
    n, blocks, calibration = time_blocks(runner.run, runner.sync, settings, retrace_check(runner, traces_after_first))
    loss, placement = validate(runner, case, f"{len(blocks)} blocks")
    return CellResult(
        status="ok", trace_s=trace_s, n_steps=n, block_s=tuple(blocks), calibration_s=tuple(calibration),
        # TensorFlow's allocator says nothing about torch's or jax's memory.
        peak_bytes=peak_bytes(tensorflow(), case.device) if case.impl in ("scratch", "keras") else None,
        placement=placement, final_loss=loss,
        n_traces=runner.n_traces(), **common,
    )


def _first_line(e: BaseException) -> str:
    text = getattr(e, "message", None) or str(e)
    return text.strip().splitlines()[0][:300] if text.strip() else e.__class__.__name__


@dataclass(frozen=True)
class Ceiling:
    """A device's measured matmul throughput: the ceiling a training step's GFLOP/s is compared with."""

    device: str
    n: int
    dtype: str
    n_steps: int
    block_s: tuple[float, ...]

    @property
    def gflops(self) -> float:
        """2·n³ FLOPs per matmul × matmuls per block / median block seconds / 1e9."""
        return 2.0 * self.n**3 * self.n_steps / float(np.median(self.block_s)) / 1e9

    def to_dict(self) -> dict:
        return {"kind": "ceiling", "device": self.device, "n": self.n, "dtype": self.dtype, "n_steps": self.n_steps,
                "block_s": list(self.block_s), "gflops": self.gflops,
                "formula": "GFLOP/s = 2·n³ × matmuls per block / median block seconds / 1e9"}


def probe_ceiling(device: str, n: int = 2048, dtype: str = "float32", settings: Settings = Settings(min_time_s=0.3)) -> Ceiling:
    """Time chained n×n matmuls on `device` with the same block protocol as a training step."""
    from simplenn.tfimport import tensorflow

    tf = tensorflow()
    from simplenn.hostinit import host_uniform

    with tf.device(device):  # drawn on the host and copied once: no random op runs on the measured device
        a = tf.Variable(host_uniform(1, (n, n), dtype, scale=1.0 / n))
        b = tf.Variable(host_uniform(3, (n, n), dtype))

    @tf.function(input_signature=[tf.TensorSpec((), tf.int32)])
    def chain(k):
        for _ in tf.range(k):
            a.assign(tf.matmul(a, b) / n)  # rescaled so values stay finite; each matmul depends on the last
        return a[0, 0]

    state = {}

    def run(k: int) -> None:
        state["out"] = chain(tf.constant(k, tf.int32))

    def sync() -> float:
        return float(state["out"].numpy())

    run(1)
    sync()
    steps, blocks, _ = time_blocks(run, sync, settings)
    return Ceiling(device, n, dtype, steps, tuple(blocks))
