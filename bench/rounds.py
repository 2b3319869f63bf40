"""How many steps per round and how many rounds: the calibration of simplenn.measure.cell.time_blocks, reused.

A round is one call of the timed target, `run(steps_per_round)` then `sync()`, so per-step time = round time /
steps_per_round (the division itself happens in one place: simplenn.core.timing.per_step_s).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from simplenn.measure.cell import Settings, time_blocks

# Steps per round when benchmarks are disabled: the body runs once, untimed, to prove it works.
SMOKE_STEPS = 2


@dataclass(frozen=True)
class RoundPlan:
    """What `benchmark.pedantic` gets: steps per round, rounds and warm-up rounds; calibration blocks kept."""

    steps_per_round: int
    rounds: int
    warmup_rounds: int
    calibration_s: tuple[float, ...] = ()

    def to_dict(self) -> dict:
        return {"steps_per_round": self.steps_per_round, "rounds": self.rounds,
                "warmup_rounds": self.warmup_rounds, "calibration_s": list(self.calibration_s)}


SMOKE_PLAN = RoundPlan(steps_per_round=SMOKE_STEPS, rounds=1, warmup_rounds=0)


def plan_rounds(run: Callable[[int], None], sync: Callable[[], object], settings: Settings,
                check: Callable[[], None] = lambda: None) -> RoundPlan:
    """Calibrate steps per round with time_blocks (one timed block, which also warms up) and size the rounds.

    time_blocks is asked for exactly one timed block and no extra warm-up: its calibration is the part reused.
    Calibration ends only after two consecutive blocks of n steps reach min_block_s, so one block slowed by
    noise (a stall on a shared vCPU) cannot stop it short. The timed block tells how long a round lasts, so
    rounds = clamp(ceil(min_time_s / round), min_blocks, max_blocks); calibration_s keeps every block run.
    """
    one_block = replace(settings, min_blocks=1, max_blocks=1, warmup_blocks=0, min_time_s=1e-9)
    n, blocks, calibration = time_blocks(run, sync, one_block, check)
    rounds = min(settings.max_blocks, max(settings.min_blocks, math.ceil(settings.min_time_s / blocks[0])))
    return RoundPlan(steps_per_round=n, rounds=rounds, warmup_rounds=settings.warmup_blocks,
                     calibration_s=tuple(calibration + blocks))
