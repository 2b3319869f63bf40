"""The plan of a sweep: grid → Cases → interleaved order with sentinel re-measurements; the sentinel's drift."""
from __future__ import annotations

import itertools
import math
import random
import shlex
from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from simplenn.core.cases import DEFAULT_WIDTHS, Case
from simplenn.core.records import PlanItem
from simplenn.measure.runners import unsupported_reason
from simplenn.measure.cell import Settings
from simplenn.sweep.config import SweepConfig
from simplenn.core.timing import per_step_s

# |last / first − 1| of the sentinel's median step time above which a run is flagged as drifting.
DRIFT_WARN = 0.10


def sentinel_settings(settings: Settings) -> Settings:
    """The sentinel's timing: it only has to resolve a drift of DRIFT_WARN, so ±DRIFT_WARN/4 in a third of the time."""
    return replace(settings, precision=max(settings.precision, DRIFT_WARN / 4),
                   max_time_s=max(settings.min_time_s, settings.max_time_s / 3))


def expand(config: SweepConfig, devices: Iterable[str]) -> list[Case]:
    """Every Case of the grid for the resolved device names: (batch × hidden) ∪ (wide_batch × wide_hidden)."""
    pairs = [(b, h) for h in config.hidden for b in config.batch_sizes]
    pairs += [(config.wide_batch, h) for h in config.wide_hidden]
    cases = [Case(dev, batch, (DEFAULT_WIDTHS[0], *hidden, DEFAULT_WIDTHS[-1]), loss, dtype, jit, impl, mode)
             for (batch, hidden), loss, dtype, jit, mode, impl, dev
             in itertools.product(pairs, config.losses, config.dtypes, config.jit, config.modes, config.impls, devices)]
    return list(dict.fromkeys(cases))


def order(cases: list[Case], rounds: int, seed: int, sentinel_every: int) -> list[PlanItem]:
    """Interleave: shuffle the device-independent cells (seeded), then run each one on every device back to back
    with the device order rotating, so slow drift cannot land on one device. The sentinel (the first device's
    cell nearest batch 128) is measured first, then every `sentinel_every` cells, and last."""
    rng = random.Random(seed)
    groups: dict[tuple, list[Case]] = {}
    for c in cases:
        groups.setdefault(c.key("device"), []).append(c)
    keys = list(groups)
    ordered: list[tuple[int, Case]] = []
    for r in range(rounds):
        rng.shuffle(keys)
        for i, key in enumerate(keys):
            devs = groups[key]
            k = (i + r) % len(devs)
            ordered.extend((r, c) for c in devs[k:] + devs[:k])
    sentinel = min(cases, key=lambda c: (c.device, abs(math.log2(c.batch_size) - 7), c.layer_sizes)) if cases else None
    plan: list[PlanItem] = []
    for i, (rnd, case) in enumerate(ordered):
        if sentinel_every and sentinel is not None and i % sentinel_every == 0:
            plan.append(PlanItem(len(plan), sentinel, rnd, True))
        plan.append(PlanItem(len(plan), case, rnd, False))
    if sentinel_every and sentinel is not None:
        plan.append(PlanItem(len(plan), sentinel, rounds - 1, True))
    return plan


def oom_key(case: Case) -> tuple:
    """What a smaller batch must share with `case` for its out-of-memory to predict this one's."""
    return case.key("batch_size")


def oom_skip(case: Case, ooms: dict[tuple, int]) -> str | None:
    """Why to skip `case` when a smaller batch of the same cell ran out of memory on the same device, else None."""
    batch = ooms.get(oom_key(case))
    if batch is not None and case.batch_size > batch:
        return f"skipped: batch {batch} already ran out of memory on {case.device}"
    return None


def drift(records: list[dict]) -> dict | None:
    """Sentinel drift: median per-step time of its last measurement / its first (> 1 means the machine slowed)."""
    cells = sorted((r for r in records if r.get("kind") == "cell"), key=lambda r: r["seq"])
    meds = [float(np.median(per_step_s(np.asarray(r["block_s"]), r["n_steps"]))) for r in cells
            if r.get("sentinel") and r.get("status") == "ok" and r.get("block_s")]
    if len(meds) < 2:
        return None
    ratio = meds[-1] / meds[0]
    return {"cell": next(r["id"] for r in records if r.get("sentinel")), "first_median_s": meds[0],
            "last_median_s": meds[-1], "ratio": ratio, "max_over_min": max(meds) / min(meds), "n": len(meds),
            "warning": abs(ratio - 1) > DRIFT_WARN}


# Set-up of one measured cell besides its timed blocks: worker hand-off, building the step, the first call and the
# block-length calibration (~0.2 s + 0.15 s traced on the development machine; bench/preset_time.py's model).
CELL_SETUP_S = 0.35
LONG_PLAN_S = 30 * 60.0  # a plan that may take longer than this is announced before it starts


def estimate_s(plan: list[PlanItem], backends: dict[str, str], config: SweepConfig) -> tuple[float, float]:
    """(fastest, slowest) seconds the plan may take: every measurable cell stopping at --min-time, or at --max-time.

    Cells known to be unsupported cost nothing; a cell whose step outlasts its blocks can take longer than this.
    """
    n = sum(1 for p in plan if not unsupported_reason(p.case, backends.get(p.case.device, "none")))
    s = config.settings
    per = CELL_SETUP_S + config.cooldown_s
    return n * (per + s.min_time_s), n * (per + max(s.min_time_s, s.max_time_s) + 2 * s.min_block_s)


def duration_text(seconds: float) -> str:
    """'45 s', '12 min', '3.4 h', '2.1 days': a duration at the precision an estimate deserves."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def long_plan_notice(meta: dict, config: SweepConfig, run_dir) -> str | None:
    """The sentence announcing a plan that may take LONG_PLAN_S or more (None for a shorter one): how long, and
    that stopping it loses nothing."""
    plan = [PlanItem.from_json(p) for p in meta["plan"]]
    low, high = estimate_s(plan, {d["name"]: d["backend"] for d in meta["devices"]}, config)
    if high < LONG_PLAN_S:
        return None
    span = duration_text(high) if duration_text(low) == duration_text(high) else \
        f"{duration_text(low)} to {duration_text(high)}"
    return (f"plan: {len(plan):,} cells, estimated ~{span} (each cell {config.settings.min_time_s:g}–"
            f"{config.settings.max_time_s:g} s of timing plus set-up); Ctrl-C saves what is measured, and "
            f"`simplenn-bench run --resume {shlex.quote(str(run_dir))}` continues it")
