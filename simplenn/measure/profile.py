"""Trace a fixed number of steps of one cell under a profiler, after timing it with the harness; keep the raw trace.

`trace_cell(case, logdir)`: build the runner on the device, time it exactly as `measure` does (first call apart,
calibrated blocks: these give the harness's step time and are the warm-up), then run one more block of `n_steps`
steps with the profiler on and a marker around it. The marker (`WINDOW_EVENT`) is a named event in the trace
whose metadata carries the step count, so the trace says by itself which span and how many steps to attribute.
Parsing and attribution are pure and live in `simplenn.store.xplane` / `simplenn.store.opclasses`.

Profilers: TensorFlow's (`tf.profiler.experimental.start/stop`) for scratch and keras; jax, torch and mlx are
`unsupported`, with the reason in UNSUPPORTED (docs/profiling.md says what each would take). Nothing here reaches the benchmark's samples: a profiled step is slower (the profiler records every
op), so its numbers live in their own record.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from simplenn.core.cases import Case
from simplenn.measure.runners import unsupported_reason
from simplenn.core.timing import per_step_s
from simplenn.measure.cell import Invalid, Settings, first_call, retrace_check, strict_device, time_blocks, validate
from simplenn.measure.runners import Runner, Unsupported, runner

WINDOW_EVENT = "simplenn_traced_steps"
# Short timing: the harness's step time is a witness for the trace, not a benchmark result.
PROFILE_SETTINGS = Settings(min_block_s=0.05, min_time_s=0.3, max_time_s=1.5, precision=0.03)
MIN_STEPS, MAX_STEPS = 10, 200  # traced steps when not given: one harness block, within these bounds
FRESH_WARMUP = 2  # steps before tracing a fresh runner: far below the ~90 runs after which cheap kernels go untraced
PROFILERS = {"scratch": "tensorflow", "keras": "tensorflow"}
UNSUPPORTED = {
    "jax": "jax.profiler writes the same XSpace, but its events are XLA thunks named by the compiler (dot.2, "
           "ynn_fusion.4, multiply_subtract_fusion, each with an hlo_op stat); sorting them into the classes needs the "
           "compiled HLO's op metadata (jvp or transpose, shapes, source lines): not built",
    "torch": "torch.profiler records aten ops in its own format (Kineto JSON), not an XSpace; mapping them to the "
             "classes (aten::addmm, MmBackward0's two aten::mm told apart by their shapes) is not built",
    "mlx": "MLX has no op-level timeline on the CPU; on a Mac, mx.metal.start_capture writes a .gputrace for Xcode's "
           "Metal debugger (GPU only, MTL_CAPTURE_ENABLED=1, read in Xcode), which this tool cannot parse",
}


@dataclass(frozen=True)
class Traced:
    """One traced cell: status, where its trace is, and the harness's untraced step time beside the traced one."""

    case: Case
    status: str  # ok, unsupported, invalid, oom
    reason: str = ""
    profiler: str = ""
    trace_path: str = ""  # the .xplane.pb (TensorBoard's profile plugin, or Perfetto via its trace.json.gz)
    n_steps: int = 0
    traced_block_s: float | None = None  # perf_counter around the traced block (profiler on)
    harness_step_s: float | None = None  # median per-step time of the untraced blocks just before
    harness_n_steps: int = 0
    harness_blocks: int = 0
    fresh: bool = False  # traced on a freshly built runner (every kernel traced), not the harness's own

    def to_record(self) -> dict:
        d = asdict(self)
        d["case"] = self.case.to_dict()
        d["id"] = self.case.id
        return d


def trace_cell(case: Case, logdir: Path | str, n_steps: int | None = None, settings: Settings = PROFILE_SETTINGS,
               fresh: bool = False) -> Traced:
    """Time the cell with the harness, then trace `n_steps` more steps (default: one harness block) into logdir.

    TensorFlow's executor keeps a running cost estimate per kernel; after ~90 runs a kernel under 8000 cycles
    (~3 µs) is judged inexpensive, runs inline and is no longer traced (executor.cc, KernelStats), so in the
    steady state the cheap element-wise, loss and update kernels show up only as executor time. `fresh=True`
    traces a newly built runner after 2 steps instead: every kernel is traced, but the executor still hands
    each one to its thread pool, unlike the steady state the harness timed (the witness shows the difference).
    """
    from simplenn.system.tfimport import tensorflow

    tf = tensorflow()
    profiler = PROFILERS.get(case.impl)
    if profiler is None:
        return Traced(case, "unsupported", UNSUPPORTED.get(case.impl, f"no profiler for {case.impl}"))
    reason = unsupported_reason(case, "none")
    if reason:
        return Traced(case, "unsupported", reason, profiler)
    strict_device(tf, case.device)
    try:
        with tf.device(case.device):
            return _trace_on_device(case, Path(logdir), n_steps, settings, profiler, fresh)
    except Unsupported as e:
        return Traced(case, "unsupported", str(e), profiler)
    except Invalid as e:
        return Traced(case, "invalid", str(e), profiler)
    except tf.errors.ResourceExhaustedError as e:
        return Traced(case, "oom", str(e).splitlines()[0][:300], profiler)


def _trace_on_device(case: Case, logdir: Path, n_steps: int | None, settings: Settings, profiler: str,
                     fresh: bool) -> Traced:
    run = runner(case, settings.seed)
    _, traces = first_call(run)
    n, blocks, _ = time_blocks(run.run, run.sync, settings, retrace_check(run, traces))
    harness_s = float(np.median(per_step_s(np.asarray(blocks), n)))
    steps = n_steps or min(MAX_STEPS, max(MIN_STEPS, n))
    if fresh:
        run = runner(case, settings.seed)
        first_call(run)
        run.run(FRESH_WARMUP)
        run.sync()
    logdir.mkdir(parents=True, exist_ok=True)
    block_s = _traced_block(run, steps, logdir, profiler)
    validate(run, case, "the traced block")
    found = sorted(logdir.rglob("*.xplane.pb"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise Invalid(f"the {profiler} profiler wrote no .xplane.pb under {logdir}")
    # The profiler names the file after the host; the cell's id says more and keeps the host name out of records.
    # TensorBoard's profile plugin lists any <name>.xplane.pb of a run folder under that name.
    trace = found[-1].rename(found[-1].with_name(f"{case.id}.xplane.pb"))
    return Traced(case, "ok", "", profiler, str(trace), steps, block_s, harness_s, n, len(blocks), fresh)


def _traced_block(run: Runner, steps: int, logdir: Path, profiler: str) -> float:
    """Run one block of `steps` steps and its sync under the profiler, inside the marker event; its seconds."""
    start, stop, marker = _profiler(profiler)
    start(str(logdir))
    try:
        t0 = time.perf_counter()
        with marker(WINDOW_EVENT, n_steps=steps):
            run.run(steps)
            run.sync()
        return time.perf_counter() - t0
    finally:
        stop()


def _profiler(name: str):
    """(start(logdir), stop(), marker(name, **metadata)) of the named profiler (TensorFlow's, for now the only one)."""
    from simplenn.system.tfimport import tensorflow

    tf = tensorflow()
    # Level 3 (verbose) is where executor.cc traces the kernels it judges inexpensive; measured with TF 2.21 it
    # changed nothing (after ~90 runs they still vanish, see trace_cell), but it is the documented request.
    options = tf.profiler.experimental.ProfilerOptions(host_tracer_level=3, python_tracer_level=0,
                                                       device_tracer_level=1)

    def start(logdir: str) -> None:
        tf.profiler.experimental.start(logdir, options=options)

    return start, tf.profiler.experimental.stop, tf.profiler.experimental.Trace


def unattributed_share(traced_step_s: float, harness_step_s: float | None) -> float:
    """(harness − traced) / harness: the part of the harness's step the trace does not account for (< 0: the
    profiled step was slower, the profiler's own cost)."""
    if not harness_step_s or not math.isfinite(harness_step_s):
        return math.nan
    return (harness_step_s - traced_step_s) / harness_step_s
