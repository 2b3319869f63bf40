"""What a reader read: how much of its plan a run holds, so that a report or a comparison of an interrupted run (or
of one still being written) says so instead of passing it off as complete."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from simplenn.store.results import Results
from simplenn.store.runmeta import RunMeta, as_meta


@dataclass(frozen=True)
class Completeness:
    """How much of its plan a run holds: distinct cells recorded of those planned, full rounds of those asked."""

    status: str
    n_cells: int
    n_planned: int
    n_rounds: int
    rounds_asked: int

    @property
    def complete(self) -> bool:
        return self.status == "complete" and self.n_cells == self.n_planned and self.n_rounds == self.rounds_asked

    def text(self, run: str) -> str:
        """'run r is interrupted: 4 of 13 planned cells measured, 0 of 3 rounds complete'."""
        state = {"interrupted": "interrupted", "running": "still being written (or its writer died)",
                 "complete": "marked complete but lacks records"}.get(self.status, f"{self.status!r}")
        return (f"run {run} is {state}: {self.n_cells} of {self.n_planned} planned cells measured, "
                f"{self.n_rounds} of {self.rounds_asked} round{'s' if self.rounds_asked != 1 else ''} complete; "
                "its figures cover only what was measured")


def completeness(meta: RunMeta | Mapping, table: pd.DataFrame) -> Completeness | None:
    """How complete one run's rows (`table`) are against its run.json plan; None for a run with no stored plan."""
    meta = as_meta(meta)
    plan = meta.get("plan")
    if not isinstance(plan, list) or not plan:
        return None
    regular = [p for p in plan if not p.get("sentinel")]
    recorded = set(zip(table["seq"], table["cell_id"]))
    done = [p for p in regular if (p["seq"], p["id"]) in recorded]
    rounds = {p.get("round", 0) for p in regular}
    missing_rounds = {p.get("round", 0) for p in regular if (p["seq"], p["id"]) not in recorded}
    asked = meta.grid.get("rounds") or len(rounds)
    return Completeness(status=str(meta.status), n_cells=len({p["id"] for p in done}),
                        n_planned=len({p["id"] for p in regular}), n_rounds=len(rounds - missing_rounds),
                        rounds_asked=int(asked))


def partial_runs(res: Results) -> list[str]:
    """One line per run of `res` that does not hold its whole plan (interrupted, still running, cut short)."""
    notes = []
    for run, meta in res.runs.items():
        c = completeness(meta, res.table[res.table["run"] == run])
        if c is not None and not c.complete:
            notes.append(c.text(run))
    return notes
