"""The grids of the pytest-benchmark suite (`--simplenn-grid`): the CLI's own grids (simplenn.sweep), named.

`quick` and `default` are exactly `simplenn-bench run --quick` and `simplenn-bench run`; cells come from
simplenn.sweep.expand, so the suite and the CLI measure the same Cases with the same timing settings.
"""
from __future__ import annotations

from dataclasses import dataclass

from simplenn.core.cases import Case
from simplenn.measure.cell import Settings
from simplenn.sweep import SweepConfig, expand, load_config


@dataclass(frozen=True)
class Grid:
    """A named sweep grid. Rounds last ≥ settings.min_block_s (steps per round calibrated to reach it);
    rounds = clamp(ceil(min_time_s / calibrated round time), Settings.min_blocks, Settings.max_blocks)."""

    name: str
    config: SweepConfig

    @property
    def settings(self) -> Settings:
        """The per-cell timing settings, as the CLI's sweep hands them to measure()."""
        return self.config.settings

    def cases(self, devices: list[str]) -> list[Case]:
        """Every cell, ordered widths → batch size → device, so the devices of one group run back to back."""
        return expand(self.config, devices)

    def to_dict(self) -> dict:
        c, s = self.config, self.settings
        return {"name": self.name, "batch_sizes": list(c.batch_sizes),
                "hidden": ["x".join(map(str, h)) for h in c.hidden],
                "wide_hidden": ["x".join(map(str, h)) for h in c.wide_hidden], "wide_batch": c.wide_batch,
                "min_round_s": s.min_block_s, "min_rounds": s.min_blocks, "min_time_s": s.min_time_s,
                "warmup_rounds": s.warmup_blocks}


GRIDS: dict[str, Grid] = {
    # The suite's own integration test (tests/test_pytest_bench.py): two batch sizes, one network.
    "tiny": Grid("tiny", SweepConfig.from_dict(dict(batch_sizes=(8, 64), hidden=((100, 30),), wide_hidden=(),
                                                    min_time_s=0.06, min_block_s=0.02))),
    # `simplenn-bench run --quick`; plain `pytest` smoke-runs this one (each body once, untimed).
    "quick": Grid("quick", load_config("quick")),
    # `simplenn-bench run`: rounds ≥ 50 ms, ≥ 5 rounds and ≥ 0.5 s of timed rounds per cell.
    "default": Grid("default", SweepConfig()),
    # Every power of two up to 16384, three networks at every batch size, ≥ 1 s of rounds per cell.
    "full": Grid("full", SweepConfig.from_dict(dict(batch_sizes=tuple(2**k for k in range(15)),
                                                    hidden=((100, 30), (256, 256), (1024, 1024)), wide_hidden=(),
                                                    min_time_s=1.0, max_time_s=3.0))),
}
SMOKE_GRID = "quick"  # when benchmarks are disabled (plain `pytest`)
TIMED_GRID = "default"  # when they are timed (`pytest --benchmark-only`, `--benchmark-json`, …)


def group_name(case) -> str:
    """The pytest-benchmark group of a case: its network and batch size (the devices sit side by side)."""
    extra = "".join(f"-{p}" for p in case.id.split("-")[3:])  # loss/dtype/xla/mode suffixes of the id
    return f"w{case.hidden}-b{case.batch_size}{extra}"
