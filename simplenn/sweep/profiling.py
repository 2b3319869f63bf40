"""`run --profile`: after a run's cells are measured, trace the chosen ones in the worker into run.json's `profile`.

A profiled step runs under the profiler (slower), so its records never go into samples.jsonl: they live in run.json
(`profile`, read by simplenn.store.profiles.table) and its raw traces in the run folder's traces/ (which `share`
leaves out: a trace holds the host's name).
"""
from __future__ import annotations

from collections.abc import Iterable

from simplenn.core.cases import Case
from simplenn.core.errors import FieldError
from simplenn.core.records import best_ceilings
from simplenn.store import profiles
from simplenn.sweep.config import SweepConfig
from simplenn.sweep.worker import Worker, WorkerError

PROFILE_TIMEOUT_S = 600.0  # a trace takes the harness's timing (≤ 1.5 s), one traced block and the parse


def chosen(config: SweepConfig, cases: Iterable[Case]) -> list[Case]:
    """The cases `--profile` names, in plan order (every case for `all`); an unknown id is a FieldError listing them."""
    unique = list(dict.fromkeys(cases))
    if not config.profile:
        return []
    if "all" in config.profile:
        return unique
    by_id = {c.id: c for c in unique}
    unknown = [i for i in config.profile if i not in by_id]
    if unknown:
        raise FieldError("profile", f"{', '.join(unknown)} not in this run's grid; its cells: {', '.join(by_id)}")
    return [by_id[i] for i in config.profile]


def profile_run(state, cases: list[Case], records: list[dict], config: SweepConfig, worker: Worker) -> dict | None:
    """Trace each chosen case that was measured ok; the run.json `profile` entry (None when nothing was chosen)."""
    targets = chosen(config, cases)
    if not targets:
        return None
    ok = {r["id"] for r in records if r.get("kind") == "cell" and r.get("status") == "ok"}
    ceilings = best_ceilings(records)
    cells = []
    for case in targets:
        if case.id not in ok:
            cells.append({"id": case.id, "case": case.to_dict(), "status": "skipped",
                          "reason": "not measured ok in this run"})
            continue
        options = {"logdir": str(state.run_dir / profiles.TRACES_DIR / case.id), "n_steps": config.profile_steps}
        try:
            msg = worker.request(("profile", case.to_dict(), options, str(state.run_dir), ceilings.get(case.device)),
                                 PROFILE_TIMEOUT_S)
        except WorkerError as e:
            msg = ("error", f"{e.status}: {e.reason}")
        if msg[0] == "result":
            cells.append(msg[1])
        else:
            reason = msg[1].splitlines()[0]
            state.warnings.append(f"profiling {case.id} failed: {reason}")
            cells.append({"id": case.id, "case": case.to_dict(), "status": "crashed", "reason": reason})
    return {"steps": config.profile_steps, "fresh": False, "cells": cells}
