"""The run loop of a sweep: prepare a run folder, execute its plan through the worker, resume an interrupted one."""
from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from simplenn import __version__
from simplenn.core.cases import Case
from simplenn.measure.ceiling import ceiling_shapes
from simplenn.core.errors import FieldError, UsageError
from simplenn.core.records import CeilingRecord, PlanItem
from simplenn.measure.runners import unsupported_reason
from simplenn.store.runfolder import RunWriter, completed_keys, not_empty, read_meta, read_records
from simplenn.sweep.ask import device_parity, implementation_parity, measure_item, now, probe_ceiling
from simplenn.sweep.config import SweepConfig
from simplenn.sweep.progress import Progress
from simplenn.sweep.plan import drift, expand, oom_key, order, sentinel_settings
from simplenn.sweep.profiling import chosen, profile_run
from simplenn.sweep.worker import Worker


def add_oom(ooms: dict[tuple, int], case: Case) -> None:
    """Remember that `case` ran out of memory (the smallest such batch per cell is kept)."""
    key = oom_key(case)
    ooms[key] = min(ooms.get(key, case.batch_size), case.batch_size)


@dataclass
class RunState:
    """A run in progress: its folder, its run.json metadata, the config and plan it holds, the records written so
    far (kept here as they are appended: the run folder is where they go, not how they travel), and its warnings."""

    run_dir: Path
    meta: dict
    config: SweepConfig
    plan: list[PlanItem]
    records: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False
    error: UsageError | None = None  # a write that failed (disk full, read-only): the run stopped, what was saved is kept
    stopped_by: int | None = None  # the signal that stopped the run (SIGINT: Ctrl-C, SIGTERM), for the exit status


def resolve_devices(requested: Iterable[str], present: list[dict], missing_reason: str) -> list[dict]:
    """The devices of the run (as dicts) among those the worker found; a missing one is a UsageError saying why."""
    from simplenn.system.devices import Device, select

    chosen = select(list(requested), [Device(**d) for d in present], missing_reason)
    return [d.to_dict() for d in chosen]


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
        "plan": [p.to_json() for p in plan], "machine": machine, "warnings": list(extra_warnings),
        "unsupported_before_run": impossible, "drift": None,
    }
    writer.create(meta)
    return RunState(run_dir, meta, config, plan, [], list(extra_warnings))


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
    records, plan, config = state.records, state.plan, state.config
    done_keys = completed_keys(records)
    devices = {d["name"]: d for d in state.meta["devices"]}
    ooms: dict[tuple, int] = {}
    for r in records:
        if r.get("kind") == "cell" and r["status"] == "oom":
            add_oom(ooms, Case.from_dict(r["case"]))
    have_ceiling = {r["device"] for r in records if r.get("kind") == "ceiling"}
    shapes = ceiling_shapes(p.case for p in plan)
    parity, impl_parity = state.meta.get("device_parity"), state.meta.get("impl_parity")
    profile = state.meta.get("profile")
    total = len(plan)
    done = done_before = sum(1 for p in plan if (p.seq, p.case.id) in done_keys)
    completed = False
    try:
        for name in devices:
            if name not in have_ceiling:
                _record(state, writer, probe_ceiling(name, "start", shapes, config.timeout_s, worker, state.warnings))
        t_start = time.perf_counter()  # the ETA's pace is that of cells, not of the one-off probes before them
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
            record = measure_item(item, devices[item.case.device], settings, config.timeout_s, worker, ooms, thermal)
            _append(state, writer, record.to_json())
            if record.status == "oom" and not item.sentinel:
                add_oom(ooms, item.case)
            done += 1
            if on_progress:
                on_progress(Progress(done, total, record.to_json(), time.perf_counter() - t_start, done_before))
        # A second probe at the end: the ceiling is an upper bound, so the faster of the two is the better one
        # when the machine's load changed during the run.
        for name in devices:
            _record(state, writer, probe_ceiling(name, "end", shapes, config.timeout_s, worker, state.warnings))
        if len(devices) > 1:
            parity = device_parity(list(devices), config, worker, state.warnings)
        if len(config.impls) > 1:
            impl_parity = implementation_parity(next(iter(devices)), config, worker, state.warnings)
        if config.profile:  # last: the profiler must not run while cells are timed
            profile = profile_run(state, [p.case for p in plan if not p.sentinel], state.records,
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
    d = drift(state.records)
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
    done = completed_keys(state.records)
    return sum(1 for p in state.plan if (p.seq, p.case.id) not in done), len(state.plan)


def resume_state(run_dir: Path) -> RunState:
    """The stored state of a run folder; call it holding the folder's lock, so `running` means its writer died."""
    meta = read_meta(run_dir)
    if "plan" not in meta:
        raise FieldError("resume", f"{run_dir} has no stored plan; it was not written by `simplenn-bench run`")
    if meta.get("status") == "running":
        meta["status"] = "interrupted"
    plan = [PlanItem.from_json(p) for p in meta["plan"]]
    records, _ = read_records(run_dir)
    return RunState(Path(run_dir), meta, SweepConfig.from_dict(meta["grid"]), plan, records,
                    list(meta.get("warnings", [])))


def _append(state: RunState, writer: RunWriter, record: dict) -> None:
    """Write a record to samples.jsonl (flushed, fsynced) and keep it in the run's state."""
    writer.append(record)
    state.records.append(record)


def _record(state: RunState, writer: RunWriter, record: CeilingRecord | None) -> None:
    if record is not None:
        _append(state, writer, record.to_json())
