"""Several run folders as one `Results`: each run once (the same folder, or a copy with the same run id, is refused)
and same-named folders (d1/run, d2/run) labelled by as much of their path as tells them apart."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from simplenn.core.errors import UsageError
from simplenn.store.results import Results, as_results, load
from simplenn.store.runmeta import can_combine


def combine(sources: Iterable[Results | pd.DataFrame]) -> Results:
    """One Results from several (e.g. two Macs): tables concatenated, `run` and `machine` tell them apart.

    Two sources holding a run of the same name are refused: pooling them would count samples twice or mix two runs.
    """
    parts = [as_results(s) for s in sources]
    if not parts:
        raise UsageError("give at least one run folder")
    names = [name for p in parts for name in dict.fromkeys(p.table["run"].astype(str))]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"run {', '.join(map(repr, twice))} is given more than once; pooling would count samples "
                         "twice or mix two runs: give each run once, or rename one")
    runs = {k: v for p in parts for k, v in p.runs.items()}
    problem = can_combine(runs)
    if problem:
        raise UsageError(problem)
    table = pd.concat([p.table for p in parts], ignore_index=True) if len(parts) > 1 else parts[0].table.copy()
    return Results(table, runs)


def run_labels(run_dirs: list[Path]) -> list[str]:
    """A distinct label per (distinct) run folder: its name, or as many trailing path parts as tell it apart."""
    parts = [Path(d).resolve().parts for d in run_dirs]
    labels = []
    for p in parts:
        n = 1
        while n < len(p) and sum(q[-n:] == p[-n:] for q in parts) > 1:
            n += 1
        labels.append("/".join(p[-n:]))
    return labels


def load_distinct(run_dirs: Iterable[Path | str]) -> list[Results]:
    """Each run folder loaded once, labelled apart: the same run given twice is refused, by path or by run id.

    A run compared with (or pooled with) itself, or with a copy of itself, proves nothing and counts its samples
    twice; folders that only share a name (d1/run, d2/run) are labelled by as much of their path as tells them apart.
    """
    dirs = [Path(d) for d in run_dirs]
    first: dict[Path, Path] = {}
    for d in dirs:
        if d.resolve() in first:
            raise UsageError(f"{first[d.resolve()]} and {d} are the same run folder; give each run once "
                             "(reading it twice would count its samples twice)")
        first[d.resolve()] = d
    labels = run_labels(dirs)
    loaded = [load(d, label) for d, label in zip(dirs, labels)]
    problem = can_combine({str(d): res.meta(label) for d, res, label in zip(dirs, loaded, labels)})
    if problem:  # said with the folders' paths, before combine() would say it with their labels
        raise UsageError(problem)
    return loaded


def load_many(run_dirs: Iterable[Path | str]) -> Results:
    """Several run folders as one Results; `run` and `machine` columns tell them apart (see load_distinct)."""
    dirs = list(run_dirs)
    if not dirs:
        raise UsageError("report: give at least one run folder")
    return combine(load_distinct(dirs))
