"""How many steps per round and how many rounds: the calibration of simplenn.measure.time_blocks, reused.

A round is one call of the timed target, `run(steps_per_round)` then `sync()`, so per-step time = round time /
steps_per_round (the division itself happens in one place: simplenn.results, through simplenn.pytest_json).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from simplenn.measure import Settings, time_blocks

# Steps per round when benchmarks are disabled: the body runs once, untimed, to prove it works.
SMOKE_STEPS = 2
# Calibration restarts when its result proves short (see plan_rounds); bounded so noise cannot loop forever.
MAX_RECALIBRATIONS = 3


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

    time_blocks is asked for exactly one block and no warm-up blocks: its calibration loop is the part reused,
    and the one block tells how long a round lasts, so rounds = clamp(ceil(min_time_s / round), min, max).
    Calibration stops at the first block that reaches the target, so one block slowed by noise (a shared vCPU)
    can stop it short; when the timed block then falls short, calibration resumes from n with a multiplier.
    """
    one_block = replace(settings, min_blocks=1, max_blocks=1, warmup_blocks=0, min_time_s=1e-9)
    n, blocks, calibration = time_blocks(run, sync, one_block, check)
    for _ in range(MAX_RECALIBRATIONS):
        if blocks[0] >= settings.min_block_s:
            break
        calibration += blocks
        k, blocks, more = time_blocks(lambda m, n=n: run(m * n), sync, one_block, check)
        calibration += more
        n *= k
    round_s = blocks[0]
    rounds = min(settings.max_blocks, max(settings.min_blocks, math.ceil(settings.min_time_s / round_s)))
    return RoundPlan(steps_per_round=n, rounds=rounds, warmup_rounds=settings.warmup_blocks,
                     calibration_s=tuple(calibration + blocks))
