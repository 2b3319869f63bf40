"""The run folder on disk: `run.json` and an append-only `samples.jsonl`, its writer and its checked readers.

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
     record's `transpose_a`, `transpose_b`, `matmul` of the fastest and `tf_threads`); older ones timed chained
     matmuls (`shape`) or a square (`n`). `gflops` = the fastest.
  2  issue 22: a cell's achieved precision is `precision_reached` (the grid's `precision` stays the target it was
     timed to); records are simplenn.core.records.CellRecord.to_json() (every field written, null when unknown).
Older files are upgraded on load: run.json by the functions in _UPGRADES, records by _upgrade_record (which also
reads a version-1 record appended to a run resumed by version 2); newer ones are refused.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from simplenn.core import files
from simplenn.core.errors import FieldError, UsageError
from simplenn.core.records import check_record, once_per_round
from simplenn.store.lock import LOCK_FILE
from simplenn.store.runmeta import RunMeta

SCHEMA_VERSION = 2
RUN_FILE = "run.json"
SAMPLES_FILE = "samples.jsonl"


def _upgrade_record(rec: dict) -> dict:
    """A samples.jsonl record in the current format: version 1 named the achieved precision `precision`."""
    if rec.get("kind") == "cell" and "precision" in rec and "precision_reached" not in rec:
        rec = {**rec, "precision_reached": rec["precision"]}
        del rec["precision"]
    return rec


# _UPGRADES[n] turns a version-n run.json into version n+1 (its records: _upgrade_record).
_UPGRADES: dict[int, callable] = {1: lambda meta: meta}


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
        RunMeta.from_json(meta)  # never write metadata the readers would refuse (MetaError names the key)
        files.ensure_dir(self.run_dir, "run_dir")
        problem = not_empty(self.run_dir)
        if problem:
            raise FieldError("run_dir", problem)
        files.write_json(self.run_dir / RUN_FILE, {**meta, "schema_version": SCHEMA_VERSION}, "run_dir")
        files.write_bytes(self.run_dir / SAMPLES_FILE, b"", "run_dir")

    def update_meta(self, **changes) -> dict:
        meta = read_meta(self.run_dir)
        meta.update(changes)
        RunMeta.from_json(meta)
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
    """All records of samples.jsonl (in the current format) and warnings; a torn last line is dropped with a warning,
    other damage refused.

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
            rec = _upgrade_record(rec)
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
