"""The one schema of samples.jsonl records (required keys and their types) and its check.

A cell record is what `sweep` appends for one planned cell: the Measurement's `to_record()` plus the plan's seq,
round and sentinel flag. A ceiling record is one device's matmul probe (`measure.Ceiling.to_dict()`).
Optional keys are checked only when present; unknown keys are allowed (older and newer writers add some).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from simplenn.core.cases import STATUSES, Case

_INT = (int,)
_NUM = (int, float)

# key -> (types, required); bools are never ints or numbers here.
CELL = {
    "seq": (_INT, True), "id": ((str,), True), "case": ((dict,), True), "status": ((str,), True),
    "block_s": ((list,), True), "n_steps": (_INT, False), "round": (_INT, False), "sentinel": ((bool,), False),
    "reason": ((str,), False), "trace_s": (_NUM, False), "final_loss": (_NUM, False), "peak_bytes": (_NUM, False),
    "backend": ((str,), False), "device_kind": ((str,), False), "wall_s": (_NUM, False),
    "precision": (_NUM, False), "imprecise": ((bool,), False), "worker_pid": (_INT, False),
}
CASE = {
    "device": ((str,), True), "batch_size": (_INT, True), "widths": ((list,), True), "loss": ((str,), False),
    "dtype": ((str,), False), "jit": ((bool,), False), "impl": ((str,), False), "mode": ((str,), False),
}
CEILING = {"device": ((str,), True), "gflops": (_NUM, True), "n_steps": (_INT, False), "block_s": ((list,), False)}
KINDS = {"cell": CELL, "ceiling": CEILING}


def _type_name(types: tuple[type, ...]) -> str:
    return {_INT: "an integer", _NUM: "a number", (str,): "a string", (dict,): "an object", (list,): "a list",
            (bool,): "true or false"}[types]


def _check_keys(rec: dict, schema: dict, where: str = "") -> str | None:
    for key, (types, required) in schema.items():
        if key not in rec:
            if required:
                return f"key {where + key!r} is missing"
            continue
        value = rec[key]
        if value is None and not required:
            continue
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            return f"key {where + key!r} must be {_type_name(types)}, got {value!r}"
    return None


def check_record(rec: Any) -> str | None:
    """What is wrong with one samples.jsonl record ('key 'seq' is missing'), or None when it fits the schema."""
    if not isinstance(rec, dict):
        return f"a record must be a JSON object, got {type(rec).__name__}"
    kind = rec.get("kind")
    if kind not in KINDS:
        return f"key 'kind' must be one of {', '.join(KINDS)}, got {kind!r}"
    problem = _check_keys(rec, KINDS[kind])
    if problem or kind != "cell":
        return problem
    problem = _check_keys(rec["case"], CASE, "case.")
    if problem:
        return problem
    if rec["status"] not in STATUSES:
        return f"key 'status' must be one of {', '.join(STATUSES)}, got {rec['status']!r}"
    blocks = rec["block_s"]
    if any(isinstance(t, bool) or not isinstance(t, _NUM) or not (t > 0 and math.isfinite(t)) for t in blocks):
        return "key 'block_s' must hold positive finite seconds"
    if blocks and not (isinstance(rec.get("n_steps"), int) and not isinstance(rec["n_steps"], bool) and rec["n_steps"] > 0):
        return f"key 'n_steps' must be a positive integer when 'block_s' has times, got {rec.get('n_steps')!r}"
    return None


def once_per_round(numbered: Iterable[tuple[int, dict]], plan: list[dict] | None) -> tuple[int, str] | None:
    """(line, problem) of the first cell record that breaks the loader rule, or None: a cell is measured once per round.

    Each cell record must answer one planned measurement, (seq, id), once: a line appended twice would have its
    blocks counted twice (narrowing every CI), and a record outside the stored plan measures something the run never
    asked for. Without a stored plan (runs older than the plan, hand-made fixtures) each (seq, id), and each
    non-sentinel (id, round), may still appear only once.
    """
    planned = {(p["seq"], p["id"]): p for p in plan} if plan is not None else None
    seen: dict[tuple, int] = {}
    for line, rec in numbered:
        if rec.get("kind") != "cell":
            continue
        name = f"cell {rec['id']} (seq {rec['seq']}, round {rec.get('round', 0)})"
        keys = [("seq", rec["seq"], rec["id"])]
        if not rec.get("sentinel"):
            keys.append(("round", rec["id"], rec.get("round", 0)))
        for key in keys:
            if key in seen:
                return line, (f"{name} is already recorded at line {seen[key]}; a cell is measured once per round, "
                              "so its blocks would count twice: remove one of the two lines")
        if planned is not None:
            item = planned.get((rec["seq"], rec["id"]))
            if item is None or item.get("round", 0) != rec.get("round", 0) or not _same_case(item["case"], rec["case"]):
                return line, (f"{name} is not in run.json's plan; a record the run never planned is not a "
                              "measurement of it: remove the line")
        for key in keys:
            seen[key] = line
    return None


def _same_case(planned: dict, recorded: dict) -> bool:
    """The plan's case and a record's case describe the same cell (keys absent on one side take Case defaults)."""
    try:
        return Case.from_dict(planned) == Case.from_dict(recorded)
    except (TypeError, ValueError, KeyError):
        return False
