"""The run loop of a sweep: prepare a run folder, execute its plan through the worker, resume an interrupted one."""
from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from simplenn import __version__
from simplenn.core.cases import DEFAULT_WIDTHS, Case, unsupported_reason
from simplenn.measure.ceiling import ceiling_shapes, merge_ceilings
from simplenn.core.errors import FieldError, UsageError
from simplenn.measure.cell import Settings
from simplenn.store.results import RunWriter, completed_keys, not_empty, read_meta, read_records
from simplenn.sweep.config import SweepConfig
from simplenn.sweep.plan import PlanItem, drift, expand, oom_key, oom_skip, order, sentinel_settings
from simplenn.sweep.profiling import chosen, profile_run
from simplenn.sweep.worker import Worker, WorkerError


def add_oom(ooms: dict[tuple, int], case: Case) -> None:
    """Remember that `case` ran out of memory (the smallest such batch per cell is kept)."""
    key = oom_key(case)
    ooms[key] = min(ooms.get(key, case.batch_size), case.batch_size)


@dataclass
class Progress:
    """What the caller is told after each cell (for a progress bar)."""

    done: int
    total: int
    record: dict
    elapsed_s: float


@dataclass
class RunState:
    """A run in progress: its folder, its run.json metadata, and the warnings gathered so far."""

    run_dir: Path
    meta: dict
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False
    error: UsageError | None = None  # a write that failed (disk full, read-only): the run stopped, what was saved is kept
    stopped_by: int | None = None  # the signal that stopped the run (SIGINT: Ctrl-C, SIGTERM), for the exit status


def resolve_devices(requested: Iterable[str], present: list[dict], missing_reason: str) -> list[dict]:
    """The devices of the run (as dicts) among those the worker found; a missing one is a UsageError saying why."""
    from simplenn.system.devices import Device, select

    chosen = select(list(requested), [Device(**d) for d in present], missing_reason)
    return [d.to_dict() for d in chosen]


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def prepare(run_dir: Path, config: SweepConfig, worker: Worker, machine: dict, extra_warnings: list[str],
            preset: dict | None = None) -> RunState:
    """Start a new run folder: resolve devices (in the worker), expand, order, and write run.json."""
    writer = RunWriter(run_dir)
    problem = not_empty(run_dir)  # the caller may hold its lock; a .DS_Store does not make a folder taken
    if problem:
        raise FieldError("run_dir", problem)
    worker.start()
    devices = resolve_devices(config.devices, worker.devices, worker.gpu_missing_reason)
    cases = expand(config, [d["name"] for d in devices])
    chosen(config, cases)  # an unknown --profile cell id is refused before anything is measured
    plan = order(cases, config.rounds, config.seed, config.sentinel_every)
    backends = {d["name"]: d["backend"] for d in devices}
    impossible = sorted({f"{c.id}: {r}" for c in cases if (r := unsupported_reason(c, backends[c.device]))})
    meta = {
        "tool": "simplenn-bench", "tool_version": __version__, "created": now(), "status": "running",
        "run_id": uuid.uuid4().hex,  # tells apart runs whose folders share a name, and a run loaded twice
        "grid": config.to_dict(), "preset": preset, "devices": devices, "all_devices": worker.devices,
        "gpu_missing_reason": worker.gpu_missing_reason or None, "tf_threads": getattr(worker, "tf_threads", {}),
        "order": {"method": "seeded shuffle of cells, devices rotated within each cell, sentinel every "
                            f"{config.sentinel_every} cells", "seed": config.seed},
        "plan": [p.to_dict() for p in plan], "machine": machine, "warnings": list(extra_warnings),
        "unsupported_before_run": impossible, "drift": None,
    }
    writer.create(meta)
    return RunState(run_dir, meta, list(extra_warnings))


def execute(state: RunState, worker: Worker, on_progress: Callable[[Progress], None] | None = None,
            thermal: Callable[[], str] = lambda: "unknown", sleep: Callable[[float], None] = time.sleep) -> RunState:
    """Measure every planned cell not yet recorded; append each record as it completes. A complete run is left as is."""
    if state.meta.get("status") == "complete":
        worker.stop()
        return state
    writer = RunWriter(state.run_dir)
    torn = writer.drop_torn_tail()
    if torn:
        state.warnings.append(torn)
    records, _ = read_records(state.run_dir)
    done_keys = completed_keys(records)
    plan = [PlanItem.from_dict(p) for p in state.meta["plan"]]
    devices = {d["name"]: d for d in state.meta["devices"]}
    config = SweepConfig.from_dict(state.meta["grid"])
    ooms: dict[tuple, int] = {}
    for r in records:
        if r.get("kind") == "cell" and r["status"] == "oom":
            add_oom(ooms, Case.from_dict(r["case"]))
    have_ceiling = {r["device"] for r in records if r.get("kind") == "ceiling"}
    shapes = ceiling_shapes(p.case for p in plan)
    t_start = time.perf_counter()
    parity, impl_parity = state.meta.get("device_parity"), state.meta.get("impl_parity")
    profile = state.meta.get("profile")
    total = len(plan)
    done = sum(1 for p in plan if (p.seq, p.case.id) in done_keys)
    completed = False
    try:
        for name in devices:
            if name not in have_ceiling:
                _probe_ceiling(name, "start", shapes, config.timeout_s, worker, writer, state)
        last_round = None
        for item in plan:
            if (item.seq, item.case.id) in done_keys:
                continue
            if last_round is not None and item.round != last_round:
                worker.stop()  # each round in a fresh process (restarted by the next request), as pyperf does
            last_round = item.round
            if config.cooldown_s and done:
                sleep(config.cooldown_s)
            settings = sentinel_settings(config.settings) if item.sentinel else config.settings
            record = _measure_item(item, devices[item.case.device], settings, config.timeout_s, worker, ooms, thermal)
            writer.append(record)
            if record["status"] == "oom" and not item.sentinel:
                add_oom(ooms, item.case)
            done += 1
            if on_progress:
                on_progress(Progress(done, total, record, time.perf_counter() - t_start))
        # A second probe at the end: the ceiling is an upper bound, so the faster of the two is the better one
        # when the machine's load changed during the run.
        for name in devices:
            _probe_ceiling(name, "end", shapes, config.timeout_s, worker, writer, state)
        if len(devices) > 1:
            parity = _device_parity(list(devices), config, worker, state)
        if len(config.impls) > 1:
            impl_parity = _impl_parity(next(iter(devices)), config, worker, state)
        if config.profile:  # last: the profiler must not run while cells are timed
            profile = profile_run(state, [p.case for p in plan if not p.sentinel], read_records(state.run_dir)[0],
                                  config, worker)
        completed = True
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM turned into errors.Terminated by the CLI
        state.interrupted, state.stopped_by = True, getattr(e, "signum", signal.SIGINT)
    except UsageError as e:  # a write failed (disk full, read-only): stop, keep what is saved
        state.interrupted, state.error = True, e
    finally:
        with _interrupts_deferred() as deferred:  # a second Ctrl-C must not leave the status `running`
            worker.stop()
            _finalise(state, writer, {"device_parity": parity, "impl_parity": impl_parity, "profile": profile},
                      completed and not deferred)
        if deferred and state.stopped_by is None:
            state.stopped_by = deferred[0]
    return state


def _finalise(state: RunState, writer: RunWriter, parities: dict, completed: bool) -> None:
    """Write the run's final status, drift, parities and warnings; a failed write is kept in `state.error`."""
    records, _ = read_records(state.run_dir)
    d = drift(records)
    if d and d["warning"]:
        state.warnings.append(f"sentinel cell {d['cell']} drifted by {100 * (d['ratio'] - 1):+.0f} % "
                              f"(last/first median); the machine's speed changed during the run")
    state.interrupted = state.interrupted or not completed
    status = "interrupted" if state.interrupted else "complete"
    try:
        state.meta = writer.update_meta(status=status, drift=d, **parities,
                                        warnings=list(dict.fromkeys(state.warnings)), finished=now())
    except UsageError as e:
        # run.json keeps `running`; with no process holding the folder's lock, resume_state reads it as interrupted.
        state.interrupted, state.error = True, state.error or e
        state.meta = {**state.meta, "status": "interrupted"}


@contextmanager
def _interrupts_deferred() -> Iterator[list[int]]:
    """Hold SIGINT and SIGTERM while the run's final state is written; yield the list of signals that came."""
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    came: list[int] = []
    old = {sig: signal.signal(sig, lambda signum, frame: came.append(signum)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield came
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def cells_left(state: RunState) -> tuple[int, int]:
    """(cells of the plan not yet recorded, cells in the plan): what a resume will measure."""
    done = completed_keys(read_records(state.run_dir)[0])
    plan = state.meta["plan"]
    return sum(1 for p in plan if (p["seq"], p["id"]) not in done), len(plan)


def _device_parity(devices: list[str], config: SweepConfig, worker: Worker, state: RunState) -> dict | None:
    """The same seeded steps on every device of the run (784-100-30-10, batch 32): losses and weights must agree."""
    try:
        msg = worker.request(("parity", devices, config.seed), config.timeout_s)
    except WorkerError as e:
        msg = ("error", e.reason)
    if msg[0] != "result":
        state.warnings.append(f"device parity check failed to run: {msg[1].splitlines()[0]}")
        return None
    if not msg[1]["ok"]:
        state.warnings.append(f"device parity: {msg[1]['message']}")
    return msg[1]


def _impl_parity(device: str, config: SweepConfig, worker: Worker, state: RunState) -> dict | None:
    """Every implementation and mode of the run against scratch per-call (784-100-30-10, batch 32, the run's first
    device and loss, each of its dtypes): the same seeded steps must leave the same loss and weights."""
    spec = {"device": device, "layer_sizes": list(DEFAULT_WIDTHS), "batch_size": 32, "loss": config.losses[0],
            "n_steps": 5, "seed": config.seed}
    rows = []
    for dtype in config.dtypes:
        kwargs = {**spec, "dtype": dtype, "impls": list(config.impls), "modes": list(config.modes)}
        try:
            msg = worker.request(("impl_parity", kwargs), config.timeout_s)
        except WorkerError as e:
            msg = ("error", e.reason)
        if msg[0] != "result":
            state.warnings.append(f"implementation parity check ({dtype}) failed to run: {msg[1].splitlines()[0]}")
            continue
        rows += [{**r, "dtype": dtype} for r in msg[1]]
        state.warnings += [f"implementation parity ({dtype}): {r['impl']} {r['mode']} {r['reason']}"
                           for r in msg[1] if r["status"] == "mismatch"]
    return {**spec, "rows": rows} if rows else None


def _probe_ceiling(device: str, phase: str, shapes: list, timeout_s: float, worker: Worker, writer: RunWriter,
                   state: RunState) -> None:
    """Probe the device's matmul ceiling (the 1024³ square and the step's own big matmuls) and record it.

    One request per matmul: one that cannot run (a huge batch's matmul out of memory, a crash) costs that matmul,
    not the ceiling every cell's % of ceiling is measured against.
    """
    parts, failed = [], []
    for mm in shapes:
        try:
            msg = worker.request(("ceiling", device, [mm]), timeout_s)
        except WorkerError as e:
            msg = ("error", e.reason)
        if msg[0] == "result":
            parts.append(msg[1])
        else:
            reason = msg[1].splitlines()[0]
            failed.append({"matmul": mm.label, "shape": [mm.m, mm.k, mm.n], "reason": reason})
            state.warnings.append(f"ceiling probe on {device} ({phase} of run), matmul {mm.label}: failed and left "
                                  f"out: {reason}")
    if parts:
        writer.append({**merge_ceilings(parts), "failed_matmuls": failed, "phase": phase, "measured": now()})
    elif not shapes:
        state.warnings.append(f"ceiling probe on {device} ({phase} of run): no matmul to probe")


def _measure_item(item: PlanItem, device: dict, settings: Settings, timeout_s: float, worker: Worker,
                  ooms: dict[tuple, int], thermal: Callable[[], str]) -> dict:
    base = {"kind": "cell", "seq": item.seq, "id": item.case.id, "round": item.round, "sentinel": item.sentinel,
            "case": item.case.to_dict(), "backend": device["backend"], "device_kind": device["kind"]}
    skip = None if item.sentinel else oom_skip(item.case, ooms)
    if skip:
        return {**base, "status": "skipped", "reason": skip, "block_s": [], "measured": now()}
    before = thermal()
    t0 = time.perf_counter()
    try:
        msg = worker.request(("cell", item.case.to_dict(), device, settings), timeout_s)
    except WorkerError as e:
        msg = ("failed", e.status, e.reason)
    wall_s = time.perf_counter() - t0
    extra = {"thermal_before": before, "thermal_after": thermal(), "wall_s": wall_s, "measured": now()}
    if msg[0] == "result":
        return {**msg[1], **base, **extra}
    if msg[0] == "failed":
        return {**base, "status": msg[1], "reason": msg[2], "block_s": [], **extra}
    return {**base, "status": "invalid", "reason": f"unexpected error: {msg[1].splitlines()[0]}", "block_s": [], **extra}


def resume_state(run_dir: Path) -> RunState:
    """The stored state of a run folder; call it holding the folder's lock, so `running` means its writer died."""
    meta = read_meta(run_dir)
    if "plan" not in meta:
        raise FieldError("resume", f"{run_dir} has no stored plan; it was not written by `simplenn-bench run`")
    if meta.get("status") == "running":
        meta["status"] = "interrupted"
    return RunState(Path(run_dir), meta, list(meta.get("warnings", [])))
