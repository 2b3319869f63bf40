"""Does the harness time what a plain loop times, and does a big step reach the device's matmul ceiling?

Run: python bench/harness_check.py [--rounds N]

1. For CPU:0, 784-100-30-10, batch 32 and 2048: the suite's median per-step time (simplenn.measure.cell.measure,
   default Settings) against a plain `time.perf_counter` loop over the *same* compiled step, in the same process,
   interleaved round by round. Goal: suite / plain within 10 %.
2. For batch 8192: the step's GFLOP/s (FLOPs per step, simplenn.core.cases.FLOPS_FORMULA, / median step) as a fraction of
   probe_ceiling('CPU:0') (a 1024³ matmul and the step's own big matmuls with their transposes), interleaved.
   It must stay below 1: a step cannot beat its fastest matmul.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

try:
    import simplenn  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simplenn.core.cases import FLOPS_FORMULA, Case
from simplenn.system.devices import Device
from simplenn.measure.ceiling import ceiling_shapes, probe_ceiling
from simplenn.measure.cell import Settings, measure
from simplenn.measure.runners.scratch import ScratchRunner
from simplenn.core.timing import per_step_s

DEVICE = Device("CPU:0", "cpu", "none")
WIDTHS = (784, 100, 30, 10)


def suite_step_s(case: Case, settings: Settings) -> tuple[float, ScratchRunner]:
    """The suite's median per-step time for `case`, and the runner it built (for the plain loop)."""
    runners: list[ScratchRunner] = []

    def make(c, seed):
        runners.append(ScratchRunner(c, seed))
        return runners[-1]

    result = measure(case, settings, DEVICE, make_runner=make)
    if result.status != "ok":
        raise SystemExit(f"{case.id}: {result.status}: {result.reason}")
    return statistics.median(per_step_s(b, result.n_steps) for b in result.block_s), runners[0]


def plain_step_s(runner: ScratchRunner, min_block_s: float = 0.05, n_blocks: int = 7) -> float:
    """Median per-step time of `for _ in range(n): step(x, y)` then one host read, timed with perf_counter."""
    step, x, y = runner.fn, runner.x, runner.y
    n = 1
    while True:  # calibrate n the obvious way: double until a block is long enough
        t0 = time.perf_counter()
        for _ in range(n):
            loss = step(x, y)
        loss.numpy()
        if time.perf_counter() - t0 >= min_block_s:
            break
        n *= 2
    per_step = []
    for _ in range(n_blocks):
        t0 = time.perf_counter()
        for _ in range(n):
            loss = step(x, y)
        loss.numpy()
        per_step.append(per_step_s(time.perf_counter() - t0, n))
    return statistics.median(per_step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    settings = Settings()

    print(f"suite vs plain perf_counter loop, CPU:0, {'-'.join(map(str, WIDTHS))}, {args.rounds} interleaved rounds "
          f"(load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    for batch_size in (32, 2048):
        case = Case("CPU:0", batch_size, WIDTHS)
        suite, plain = [], []
        for _ in range(args.rounds):
            s, runner = suite_step_s(case, settings)
            suite.append(s)
            plain.append(plain_step_s(runner))
        ratios = [a / b for a, b in zip(suite, plain)]
        # The median of per-round ratios resists load that comes and goes between rounds better than medians' ratio.
        print(f"  batch {batch_size:>5}: suite {statistics.median(suite) * 1e3:.4f} ms/step, plain "
              f"{statistics.median(plain) * 1e3:.4f} ms/step; suite/plain: median of rounds "
              f"{statistics.median(ratios):.3f}, of medians {statistics.median(suite) / statistics.median(plain):.3f} "
              f"(rounds: {' '.join(f'{r:.3f}' for r in ratios)})")

    case = Case("CPU:0", 8192, WIDTHS)
    step_gflops, ceiling_gflops = [], []
    for _ in range(max(3, args.rounds // 2)):
        ceiling_gflops.append(probe_ceiling("CPU:0", ceiling_shapes([case])).gflops)
        s, _ = suite_step_s(case, settings)
        step_gflops.append(case.flops_per_step / s / 1e9)
    step, ceiling = statistics.median(step_gflops), statistics.median(ceiling_gflops)
    print(f"ceiling fraction, batch 8192: step {step:.1f} GFLOP/s / matmul ceiling {ceiling:.1f} GFLOP/s = "
          f"{step / ceiling:.3f}")
    print(f"  ({FLOPS_FORMULA}; ceiling = the fastest of a 1024³ matmul and the step's own big matmuls with their "
          "transposes, simplenn.measure.ceiling)")


if __name__ == "__main__":
    main()
