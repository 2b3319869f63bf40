"""The results store: a run folder with `run.json` and an append-only `samples.jsonl`, and `load()` → `Results`.

Format history (SCHEMA_VERSION):
  1  simplenn-bench 0.1.0. run.json: {schema_version, tool, tool_version, created, grid, order, order_seed,
     machine, devices, sentinel, status, drift, warnings}. samples.jsonl: one JSON object per line, either
     {"kind": "cell", ...} (one measured cell with every block time) or {"kind": "ceiling", ...} (one
     device's matmul ceiling probe, at the start and at the end of a run: the faster one counts). Times in
     seconds. Optional, no version bump: run.json `run_id` (a random uuid4 hex, written by `run` since issue 12),
     which tells a copy of a run from a different run with the same folder name; older runs are told apart by
     path. Likewise a cell's `precision` (its median's relative 95 % CI half-width when timing stopped),
     `imprecise` and `worker_pid`; a ceiling's `shape` and `probes`; the grid's `precision` and `max_time_s`.
     FLOPs (issue 23, no version bump): no record stores a count; `rows()` derives it from the case, so runs from
     before the fix (6 × batch × weight entries) load with the fixed count. Ceiling probes since then time the step's
     big matmuls one at a time with their transposes (per probe `transpose_a`, `transpose_b`, `matmul`, `role`; the
     record's `tf_threads`); older ones timed chained matmuls (`shape`) or a square (`n`). `gflops` = the fastest.
Older files are upgraded on load by the functions in _UPGRADES (none yet); newer ones are refused.
"""
from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from simplenn.core.cases import Case
from simplenn.core import files
from simplenn.core.errors import FieldError, Notice, UsageError
from simplenn.store.lock import LOCK_FILE
from simplenn.core.records import check_record, once_per_round
from simplenn.core.timing import per_step_s

SCHEMA_VERSION = 1
RUN_FILE = "run.json"
SAMPLES_FILE = "samples.jsonl"

# _UPGRADES[n] turns a version-n run.json (and its records) into version n+1.
_UPGRADES: dict[int, callable] = {}

# The tidy table: one row per timed block (cells without samples get one row with NaN block values).
CELL_KEYS = ["run", "machine", "device", "device_kind", "backend", "impl", "mode",
             "batch_size", "widths", "hidden", "loss", "dtype", "jit"]
COLUMNS = CELL_KEYS + [
    "cell_id", "seq", "round", "sentinel", "status", "reason", "trace_s", "peak_bytes", "final_loss",
    "thermal_before", "thermal_after", "block", "n_steps", "block_s", "step_s", "flops_per_step",
    "ceiling_gflops", "precision", "imprecise", "worker_pid",
]


# Files a desktop leaves in any folder (Finder, Explorer, macOS on foreign disks: ._name), and our own lock: a folder
# holding only these is empty for a new run.
DESKTOP_FILES = {".DS_Store", "Thumbs.db", "desktop.ini", ".localized"}


def not_empty(run_dir: Path) -> str | None:
    """Why `run_dir` cannot take a new run ('… already exists; use --resume …'), or None when it is free."""
    if not run_dir.is_dir():
        return None
    others = sorted(p.name for p in run_dir.iterdir()
                    if p.name not in DESKTOP_FILES | {LOCK_FILE} and not p.name.startswith("._"))
    if not others:
        return None
    if RUN_FILE in others:
        return f"{run_dir} already exists; use --resume {run_dir} to continue it, or choose a new folder"
    shown = ", ".join(others[:3]) + (f", … ({len(others)} entries)" if len(others) > 3 else "")
    return f"{run_dir} already exists and is not a run folder (it holds {shown}); choose a new or empty folder"


class ResultsError(UsageError):
    """A run folder that cannot be read: missing, corrupt, or from a newer version of the tool."""


class RunWriter:
    """Writes one run folder. Records are appended one JSON line at a time, flushed and fsynced."""

    def __init__(self, run_dir: Path | str):
        self.run_dir = Path(run_dir)

    def create(self, meta: dict) -> None:
        files.ensure_dir(self.run_dir, "run_dir")
        problem = not_empty(self.run_dir)
        if problem:
            raise FieldError("run_dir", problem)
        files.write_json(self.run_dir / RUN_FILE, {**meta, "schema_version": SCHEMA_VERSION}, "run_dir")
        files.write_bytes(self.run_dir / SAMPLES_FILE, b"", "run_dir")

    def update_meta(self, **changes) -> dict:
        meta = read_meta(self.run_dir)
        meta.update(changes)
        files.write_json(self.run_dir / RUN_FILE, meta)
        return meta

    def append(self, record: dict) -> None:
        files.append_line(self.run_dir / SAMPLES_FILE, json.dumps(record, sort_keys=True, default=str))

    def drop_torn_tail(self) -> str | None:
        """Remove a torn last line (a write cut short by a kill) so appends start clean; return a warning."""
        path = self.run_dir / SAMPLES_FILE
        data = path.read_bytes() if path.exists() else b""
        if not data or data.endswith(b"\n"):
            return None
        keep = data[: data.rfind(b"\n") + 1]
        files.write_bytes(path, keep)
        return f"{path}: dropped a torn last line ({len(data) - len(keep)} bytes) left by an interrupted write"


def read_meta(run_dir: Path | str) -> dict:
    """run.json of a run folder, upgraded to the current schema version."""
    run_dir = Path(run_dir)
    path = run_dir / RUN_FILE
    if not run_dir.is_dir():
        raise ResultsError(f"{run_dir}: no such run folder")
    if not path.exists():
        raise ResultsError(f"{run_dir}: not a run folder (no {RUN_FILE})")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ResultsError(f"{path}: corrupt JSON ({e})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("schema_version"), int):
        raise ResultsError(f"{path}: not a simplenn-bench run file (no integer schema_version)")
    version = meta["schema_version"]
    if version > SCHEMA_VERSION:
        raise ResultsError(
            f"{path}: schema version {version} is newer than this simplenn-bench understands "
            f"({SCHEMA_VERSION}); upgrade simplenn-bench to read it"
        )
    while version < SCHEMA_VERSION:
        if version not in _UPGRADES:
            raise ResultsError(f"{path}: schema version {version} is too old to upgrade")
        meta = _UPGRADES[version](meta)
        version = meta["schema_version"] = version + 1
    return meta


def read_records(run_dir: Path | str) -> tuple[list[dict], list[str]]:
    """All records of samples.jsonl and warnings; a torn last line is dropped with a warning, other damage refused.

    Every reader goes through here, so every reader holds a run to the loader rule (records.once_per_round: a cell
    is measured once per round, and only as planned in run.json): a duplicated line or a record outside the plan is
    refused, naming the file and the line, never pooled.
    """
    path = Path(run_dir) / SAMPLES_FILE
    if not path.exists():
        raise ResultsError(f"{run_dir}: no {SAMPLES_FILE}")
    lines = path.read_text(errors="replace").split("\n")
    numbered, notes = [], []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or "kind" not in rec:
                raise ValueError("not a record")
        except ValueError as e:
            if i == len(lines) - 1:  # the last line with no newline: a write cut short
                notes.append(f"{path}: dropped a torn last line (line {i + 1})")
                continue
            raise ResultsError(f"{path}: line {i + 1} is corrupt ({e})") from None
        problem = check_record(rec)
        if problem:
            raise ResultsError(f"{path}: line {i + 1}: {problem}")
        numbered.append((i + 1, rec))
    plan = read_meta(run_dir).get("plan") if (Path(run_dir) / RUN_FILE).exists() else None
    broken = once_per_round(numbered, plan if isinstance(plan, list) else None)
    if broken:
        raise ResultsError(f"{path}: line {broken[0]}: {broken[1]}")
    return [rec for _, rec in numbered], notes


def completed_keys(records: Iterable[dict]) -> set[tuple[int, str]]:
    """(seq, cell id) of every cell already recorded: what a resumed run must not measure again."""
    return {(r["seq"], r["id"]) for r in records if r.get("kind") == "cell"}


def rows(run: str, machine: str, records: list[dict]) -> list[dict]:
    """Tidy rows (one per timed block) from cell and ceiling records; per-step time is derived here only."""
    ceilings: dict[str, float] = {}
    for r in records:
        if r.get("kind") == "ceiling" and r.get("gflops"):
            # Probed at the start and the end of a run: the faster probe is the better estimate of the ceiling.
            ceilings[r["device"]] = max(r["gflops"], ceilings.get(r["device"], 0.0))
    out = []
    for r in records:
        if r.get("kind") != "cell":
            continue
        case = Case.from_dict(r["case"])
        base = {
            "run": run, "machine": machine, "device": case.device,
            "device_kind": r.get("device_kind", case.device.split(":")[0].lower()),
            "backend": r.get("backend", "none"), "impl": case.impl, "mode": case.mode,
            "batch_size": case.batch_size, "widths": case.widths_label, "hidden": case.hidden,
            "loss": case.loss, "dtype": case.dtype, "jit": case.jit,
            "cell_id": r["id"], "seq": r["seq"], "round": r.get("round", 0), "sentinel": r.get("sentinel", False),
            "status": r["status"], "reason": r.get("reason", ""), "trace_s": r.get("trace_s", math.nan),
            "peak_bytes": r.get("peak_bytes"), "final_loss": r.get("final_loss", math.nan),
            "thermal_before": r.get("thermal_before"), "thermal_after": r.get("thermal_after"),
            "flops_per_step": case.flops_per_step, "ceiling_gflops": ceilings.get(case.device, math.nan),
            # The median's relative 95 % CI half-width reached when timing stopped, and whether it fell short.
            "precision": r.get("precision"), "imprecise": bool(r.get("imprecise", False)),
            "worker_pid": r.get("worker_pid"),
        }
        blocks = r.get("block_s") or []
        n_steps = r.get("n_steps") or 0
        if not blocks:
            out.append({**base, "block": math.nan, "n_steps": math.nan, "block_s": math.nan, "step_s": math.nan})
        for i, t in enumerate(blocks):
            out.append({**base, "block": i, "n_steps": n_steps, "block_s": t, "step_s": per_step_s(t, n_steps)})
    return out


def frame(rows: list[dict]) -> pd.DataFrame:
    """Build the tidy DataFrame with the canonical columns and dtypes from row dicts."""
    df = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("block_s", "step_s", "trace_s", "final_loss", "ceiling_gflops", "flops_per_step", "peak_bytes",
                "precision"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["batch_size"] = df["batch_size"].astype(int)
    return df


def validate(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Refuse a table that cannot be right: missing columns, non-positive times, unknown statuses."""
    from simplenn.core.cases import STATUSES

    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ResultsError(f"{source}: missing columns {missing}")
    bad = df[(df["block_s"].notna()) & ~(df["block_s"] > 0)]
    if not bad.empty:
        raise ResultsError(f"{source}: non-positive block times in cells {sorted(bad['cell_id'].unique())}")
    unknown = set(df["status"]) - set(STATUSES)
    if unknown:
        raise ResultsError(f"{source}: unknown statuses {sorted(unknown)}")
    return df


@dataclass(frozen=True)
class Results:
    """The tidy samples table and, beside it (never in `table.attrs`), each run's metadata: run id → run.json dict.

    Keeping the metadata out of the DataFrame matters for speed: pandas deep-copies `attrs` on every slice,
    which made a report over many runs quadratic in their number.
    """

    table: pd.DataFrame
    runs: Mapping[str, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "runs", MappingProxyType(dict(self.runs)))


def as_results(data: Results | pd.DataFrame) -> Results:
    """`data` itself, or a bare samples DataFrame wrapped with no run metadata."""
    return data if isinstance(data, Results) else Results(data)


def load(run_dir: Path | str, label: str | None = None) -> Results:
    """One run folder: its tidy samples table (one row per timed block, seconds in *_s columns, validated) and run.json.

    The run is labelled `label` (default: the folder's name) in the `run` column and as the key of `runs`.
    """
    run_dir = Path(run_dir)
    label = label or run_dir.name
    meta = read_meta(run_dir)
    records, notes = read_records(run_dir)
    for note in notes:
        warnings.warn(note, Notice, stacklevel=2)
    machine = (meta.get("machine") or {}).get("label", "unknown machine")
    table = validate(frame(rows(label, machine, records)), str(run_dir))
    return Results(table, {label: meta})


# ------------------------------------------------------------------------------- run metadata accessors


def machine_of(runs: Mapping[str, dict], run: str) -> dict:
    """The machine dict of a run's run.json ({} when unknown)."""
    return (runs.get(run) or {}).get("machine") or {}


def machine_versions(machine: Mapping) -> dict[str, str]:
    """Software versions of a run.json machine dict, tolerant of flat keys or a `versions` sub-dict."""
    versions = dict(machine.get("versions") or {})
    pick = {
        "python": machine.get("python"),
        "tensorflow": versions.get("tensorflow") or machine.get("tensorflow"),
        "keras": versions.get("keras") or machine.get("keras"),
        "tensorflow-metal": versions.get("tensorflow-metal") or machine.get("tensorflow_metal"),
    }
    return {k: str(v) for k, v in pick.items() if v}
