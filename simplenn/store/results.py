"""The results of a run: `rows()` → the tidy table, and `load()` → `Results` (several runs: simplenn.store.several).

The run folder's format (its history, writer and readers) is simplenn.store.runfolder; run metadata is
simplenn.store.runmeta.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from simplenn.core.cases import STATUSES
from simplenn.core.dimensions import CELL_COLUMNS
from simplenn.core.errors import Notice
from simplenn.core.records import CellRecord, best_ceilings
from simplenn.core.timing import per_step_s
from simplenn.store.runfolder import ResultsError, read_meta, read_records
from simplenn.store.runmeta import MetaError, RunMeta, as_meta

# The tidy table: one row per timed block (cells without samples get one row with NaN block values).
COLUMNS = CELL_COLUMNS + [
    "cell_id", "seq", "round", "sentinel", "status", "reason", "trace_s", "peak_bytes", "final_loss",
    "thermal_before", "thermal_after", "block", "n_steps", "block_s", "step_s", "flops_per_step",
    "ceiling_gflops", "precision_reached", "imprecise", "worker_pid",
]


def rows(run: str, machine: str, records: list[dict]) -> list[dict]:
    """Tidy rows (one per timed block) from cell and ceiling records; per-step time is derived here only."""
    ceilings = best_ceilings(records)
    out = []
    for cell in (CellRecord.from_json(r) for r in records if r.get("kind") == "cell"):
        case = cell.case
        base = {
            "run": run, "machine": machine, **case.columns(), "device_kind": cell.device_kind,
            "backend": cell.backend, "cell_id": cell.id, "seq": cell.seq, "round": cell.round,
            "sentinel": cell.sentinel, "status": cell.status, "reason": cell.reason, "trace_s": cell.trace_s,
            "peak_bytes": cell.peak_bytes, "final_loss": cell.final_loss, "thermal_before": cell.thermal_before,
            "thermal_after": cell.thermal_after, "flops_per_step": case.flops_per_step,
            "ceiling_gflops": ceilings.get(case.device, math.nan), "precision_reached": cell.precision_reached,
            "imprecise": cell.imprecise, "worker_pid": cell.worker_pid,
        }
        if not cell.block_s:
            out.append({**base, "block": math.nan, "n_steps": math.nan, "block_s": math.nan, "step_s": math.nan})
        for i, t in enumerate(cell.block_s):
            out.append({**base, "block": i, "n_steps": cell.n_steps, "block_s": t,
                        "step_s": per_step_s(t, cell.n_steps)})
    return out


def frame(rows: list[dict]) -> pd.DataFrame:
    """Build the tidy DataFrame with the canonical columns and dtypes from row dicts."""
    df = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("block_s", "step_s", "trace_s", "final_loss", "ceiling_gflops", "flops_per_step", "peak_bytes",
                "precision_reached"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["batch_size"] = df["batch_size"].astype(int)
    return df


def validate(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Refuse a table that cannot be right: missing columns, non-positive times, unknown statuses."""
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
    """The tidy samples table and, beside it (never in `table.attrs`), each run's metadata: run label → `RunMeta`
    (a run.json-like dict given here is read into one).

    Keeping the metadata out of the DataFrame matters for speed: pandas deep-copies `attrs` on every slice,
    which made a report over many runs quadratic in their number.
    """

    table: pd.DataFrame
    runs: Mapping[str, RunMeta] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "runs", MappingProxyType({k: as_meta(v) for k, v in self.runs.items()}))

    def meta(self, run: str) -> RunMeta:
        """The metadata of one run (empty when the run has none recorded)."""
        return self.runs.get(run) or RunMeta()


def as_results(data: Results | pd.DataFrame) -> Results:
    """`data` itself, or a bare samples DataFrame wrapped with no run metadata."""
    return data if isinstance(data, Results) else Results(data)


def load(run_dir: Path | str, label: str | None = None) -> Results:
    """One run folder: its tidy samples table (one row per timed block, seconds in *_s columns, validated) and run.json.

    The run is labelled `label` (default: the folder's name) in the `run` column and as the key of `runs`.
    """
    run_dir = Path(run_dir)
    label = label or run_dir.name
    try:
        meta = RunMeta.from_json(read_meta(run_dir))
    except MetaError as e:
        raise ResultsError(f"{run_dir}: run.json: {e}") from None
    records, notes = read_records(run_dir)
    for note in notes:
        warnings.warn(note, Notice, stacklevel=2)
    table = validate(frame(rows(label, meta.label, records)), str(run_dir))
    return Results(table, {label: meta})
