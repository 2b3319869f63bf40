"""The records of samples.jsonl as frozen dataclasses (`CellRecord`, `CeilingRecord`), the plan's `PlanItem`, and
the one check of a record read from disk (`check_record`) and the loader rule `once_per_round`.

A cell record is built in one way: `measure()` returns a `CellRecord` of its Case, the worker places it in the
plan with `planned(item)` (seq, round, sentinel: the plan item it was sent), and the parent adds what it saw
(thermal state, wall time) with `dataclasses.replace`; a cell the worker never measured (skipped, crashed,
timed out) is `CellRecord.failed(item, status, reason)`. `to_json()` is the line written, `from_json()` checks
a line and reads it back. The required keys and the type of every key derive from the dataclass fields, so the
file schema and the code cannot drift apart. Unknown keys are allowed (older and newer writers add some).
"""
from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from simplenn.core.cases import STATUSES, Case
from simplenn.core.dimensions import COLUMN_OF

_INT = (int,)
_NUM = (int, float)


class RecordError(ValueError):
    """A record that does not fit the schema; the message names the key ('key 'seq' is missing')."""


@dataclass(frozen=True)
class PlanItem:
    """One planned measurement: its place in the run, the Case, the round, and whether it is the sentinel."""

    seq: int
    case: Case
    round: int = 0
    sentinel: bool = False

    def to_json(self) -> dict:
        return {"seq": self.seq, "id": self.case.id, "case": self.case.to_dict(), "round": self.round,
                "sentinel": self.sentinel}

    @classmethod
    def from_json(cls, d: Mapping) -> "PlanItem":
        return cls(d["seq"], Case.from_dict(d["case"]), d.get("round", 0), d.get("sentinel", False))


@dataclass(frozen=True)
class CellRecord:
    """One measured (or failed, or skipped) cell: its plan item, status, every raw block time and what was checked."""

    case: Case
    status: str
    seq: int = 0
    round: int = 0
    sentinel: bool = False
    reason: str = ""
    n_steps: int | None = 0  # steps per timed block
    block_s: tuple[float, ...] = ()
    calibration_s: tuple[float, ...] = ()
    trace_s: float | None = None
    peak_bytes: float | None = None
    placement: dict = field(default_factory=dict)
    final_loss: float | None = None
    n_traces: int | None = None
    backend: str = "none"
    device_kind: str = ""  # "cpu", "gpu", …: the device's kind (default: read from the device name)
    # The relative half-width of the median's 95 % CI when timing stopped (None: unknown, < 6 blocks); the target
    # it was timed to is the run's `precision`.
    precision_reached: float | None = None
    imprecise: bool = False  # stopped at max_time_s (or max_blocks) short of the target precision: a warning
    worker_pid: int | None = None
    thermal_before: str | None = None
    thermal_after: str | None = None
    wall_s: float | None = None
    measured: str | None = None  # when, ISO 8601 UTC
    id: str = ""  # the cell id as written (Case.id when built here)

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", self.case.id)
        if not self.device_kind:
            object.__setattr__(self, "device_kind", self.case.device.split(":")[0].lower())
        object.__setattr__(self, "block_s", tuple(self.block_s))
        object.__setattr__(self, "calibration_s", tuple(self.calibration_s))

    @property
    def item(self) -> PlanItem:
        """The plan item this record answers."""
        return PlanItem(self.seq, self.case, self.round, self.sentinel)

    def planned(self, item: PlanItem, **context: Any) -> "CellRecord":
        """This measurement placed in the plan (seq, round, sentinel of `item`), with `context` (e.g. worker_pid)."""
        if item.case != self.case:
            raise RecordError(f"a record of {self.case.id} cannot answer plan item {item.seq} ({item.case.id})")
        return replace(self, seq=item.seq, round=item.round, sentinel=item.sentinel, **context)

    @classmethod
    def failed(cls, item: PlanItem, status: str, reason: str, **context: Any) -> "CellRecord":
        """A planned cell that was not measured: skipped, crashed, timed out, or failed in the worker."""
        return cls(item.case, status, reason=reason, **context).planned(item)

    def to_json(self) -> dict:
        """The samples.jsonl line (a JSON object)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        lists = {"block_s": list(self.block_s), "calibration_s": list(self.calibration_s)}
        return {"kind": "cell", **values, **lists, "case": self.case.to_dict()}

    @classmethod
    def from_json(cls, rec: Any) -> "CellRecord":
        """A checked record read back (RecordError naming the key when it does not fit); unknown keys are ignored."""
        problem = check_record(rec)
        if problem or rec["kind"] != "cell":
            raise RecordError(problem or f"not a cell record (kind {rec['kind']!r})")
        known = {f.name for f in fields(cls)} - {"case"}
        return cls(Case.from_dict(rec["case"]), **{k: v for k, v in rec.items() if k in known})


@dataclass(frozen=True)
class CeilingRecord:
    """One device's matmul ceiling probe (simplenn.measure.ceiling), at the start or the end of a run."""

    device: str
    gflops: float
    dtype: str = "float32"
    shape: tuple[int, ...] = ()
    n_steps: int | None = None
    block_s: tuple[float, ...] = ()
    probes: tuple[dict, ...] = ()
    formula: str = ""
    transpose_a: bool | None = None  # the best probe's matmul: (m×k)@(k×n) with the operands as the step has them
    transpose_b: bool | None = None
    matmul: str | None = None  # its label, e.g. '(8192×784)ᵀ @ (8192×100)'
    tf_threads: dict = field(default_factory=dict)  # TensorFlow's intra/inter-op thread settings in the worker
    failed_matmuls: tuple[dict, ...] = ()  # the step's matmuls whose probe failed (out of memory, a crash): left out
    phase: str | None = None  # "start" or "end" of the run
    measured: str | None = None

    def to_json(self) -> dict:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {"kind": "ceiling", **values,
                **{k: list(values[k]) for k in ("shape", "block_s", "probes", "failed_matmuls")}}

    @classmethod
    def from_json(cls, rec: Any) -> "CeilingRecord":
        problem = check_record(rec)
        if problem or rec["kind"] != "ceiling":
            raise RecordError(problem or f"not a ceiling record (kind {rec['kind']!r})")
        known = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in rec.items() if k in known})


def best_ceilings(records: list[dict]) -> dict[str, float]:
    """Device -> its ceiling GFLOP/s: probed at the start and the end of a run, the faster probe is the better
    estimate of what the device can do."""
    ceilings: dict[str, float] = {}
    for r in records:
        if r.get("kind") == "ceiling" and r.get("gflops"):
            ceilings[r["device"]] = max(r["gflops"], ceilings.get(r["device"], 0.0))
    return ceilings


# ------------------------------------------------------------------------- the schema, derived from the classes


def _schema(cls: type, required: tuple[str, ...], on_disk: Mapping[str, str] | None = None) -> dict:
    """JSON key -> (accepted types, required) from a dataclass's fields and type hints; None is allowed when optional."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in fields(cls):
        hint = hints[f.name]
        options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        kinds = {typing.get_origin(t) or t for t in options} - {type(None)}
        accepted = (_NUM if float in kinds else _INT if int in kinds else (str,) if str in kinds else
                    (bool,) if bool in kinds else (list,) if tuple in kinds else (dict,))
        out[(on_disk or {}).get(f.name, f.name)] = (accepted, f.name in required)
    return out


CELL = {**_schema(CellRecord, ("seq", "case", "status", "block_s", "id")), "case": ((dict,), True)}
# The dimensions every format has had; the later ones default to what files without them meant.
CASE = _schema(Case, ("device", "batch_size", "layer_sizes"), COLUMN_OF)
CEILING = _schema(CeilingRecord, ("device", "gflops"))
KINDS = {"cell": CELL, "ceiling": CEILING}


def _type_name(types_: tuple[type, ...]) -> str:
    return {_INT: "an integer", _NUM: "a number", (str,): "a string", (dict,): "an object", (list,): "a list",
            (bool,): "true or false"}[types_]


def _check_keys(rec: dict, schema: dict, where: str = "") -> str | None:
    for key, (types_, required) in schema.items():
        if key not in rec:
            if required:
                return f"key {where + key!r} is missing"
            continue
        value = rec[key]
        if value is None and not required:
            continue
        if isinstance(value, bool) and bool not in types_ or not isinstance(value, types_):
            return f"key {where + key!r} must be {_type_name(types_)}, got {value!r}"
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
