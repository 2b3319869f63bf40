"""A sweep: grid → ordered plan (interleaved devices, sentinel re-measurements) → cells measured in a supervised
worker process → records appended to the run folder. Resumable; a crashed or hung worker costs one cell."""
from __future__ import annotations

import itertools
import math
import multiprocessing as mp
import random
import signal
import statistics
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from multiprocessing.connection import wait
from pathlib import Path

from simplenn import __version__
from simplenn.cases import (DEFAULT_WIDTHS, DTYPES, IMPLS, LOSSES, MODES, Case, check_choice, check_seconds,
                            unsupported_reason)
from simplenn.errors import UsageError
from simplenn.results import RunWriter, completed_keys, read_meta, read_records

DEFAULT_BATCH_SIZES = (1, 8, 32, 128, 512, 2048, 8192)
DEFAULT_HIDDEN = ((100, 30),)
WIDE_HIDDEN = ((256, 256), (1024, 1024))  # the default grid adds these at WIDE_BATCH
WIDE_BATCH = 512
DRIFT_WARN = 0.10
CONFIG_KEYS = ("devices", "batch_sizes", "widths", "loss", "dtypes", "jit", "modes", "impls", "min_time", "cooldown",
               "rounds", "seed", "sentinel_every", "timeout", "logical_cpus", "min_block_time")


@dataclass(frozen=True)
class SweepConfig:
    """What to measure and how. `hidden` lists hidden widths (input 784 and output 10 are added)."""

    devices: tuple[str, ...] = ("all",)
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    hidden: tuple[tuple[int, ...], ...] = DEFAULT_HIDDEN
    wide_hidden: tuple[tuple[int, ...], ...] = WIDE_HIDDEN  # measured at wide_batch only
    wide_batch: int = WIDE_BATCH
    losses: tuple[str, ...] = ("sigmoid",)
    dtypes: tuple[str, ...] = ("float32",)
    jit: tuple[bool, ...] = (False,)
    modes: tuple[str, ...] = ("per-call",)
    impls: tuple[str, ...] = ("scratch",)
    min_time_s: float = 0.5
    min_block_s: float = 0.05
    cooldown_s: float = 0.0
    rounds: int = 1
    seed: int = 0
    sentinel_every: int = 8
    timeout_s: float = 300.0
    logical_cpus: int = 1

    def __post_init__(self) -> None:
        for name, allowed, flag in (("losses", LOSSES, "--loss"), ("dtypes", DTYPES, "--dtypes"),
                                    ("modes", MODES, "--modes"), ("impls", IMPLS, "--impl")):
            for v in getattr(self, name):
                check_choice(v, allowed, flag)
        for name, flag in (("min_time_s", "--min-time"), ("min_block_s", "--min-block-time"), ("timeout_s", "--timeout")):
            check_seconds(getattr(self, name), flag)
        if not (isinstance(self.cooldown_s, (int, float)) and self.cooldown_s >= 0):
            raise UsageError(f"--cooldown: must be ≥ 0 seconds, got {self.cooldown_s!r}")
        for name, flag in (("rounds", "--rounds"), ("sentinel_every", "--sentinel-every"), ("logical_cpus", "--logical-cpus")):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "sentinel_every" else 1):
                raise UsageError(f"{flag}: must be a positive integer, got {v!r}")
        if not self.batch_sizes or any(isinstance(b, bool) or not isinstance(b, int) or b <= 0 for b in self.batch_sizes):
            raise UsageError(f"--batch-sizes: must be positive integers, got {list(self.batch_sizes)}")
        if not self.devices:
            raise UsageError("--devices: give at least one device (cpu, gpu, all, or names like CPU:0,GPU:0)")
        # Duplicates removed, values sorted: the same grid however it was written.
        object.__setattr__(self, "batch_sizes", tuple(sorted(set(self.batch_sizes))))
        object.__setattr__(self, "hidden", tuple(sorted(set(map(tuple, self.hidden)))))
        object.__setattr__(self, "wide_hidden", tuple(sorted(set(map(tuple, self.wide_hidden)) - set(self.hidden))))
        for name in ("losses", "dtypes", "modes", "impls", "jit", "devices"):
            values = getattr(self, name)
            object.__setattr__(self, name, tuple(dict.fromkeys(values)))

    def to_dict(self) -> dict:
        return asdict(self)


QUICK = dict(batch_sizes=(8, 128, 2048), hidden=((100, 30),), wide_hidden=((256, 256),), wide_batch=512,
             min_time_s=0.2, min_block_s=0.02, sentinel_every=4)
SUSTAINED = dict(cooldown_s=5.0, min_block_s=0.2, min_time_s=2.0)


@dataclass(frozen=True)
class PlanItem:
    seq: int
    case: Case
    round: int = 0
    sentinel: bool = False

    def to_dict(self) -> dict:
        return {"seq": self.seq, "id": self.case.id, "case": self.case.to_dict(), "round": self.round,
                "sentinel": self.sentinel}

    @classmethod
    def from_dict(cls, d: dict) -> "PlanItem":
        return cls(d["seq"], Case.from_dict(d["case"]), d.get("round", 0), d.get("sentinel", False))


def expand(config: SweepConfig, devices: Iterable[str]) -> list[Case]:
    """Every Case of the grid for the resolved device names: (batch × hidden) ∪ (wide_batch × wide_hidden)."""
    pairs = [(b, h) for h in config.hidden for b in config.batch_sizes]
    pairs += [(config.wide_batch, h) for h in config.wide_hidden]
    cases = [Case(dev, batch, (DEFAULT_WIDTHS[0], *hidden, DEFAULT_WIDTHS[-1]), loss, dtype, jit, impl, mode)
             for (batch, hidden), loss, dtype, jit, mode, impl, dev
             in itertools.product(pairs, config.losses, config.dtypes, config.jit, config.modes, config.impls, devices)]
    return list(dict.fromkeys(cases))


def order(cases: list[Case], rounds: int, seed: int, sentinel_every: int) -> list[PlanItem]:
    """Interleave: shuffle the device-independent cells (seeded), then run each one on every device back to back
    with the device order rotating, so slow drift cannot land on one device. The sentinel (the first device's
    cell nearest batch 128) is measured first, then every `sentinel_every` cells, and last."""
    rng = random.Random(seed)
    groups: dict[tuple, list[Case]] = {}
    for c in cases:
        groups.setdefault((c.batch_size, c.widths, c.loss, c.dtype, c.jit, c.mode, c.impl), []).append(c)
    keys = list(groups)
    ordered: list[tuple[int, Case]] = []
    for r in range(rounds):
        rng.shuffle(keys)
        for i, key in enumerate(keys):
            devs = groups[key]
            k = (i + r) % len(devs)
            ordered.extend((r, c) for c in devs[k:] + devs[:k])
    sentinel = sorted(cases, key=lambda c: (c.device, abs(math.log2(c.batch_size) - 7), c.widths))[0] if cases else None
    plan: list[PlanItem] = []
    seq = 0

    def add(case: Case, rnd: int, is_sentinel: bool) -> None:
        nonlocal seq
        plan.append(PlanItem(seq, case, rnd, is_sentinel))
        seq += 1

    for i, (rnd, case) in enumerate(ordered):
        if sentinel_every and sentinel is not None and i % sentinel_every == 0:
            add(sentinel, rnd, True)
        add(case, rnd, False)
    if sentinel_every and sentinel is not None:
        add(sentinel, rounds - 1, True)
    return plan


# ---------------------------------------------------------------- worker process

def _worker_main(conn, logical_cpus: int) -> None:
    """Runs in a fresh process: set up devices, then measure cells sent by the parent until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us cleanly
    from simplenn import devices
    from simplenn.measure import Settings, measure, probe_ceiling

    try:
        devices.setup_logical_cpus(logical_cpus)
        present = devices.list_devices()
        missing = "" if any(d.kind == "gpu" for d in present) else devices.gpu_missing_reason()
        from simplenn.tfimport import tensorflow

        tf = tensorflow()
        threads = {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                   "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
                   "note": "0 = TensorFlow picks (one per logical core)"}
        conn.send(("ready", [d.to_dict() for d in present], missing, threads))
    except Exception as e:  # noqa: BLE001 — the parent reports it as a start-up failure
        conn.send(("error", f"{e.__class__.__name__}: {e}"))
        return
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # parent is gone
        kind = msg[0]
        try:
            if kind == "stop":
                return
            if kind == "ceiling":
                conn.send(("result", probe_ceiling(msg[1]).to_dict()))
            elif kind == "parity":
                import warnings  # noqa: PLC0415

                from simplenn.parity import device_parity  # noqa: PLC0415

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the mismatch is returned and reported by the parent
                    conn.send(("result", device_parity(msg[1], seed=msg[2]).to_dict()))
            elif kind == "cell":
                case, device, settings = Case.from_dict(msg[1]), devices.Device(**msg[2]), Settings(**msg[3])
                conn.send(("result", measure(case, settings, device).to_record()))
        except Exception as e:  # noqa: BLE001 — one cell's failure must not end the sweep
            conn.send(("error", f"{e.__class__.__name__}: {e}\n{traceback.format_exc(limit=3)}"))


class WorkerError(RuntimeError):
    """The worker died, hung or failed; `status` is 'crashed' or 'timeout'."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


class Worker:
    """A supervised measurement process. A crash or a hang costs the current request; `restart()` carries on."""

    def __init__(self, logical_cpus: int, start_timeout_s: float = 180.0):
        self.logical_cpus = logical_cpus
        self.start_timeout_s = start_timeout_s
        self.proc = None
        self.conn = None
        self.devices: list[dict] = []
        self.gpu_missing_reason = ""
        self.tf_threads: dict = {}

    def start(self) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, self.logical_cpus), daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent
        msg = self._receive(self.start_timeout_s)
        if msg[0] != "ready":
            self.stop()
            raise UsageError(f"the measurement worker could not start: {msg[1]}")
        self.devices, self.gpu_missing_reason, self.tf_threads = msg[1], msg[2], msg[3]

    def _receive(self, timeout_s: float):
        ready = wait([self.conn, self.proc.sentinel], timeout_s)
        if self.conn in ready:
            try:
                return self.conn.recv()
            except (EOFError, OSError):
                pass
        elif not ready:
            self.kill()
            raise WorkerError("timeout", f"no result within {timeout_s:g} s; the worker was killed")
        self.proc.join(5)
        code = self.proc.exitcode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            raise WorkerError("crashed", f"worker killed by {name}")
        raise WorkerError("crashed", f"worker exited with status {code}")

    def request(self, msg: tuple, timeout_s: float):
        if self.proc is None or not self.proc.is_alive():
            self.start()
        self.conn.send(msg)
        return self._receive(timeout_s)

    def kill(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            try:
                self.conn.send(("stop",))
            except (OSError, BrokenPipeError):
                pass
            self.proc.join(5)
        self.kill()
        self.proc = None


# ---------------------------------------------------------------- the run

@dataclass
class Progress:
    """What the caller is told after each cell (for a progress bar)."""

    done: int
    total: int
    record: dict
    elapsed_s: float


@dataclass
class RunState:
    run_dir: Path
    meta: dict
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False


def resolve_devices(requested: Iterable[str], present: list[dict], missing_reason: str) -> list[dict]:
    from simplenn.devices import Device, select

    chosen = select(list(requested), [Device(**d) for d in present], missing_reason)
    return [d.to_dict() for d in chosen]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def drift(records: list[dict]) -> dict | None:
    """Sentinel drift: median per-step time of its last measurement / its first (> 1 means the machine slowed)."""
    cells = sorted((r for r in records if r.get("kind") == "cell"), key=lambda r: r["seq"])
    meds = [statistics.median(r["block_s"]) / r["n_steps"] for r in cells
            if r.get("sentinel") and r.get("status") == "ok" and r.get("block_s")]
    if len(meds) < 2:
        return None
    ratio = meds[-1] / meds[0]
    return {"cell": next(r["id"] for r in records if r.get("sentinel")), "first_median_s": meds[0],
            "last_median_s": meds[-1], "ratio": ratio, "max_over_min": max(meds) / min(meds), "n": len(meds),
            "warning": abs(ratio - 1) > DRIFT_WARN}


def _oom_skip(item: PlanItem, ooms: set[tuple]) -> str | None:
    """Skip a cell when a smaller batch of the same cell ran out of memory on the same device."""
    c = item.case
    for (dev, widths, rest, batch) in ooms:
        if dev == c.device and widths == c.widths and rest == (c.loss, c.dtype, c.jit, c.mode, c.impl) and c.batch_size > batch:
            return f"skipped: batch {batch} already ran out of memory on {dev}"
    return None


def prepare(run_dir: Path, config: SweepConfig, worker: Worker, machine: dict, extra_warnings: list[str]) -> RunState:
    """Start a new run folder: resolve devices (in the worker), expand, order, and write run.json."""
    writer = RunWriter(run_dir)
    if run_dir.exists() and any(run_dir.iterdir()):
        raise UsageError(f"--out: {run_dir} already exists; use --resume {run_dir} to continue it, or choose a new folder")
    worker.start()
    devices = resolve_devices(config.devices, worker.devices, worker.gpu_missing_reason)
    cases = expand(config, [d["name"] for d in devices])
    plan = order(cases, config.rounds, config.seed, config.sentinel_every)
    backends = {d["name"]: d["backend"] for d in devices}
    impossible = sorted({f"{c.id}: {r}" for c in cases if (r := unsupported_reason(c, backends[c.device]))})
    meta = {
        "tool": "simplenn-bench", "tool_version": __version__, "created": _now(), "status": "running",
        "grid": config.to_dict(), "devices": devices, "all_devices": worker.devices,
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
    """Measure every planned cell not yet recorded; append each record as it completes."""
    writer = RunWriter(state.run_dir)
    torn = writer.drop_torn_tail()
    if torn:
        state.warnings.append(torn)
    records, _ = read_records(state.run_dir)
    done_keys = completed_keys(records)
    grid = state.meta["grid"]
    plan = [PlanItem.from_dict(p) for p in state.meta["plan"]]
    devices = {d["name"]: d for d in state.meta["devices"]}
    settings = {"min_block_s": grid["min_block_s"], "min_time_s": grid["min_time_s"], "seed": grid["seed"]}
    ooms = {(r["case"]["device"], tuple(r["case"]["widths"]), (r["case"]["loss"], r["case"]["dtype"], r["case"]["jit"],
             r["case"]["mode"], r["case"]["impl"]), r["case"]["batch_size"]) for r in records
            if r.get("kind") == "cell" and r["status"] == "oom"}
    have_ceiling = {r["device"] for r in records if r.get("kind") == "ceiling"}
    t_start = time.perf_counter()
    parity = state.meta.get("device_parity")
    total = len(plan)
    done = sum(1 for p in plan if (p.seq, p.case.id) in done_keys)
    try:
        for name in devices:
            if name not in have_ceiling:
                _probe_ceiling(name, "start", grid["timeout_s"], worker, writer, state)
        for item in plan:
            if (item.seq, item.case.id) in done_keys:
                continue
            if grid["cooldown_s"] and done:
                sleep(grid["cooldown_s"])
            record = _measure_item(item, devices[item.case.device], settings, grid["timeout_s"], worker, ooms, thermal)
            writer.append(record)
            if record["status"] == "oom" and not item.sentinel:
                c = item.case
                ooms.add((c.device, c.widths, (c.loss, c.dtype, c.jit, c.mode, c.impl), c.batch_size))
            done += 1
            if on_progress:
                on_progress(Progress(done, total, record, time.perf_counter() - t_start))
        # A second probe at the end: the ceiling is an upper bound, so the faster of the two is the better one
        # when the machine's load changed during the run.
        for name in devices:
            _probe_ceiling(name, "end", grid["timeout_s"], worker, writer, state)
        if len(devices) > 1:
            parity = _device_parity(list(devices), grid, worker, state)
    except KeyboardInterrupt:
        state.interrupted = True
    finally:
        worker.stop()
    records, _ = read_records(state.run_dir)
    d = drift(records)
    if d and d["warning"]:
        state.warnings.append(f"sentinel cell {d['cell']} drifted by {100 * (d['ratio'] - 1):+.0f} % "
                              f"(last/first median); the machine's speed changed during the run")
    state.meta = writer.update_meta(status="interrupted" if state.interrupted else "complete", drift=d,
                                    device_parity=parity,
                                    warnings=list(dict.fromkeys(state.warnings)), finished=_now())
    return state


def _device_parity(devices: list[str], grid: dict, worker: Worker, state: RunState) -> dict | None:
    """The same seeded steps on every device of the run (784-100-30-10, batch 32): losses and weights must agree."""
    try:
        msg = worker.request(("parity", devices, grid["seed"]), grid["timeout_s"])
    except WorkerError as e:
        msg = ("error", e.reason)
    if msg[0] != "result":
        state.warnings.append(f"device parity check failed to run: {msg[1].splitlines()[0]}")
        return None
    if not msg[1]["ok"]:
        state.warnings.append(f"device parity: {msg[1]['message']}")
    return msg[1]


def _probe_ceiling(device: str, phase: str, timeout_s: float, worker: Worker, writer: RunWriter, state: RunState) -> None:
    try:
        msg = worker.request(("ceiling", device), timeout_s)
    except WorkerError as e:
        msg = ("error", e.reason)
    if msg[0] == "result":
        writer.append({**msg[1], "phase": phase, "measured": _now()})
    else:
        state.warnings.append(f"ceiling probe on {device} ({phase} of run) failed: {msg[1].splitlines()[0]}")


def _measure_item(item: PlanItem, device: dict, settings: dict, timeout_s: float, worker: Worker, ooms: set,
                  thermal: Callable[[], str]) -> dict:
    base = {"kind": "cell", "seq": item.seq, "id": item.case.id, "round": item.round, "sentinel": item.sentinel,
            "case": item.case.to_dict(), "backend": device["backend"], "device_kind": device["kind"]}
    skip = None if item.sentinel else _oom_skip(item, ooms)
    if skip:
        return {**base, "status": "skipped", "reason": skip, "block_s": [], "measured": _now()}
    before = thermal()
    t0 = time.perf_counter()
    try:
        msg = worker.request(("cell", item.case.to_dict(), device, settings), timeout_s)
    except WorkerError as e:
        msg = ("failed", e.status, e.reason)
    wall_s = time.perf_counter() - t0
    extra = {"thermal_before": before, "thermal_after": thermal(), "wall_s": wall_s, "measured": _now()}
    if msg[0] == "result":
        return {**msg[1], **base, **extra}
    if msg[0] == "failed":
        return {**base, "status": msg[1], "reason": msg[2], "block_s": [], **extra}
    return {**base, "status": "invalid", "reason": f"unexpected error: {msg[1].splitlines()[0]}", "block_s": [], **extra}


def resume_state(run_dir: Path) -> RunState:
    meta = read_meta(run_dir)
    if "plan" not in meta:
        raise UsageError(f"--resume: {run_dir} has no stored plan; it was not written by `simplenn-bench run`")
    return RunState(Path(run_dir), meta, list(meta.get("warnings", [])))
