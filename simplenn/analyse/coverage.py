"""Which base cells the regression gate covers, and what it refuses to compare at all.

Coverage: a gate that compares nothing must not pass. When no cell of new matches a cell of base, or fewer than
`min_coverage_pct` % of base's cells do, compare() refuses (UsageError, exit 2) and names the keys whose values
differ between the two runs (different grids, devices, …).

Status: the verdict covers every base cell. A cell that was ok in base and is not ok in new (crashed, oom, timeout,
invalid, skipped, …) is a **lost cell**: a gate failure of its own (exit status compare.LOST_EXIT from the command),
never "matched" and never hidden behind "No regression". The same run on both sides (one folder, or a copy with the
same run id) is refused like `report` refuses it: a run compared with itself always passes. A side that does not
hold its whole plan (interrupted, still running) is labelled with what it holds (store.completeness).
"""
from __future__ import annotations

import pandas as pd

from simplenn.analyse.report.tables import first_non_ok, measured
from simplenn.core.errors import FieldError, UsageError
from simplenn.store.results import Results


def check_min_coverage(min_coverage_pct: float) -> float:
    if isinstance(min_coverage_pct, bool) or not (isinstance(min_coverage_pct, (int, float))
                                                  and 0 <= min_coverage_pct <= 100):
        raise FieldError("min_coverage_pct", f"must be a percentage from 0 to 100, got {min_coverage_pct!r}")
    return float(min_coverage_pct)


def differing_keys(base_cells: pd.DataFrame, new_cells: pd.DataFrame, keys: list[str]) -> str:
    """'device: base CPU:0, new CPU:1; batch_size: …' for each key whose values differ between the runs."""
    def shown(values: set) -> str:
        try:
            items = [str(v) for v in sorted(values)]  # batch sizes in numeric order
        except TypeError:
            items = sorted(map(str, values))
        return ",".join(items[:6]) + (f",… ({len(items)} values)" if len(items) > 6 else "")

    parts = []
    for key in keys:
        b, n = set(base_cells.index.get_level_values(key)), set(new_cells.index.get_level_values(key))
        if b != n:
            parts.append(f"{key}: base {shown(b)}, new {shown(n)}")
    return "; ".join(parts) or "none (the same values, in other combinations)"


def require_coverage(base_cells: pd.DataFrame, new_cells: pd.DataFrame, keys: list[str], n_matched: int,
                      min_coverage_pct: float) -> None:
    n_base = len(base_cells)
    pct = 100 * n_matched / n_base if n_base else 0.0
    if n_matched and pct >= min_coverage_pct:
        return
    what = ("no cell of new matches a cell of base" if not n_matched else
            f"only {n_matched} of base's {n_base} cells ({pct:.0f} %) have a match in new, below {{min_coverage_pct}} "
            f"{min_coverage_pct:g} %")
    raise FieldError("", f"{what}; keys that differ: {differing_keys(base_cells, new_cells, keys)}. "
                         "A comparison of too few cells cannot pass a regression gate", ("min_coverage_pct",))


def cell_status(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    cells = measured(df).groupby(keys, sort=True).agg(
        cell_id=("cell_id", "first"),
        status=("status", first_non_ok),
        reason=("reason", lambda s: next((x for x in s if isinstance(x, str) and x), "")),
    )
    return cells


def refuse_same_run(base: Results, new: Results) -> None:
    """The same run on both sides (by run id; the command also checks paths) passes for ever: refuse it."""
    ids = lambda res: {m.run_id for m in res.runs.values() if m.run_id}
    same = sorted(ids(base) & ids(new))
    if same:
        raise UsageError(f"base and new hold the same run (run id {same[0]}): a run compared with itself or its copy "
                         "always passes; give two different runs")


def status_line(r) -> str:
    """'<cell>: base ok, new crashed (reason)' for one row of the merged status table."""
    reason = r.reason_new or r.reason_base
    return f"{r.cell_id_base}: base {r.status_base}, new {r.status_new}" + (f" ({reason})" if reason else "")
