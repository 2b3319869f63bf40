"""What the run loop asks the worker (a cell, a ceiling, the parities) and what it makes of each answer: the record to
append, or the run.json entry, with a warning for what failed. A failure costs the request, never the run."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone

from simplenn.core.cases import DEFAULT_WIDTHS
from simplenn.core.records import CeilingRecord, CellRecord, PlanItem, RecordError
from simplenn.measure.ceiling import merge_ceilings
from simplenn.measure.cell import Settings
from simplenn.sweep.config import SweepConfig
from simplenn.sweep.plan import oom_skip
from simplenn.sweep.worker import Worker, WorkerError


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def device_parity(devices: list[str], config: SweepConfig, worker: Worker, warnings: list[str]) -> dict | None:
    """The same seeded steps on every device of the run (784-100-30-10, batch 32): losses and weights must agree."""
    try:
        msg = worker.request(("parity", devices, config.seed), config.timeout_s)
    except WorkerError as e:
        msg = ("error", e.reason)
    if msg[0] != "result":
        warnings.append(f"device parity check failed to run: {msg[1].splitlines()[0]}")
        return None
    if not msg[1]["ok"]:
        warnings.append(f"device parity: {msg[1]['message']}")
    return msg[1]


def implementation_parity(device: str, config: SweepConfig, worker: Worker, warnings: list[str]) -> dict | None:
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
            warnings.append(f"implementation parity check ({dtype}) failed to run: {msg[1].splitlines()[0]}")
            continue
        rows += [{**r, "dtype": dtype} for r in msg[1]]
        warnings += [f"implementation parity ({dtype}): {r['impl']} {r['mode']} {r['reason']}"
                           for r in msg[1] if r["status"] == "mismatch"]
    return {**spec, "rows": rows} if rows else None


def probe_ceiling(device: str, phase: str, shapes: list, timeout_s: float, worker: Worker,
                  warnings: list[str]) -> CeilingRecord | None:
    """The device's matmul ceiling (the 1024³ square and the step's own big matmuls) as a record, or None.

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
            parts.append(CeilingRecord.from_json(msg[1]).to_json())
        else:
            reason = msg[1].splitlines()[0]
            failed.append({"matmul": mm.label, "shape": [mm.m, mm.k, mm.n], "reason": reason})
            warnings.append(f"ceiling probe on {device} ({phase} of run), matmul {mm.label}: failed and left "
                                  f"out: {reason}")
    if parts:
        merged = CeilingRecord.from_json(merge_ceilings(parts))
        return replace(merged, failed_matmuls=tuple(failed), phase=phase, measured=now())
    if not shapes:
        warnings.append(f"ceiling probe on {device} ({phase} of run): no matmul to probe")
    return None


def measure_item(item: PlanItem, device: dict, settings: Settings, timeout_s: float, worker: Worker,
                 ooms: dict[tuple, int], thermal: Callable[[], str]) -> CellRecord:
    """The record of one planned cell: measured by the worker, or why not (skipped, crashed, timed out)."""
    seen = {"backend": device["backend"], "device_kind": device["kind"]}
    skip = None if item.sentinel else oom_skip(item.case, ooms)
    if skip:
        return CellRecord.failed(item, "skipped", skip, measured=now(), **seen)
    before = thermal()
    t0 = time.perf_counter()
    try:
        msg = worker.request(("cell", item.to_json(), device, settings), timeout_s)
    except WorkerError as e:
        msg = ("failed", e.status, e.reason)
    seen.update(thermal_before=before, thermal_after=thermal(), wall_s=time.perf_counter() - t0, measured=now())
    if msg[0] == "result":
        try:
            return replace(CellRecord.from_json(msg[1]).planned(item), **seen)
        except RecordError as e:  # the worker answered with something that is not this cell's record
            msg = ("error", f"the worker's record does not fit: {e}")
    if msg[0] == "failed":
        return CellRecord.failed(item, msg[1], msg[2], **seen)
    return CellRecord.failed(item, "invalid", f"unexpected error: {msg[1].splitlines()[0]}", **seen)
