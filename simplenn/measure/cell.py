"""Measure one Case: build its runner on the device, trace, warm up, time calibrated blocks, check the result.

The per-block protocol (the only place time is taken):
  run(n) enqueues n training steps; sync() reads back, on the host, a value that depends on every parameter's
  last update — on an asynchronous GPU, fetching the loss would prove only that the loss was computed.
  block_s = perf_counter() after sync − perf_counter() before run(n). Per-step time = block_s / n is derived
  in exactly one place (simplenn.core.timing.per_step_s).
"""
from __future__ import annotations

import math
import time

import numpy as np
from collections.abc import Callable
from dataclasses import dataclass

from simplenn.core.cases import Case, check_seconds
from simplenn.core.records import CellRecord
from simplenn.system.devices import Device, short_name
from simplenn.core.errors import FieldError
from simplenn.system.placement import is_placement_error, placement_reason
from simplenn.measure.stop import StopRule
from simplenn.measure.audit import check_placement, recorded_placement
from simplenn.measure.devmem import out_of_memory, peak_bytes, reset_peak_bytes
from simplenn.measure.runners import DECLARED, Runner, Unsupported, runner, unsupported_reason
from simplenn.core.timing import per_step_s


@dataclass(frozen=True)
class Settings:
    """How long to measure a cell in one round: blocks ≥ 50 ms; then until its median is known to ±5 %, within 0.5 s.

    A cell gets at least `min_blocks` blocks and `min_time_s` seconds of timed blocks, then stops as soon as the
    95 % CI of its median is within ±`precision` of the median, or at `max_time_s` (flagged imprecise). The
    minimum wins over `max_time_s` when they disagree. Small on purpose: a second run sees the shift between
    processes (log SD ~0.085 per round here, issue 24), which blocks cannot shrink; rounds (`--rounds`) sample it.
    """

    min_block_s: float = 0.05
    min_blocks: int = 6  # fewer than 6 blocks give no 95 % order-statistic CI of the median
    min_time_s: float = 0.3
    max_blocks: int = 1000
    warmup_blocks: int = 1
    seed: int = 0
    precision: float = 0.05  # target relative half-width of the median's 95 % CI (one round)
    max_time_s: float = 0.5  # of timed blocks, per cell and round

    def __post_init__(self) -> None:
        check_seconds(self.min_block_s, "min_block_s")
        check_seconds(self.min_time_s, "min_time_s")
        check_seconds(self.max_time_s, "max_time_s")
        if self.min_blocks < 1 or self.max_blocks < self.min_blocks:
            raise FieldError("min_blocks", f"must be ≥ 1 and ≤ max_blocks ({self.max_blocks}), got {self.min_blocks}")
        if isinstance(self.precision, bool) or not isinstance(self.precision, (int, float)) or not 0 < self.precision < 1:
            raise FieldError("precision", f"must be a fraction between 0 and 1 (0.02 = ±2 %), got {self.precision!r}")

    def stop_rule(self) -> StopRule:
        """When timing a cell stops (see simplenn.measure.stop.StopRule)."""
        return StopRule(precision=self.precision, max_time_s=self.max_time_s, min_blocks=self.min_blocks,
                        min_time_s=self.min_time_s, max_blocks=self.max_blocks)


class Invalid(Exception):
    """The cell cannot give a trustworthy number; the message says why."""


ONE_STEP_BLOCKS = 5  # one-step blocks timed before calibration; the fastest is t(1)


def time_blocks(run: Callable[[int], None], sync: Callable[[], object], settings: Settings,
                check: Callable[[], None] = lambda: None, clock: Callable[[], float] | None = None
                ) -> tuple[int, list[float], list[float]]:
    """Calibrate n so one block of n steps lasts long enough, warm up, then time blocks until the median is precise.

    Returns (n, timed block seconds, calibration block seconds). `clock` (default time.perf_counter) is the
    timer, injectable for tests. `check()` runs after every block and raises Invalid to stop early (retracing).

    What is taken from where, and what is done differently for a device with dispatch latency:
    - pyperf (pyperf/_worker.py, calibrate_loops) doubles the loop count until one value lasts ≥ min_time
      (100 ms), then takes a fixed 3 values × 20 processes. Taken: the calibrated block and fresh processes
      (`--rounds`). Different: calibration ends only after two consecutive blocks of n steps reach the target
      (one stalled block on a shared vCPU cannot end it), and the number of blocks is not fixed: timing stops
      when the median's 95 % CI is within ±`precision` (simplenn.measure.stop.StopRule), so quiet cells stop after
      `min_blocks` and noisy ones get more blocks, up to `max_time_s`, and are flagged imprecise.
    - criterion.rs (src/routine.rs, src/lib.rs `iteration_counts`) times samples of d, 2d, …, 100d iterations in a
      fixed 5 s and fits time = slope × iterations, so a fixed per-sample cost drops out of the slope. A device with
      dispatch latency has exactly such a cost per block: the final sync (a host read-back) and the drain of the
      queue. Here the same two-point idea sizes the block instead of fitting a slope: from the fastest of a few
      one-step blocks and the calibrated n-step block, fixed = (n·t(1) − t(n)) / (n − 1); the block is lengthened until
      fixed / block ≤ precision / 2, so that cost stays below half the target precision (capped at
      max_time_s / (2·min_blocks)). On a CPU the read-back is tens of µs and `min_block_s` already covers it;
      on an asynchronous GPU with ms of latency the blocks grow. Per-step time stays block / n (no regression
      needed), which keeps the median, CI and stop rule on the quantity reported.
    """
    clock = clock or time.perf_counter

    def timed(n: int) -> float:
        t0 = clock()
        run(n)
        sync()
        dt = clock() - t0
        check()
        return dt

    calibration: list[float] = []
    one_step: list[float] = []  # every one-step block: the fastest is t(1)

    def block(n: int) -> float:
        calibration.append(timed(n))
        if n == 1:
            one_step.append(calibration[-1])
        return calibration[-1]

    def calibrate(n: int, dt: float, target_s: float) -> tuple[int, float]:
        """Grow n from a block of n steps that took dt until two consecutive blocks of n steps reach target_s."""
        while True:
            if dt >= target_s:
                # A stall (another process on a shared vCPU) can make one block long enough by accident: a second
                # block of n steps, which is also the first warm-up block, must confirm it.
                dt = block(n)
                if dt >= target_s:
                    return n, dt
            # Aim 20 % past the target so noise does not leave the next block short; at most ×100 per round.
            n = max(n + 1, min(n * 100, math.ceil(n * 1.2 * target_s / max(dt, 1e-9))))
            dt = block(n)

    # t(1) is the fastest of a few one-step blocks: on a loaded machine one of them is often slowed (a stall, a
    # cold first call), and an inflated t(1) would pass for a fixed cost and lengthen every block for nothing.
    t_one = block(1)
    if t_one >= settings.min_block_s:
        n, t_n = calibrate(1, t_one, settings.min_block_s)
    else:
        for _ in range(ONE_STEP_BLOCKS - 1):
            block(1)
        n, t_n = calibrate(1, calibration[-1], settings.min_block_s)
    if n > 1:
        t_one = min(one_step)
        fixed_s = max(0.0, (n * t_one - t_n) / (n - 1))
        cap_s = max(settings.min_block_s, settings.max_time_s / (2 * settings.min_blocks))
        latency_block_s = min(cap_s, 2 * fixed_s / settings.precision)
        if latency_block_s > 1.2 * t_n:
            n, t_n = calibrate(n, t_n, latency_block_s)
    for _ in range(settings.warmup_blocks - 1):
        block(n)
    blocks: list[float] = []
    rule = settings.stop_rule()
    while not rule.done(blocks):
        blocks.append(timed(n))
    return n, blocks, calibration


def measure(case: Case, settings: Settings = Settings(), device: Device | None = None,
            make_runner: Callable[[Case, int], Runner] | None = None) -> CellRecord:
    """Measure one cell and give it a status: ok, invalid (why), unsupported (why) or oom.

    `make_runner(case, seed)` builds the runner (default: simplenn.measure.runners.runner).
    """
    from simplenn.system.tfimport import tensorflow

    tf = tensorflow()
    device = device or Device(case.device, case.device.split(":")[0].lower(), "none")
    common = {"backend": device.backend, "device_kind": device.kind}
    reason = unsupported_reason(case, device.backend)
    if reason:
        return CellRecord(case, "unsupported", reason=reason, **common)
    strict_device(tf, case.device)
    runner_box: list = []  # the runner, once built, so a failure can still report its trace count
    # Calls are made inside the device scope too: a tf.function called outside it runs its call op on the default one.
    try:
        with tf.device(case.device):
            return _measure_on_device(case, settings, make_runner or runner, common, runner_box)
    except Unsupported as e:  # a peer not installed or unable to run the case; ops that ran off the device (audit)
        return CellRecord(case, "unsupported", reason=str(e), **common)
    except Invalid as e:
        return CellRecord(case, "invalid", reason=str(e), n_traces=runner_box[0].n_traces() if runner_box else None,
                          **common)
    except (tf.errors.ResourceExhaustedError, tf.errors.InternalError) as e:
        if not out_of_memory(tf, e):
            raise
        return CellRecord(case, "oom", reason=_first_line(e), **common)
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, tf.errors.UnimplementedError) as e:
        text = getattr(e, "message", None) or str(e)  # all of it: a colocation failure lists op types on later lines
        if is_placement_error(text):
            return CellRecord(case, "unsupported", reason=placement_reason(text, case.device, case.mode, case.jit),
                              **common)
        return CellRecord(case, "invalid", reason=_first_line(e), **common)
    except MemoryError as e:
        return CellRecord(case, "oom", reason=f"host memory exhausted: {e}", **common)


def first_call(runner: Runner, case: Case | None = None) -> tuple[float, int | None]:
    """Time the first call (tracing) on its own: (seconds, trace count after it). With `case`, it also records where
    the ops ran: Unsupported if one computing on case.dtype left case.device (simplenn.measure.audit)."""
    with recorded_placement(case) as placed:
        t0 = time.perf_counter()
        runner.run(1)
        runner.sync()
        trace_s = time.perf_counter() - t0
    check_placement(placed, case)
    return trace_s, runner.n_traces()


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


def _measure_on_device(case: Case, settings: Settings, make_runner, common: dict, runner_box: list) -> CellRecord:
    """Trace call timed apart, calibrated blocks with a retrace check between them, then validity checks."""
    from simplenn.system.tfimport import tensorflow

    runner = make_runner(case, settings.seed)
    runner_box.append(runner)
    trace_s, traces_after_first = first_call(runner, case)
    n, blocks, calibration = time_blocks(runner.run, runner.sync, settings, retrace_check(runner, traces_after_first))
    loss, placement = validate(runner, case, f"{len(blocks)} blocks")
    reached, imprecise = settings.stop_rule().reached(per_step_s(np.asarray(blocks), n))
    return CellRecord(
        case, "ok", precision_reached=reached if math.isfinite(reached) else None, imprecise=imprecise, trace_s=trace_s, n_steps=n, block_s=tuple(blocks), calibration_s=tuple(calibration),
        # TensorFlow's allocator says nothing about torch's or jax's memory.
        peak_bytes=peak_bytes(tensorflow(), case.device) if DECLARED[case.impl].tf_allocator else None,
        placement=placement, final_loss=loss,
        n_traces=runner.n_traces(), **common,
    )


def _first_line(e: BaseException) -> str:
    text = getattr(e, "message", None) or str(e)
    return text.strip().splitlines()[0][:300] if text.strip() else e.__class__.__name__
