"""A machine with known truth, for checking the intervals and the gate (issue 24's noise model).

Noise model, fitted to the committed runs of this project's 2-vCPU development machine:
- every round is a fresh process whose speed is shifted: log time += u_r, u_r ~ N(0, σ_b²) (between-round SD of log
  round medians: median 0.085 over the committed cells); two devices measured in the same round share u_r and
  each adds its own v ~ N(0, σ_v²);
- within a round, each block's log time has AR(1) noise: SD σ_w = 0.06, lag-1 autocorrelation ρ = 0.17 (0.4–0.6
  under load).

The within-round part runs through the real `simplenn.measure.cell.time_blocks` on a fake clock (calibration, warm-up,
the adaptive stop with the real StopRule, block / n through `timing.per_step_s`). Since a round's shift multiplies
every block of the round alike, it only changes the calibrated n, not the relative spread the stop rule sees: a
pool of within-round deviations of the log round median (`RoundPool`) is made once per (σ_w, ρ, settings) and the
shifts are added to draws from it, so thousands of comparisons cost milliseconds. The intervals and the gate are
the package's own (`precision.log_mean_ci`, `precision.paired_log_diff`, `gate.Gate.judge`), called on arrays.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from simplenn.analyse.gate import Gate
from simplenn.measure.cell import Settings, time_blocks
from simplenn.analyse.intervals import log_mean_ci, paired_log_diff
from simplenn.core.timing import per_step_s

SIGMA_W, RHO = 0.06, 0.17


class FakeMachine:
    """A device whose step takes `step_s`·exp(e) seconds per block, e an AR(1) series; `clock` is its time."""

    def __init__(self, step_s: float, sigma_w: float, rho: float, rng: np.random.Generator) -> None:
        self.now, self.step_s, self.sigma_w, self.rho, self.rng = 0.0, step_s, sigma_w, rho, rng
        self.e = sigma_w * rng.standard_normal()

    def run(self, n: int) -> None:
        self.e = self.rho * self.e + math.sqrt(1 - self.rho ** 2) * self.sigma_w * self.rng.standard_normal()
        self.now += n * self.step_s * math.exp(self.e)

    def clock(self) -> float:
        return self.now


def one_round(step_s: float, settings: Settings, sigma_w: float, rho: float, rng: np.random.Generator) -> float:
    """log(median per-step time / true step time) of one round timed by the real time_blocks."""
    machine = FakeMachine(step_s, sigma_w, rho, rng)
    n, blocks, _ = time_blocks(machine.run, lambda: None, settings, clock=machine.clock)
    return math.log(float(np.median(per_step_s(np.asarray(blocks), n))) / step_s)


@lru_cache(maxsize=8)
def round_pool(settings: Settings = Settings(), sigma_w: float = SIGMA_W, rho: float = RHO, size: int = 3000,
               seed: int = 0) -> np.ndarray:
    """`size` within-round deviations of the log round median, cells of 0.2–50 ms per step (log-uniform)."""
    rng = np.random.default_rng(seed)
    steps = np.exp(rng.uniform(math.log(2e-4), math.log(5e-2), size))
    return np.array([one_round(float(s), settings, sigma_w, rho, rng) for s in steps])


@dataclass(frozen=True)
class Noise:
    """σ_b: between-round SD of log time; σ_v: a device's own part of the round shift (paired devices);
    `spread`: cells' σ_b drawn log-uniformly within [σ_b / spread, σ_b · spread] (heterogeneous cells)."""

    sigma_b: float = 0.085
    sigma_v: float = 0.03
    spread: float = 1.0
    sigma_w: float = SIGMA_W
    rho: float = RHO


def log_round_medians(noise: Noise, shape: tuple[int, ...], rng: np.random.Generator,
                      settings: Settings = Settings(), cell_sigma: np.ndarray | None = None) -> np.ndarray:
    """Log round medians (truth 0) shaped `shape` (…, cells, rounds): pooled within-round deviation + u_r."""
    pool = round_pool(settings, noise.sigma_w, noise.rho)
    sigma = noise.sigma_b if cell_sigma is None else cell_sigma[..., None]
    return pool[rng.integers(0, pool.size, shape)] + sigma * rng.standard_normal(shape)


def cell_sigmas(noise: Noise, n_cells: int, rng: np.random.Generator) -> np.ndarray:
    """Each cell's σ_b (all equal unless noise.spread > 1)."""
    s = math.log(noise.spread)
    return noise.sigma_b * np.exp(rng.uniform(-s, s, n_cells)) if s else np.full(n_cells, noise.sigma_b)


def cell_ci_coverage(noise: Noise, rounds: int, n_sims: int = 4000, seed: int = 1) -> tuple[float, float]:
    """(coverage of the true step time by the per-cell 95 % CI, median CI half-width in % of the estimate)."""
    rng = np.random.default_rng(seed)
    logs = log_round_medians(noise, (n_sims, rounds), rng)
    mean, low, high = log_mean_ci(logs)
    return float(np.mean((low <= 0) & (0 <= high))), float(100 * np.median(np.expm1((high - low) / 2)))


def speedup_ci_coverage(noise: Noise, rounds: int, n_sims: int = 4000, seed: int = 2) -> tuple[float, float]:
    """(coverage of the true speedup by the paired 95 % CI, share of identical devices called faster/slower)."""
    rng = np.random.default_rng(seed)
    shared = noise.sigma_b * rng.standard_normal((n_sims, rounds))
    own = Noise(noise.sigma_v, sigma_w=noise.sigma_w, rho=noise.rho)
    a = shared + log_round_medians(own, (n_sims, rounds), rng)
    b = shared + log_round_medians(own, (n_sims, rounds), rng)
    low, high = paired_log_diff(a, b).ci()
    covered = (low <= 0) & (0 <= high)
    return float(np.mean(covered)), float(np.mean(~covered))


def gate_flag_rate(noise: Noise, rounds: int, slowdown: float = 1.0, gate: Gate = Gate(), n_cells: int = 9,
                   n_sims: int = 2000, seed: int = 3) -> float:
    """Share of same-grid comparisons (n_cells cells, `rounds` a side) that `compare` fails, every cell of the new
    run `slowdown`× slower: the false-alarm rate at 1.0, the power above it."""
    rng = np.random.default_rng(seed)
    sigmas = cell_sigmas(noise, n_cells, rng)
    base = log_round_medians(noise, (n_sims, n_cells, rounds), rng, cell_sigma=sigmas)
    new = log_round_medians(noise, (n_sims, n_cells, rounds), rng, cell_sigma=sigmas) + math.log(slowdown)
    return float(np.mean(gate.judge(new, base).flagged))


# The scenarios of docs/statistics.md's simulation table: (σ_b, rounds, cells' σ spread, AR(1) ρ).
SCENARIOS = [(0.05, 2, 1.0, RHO), (0.05, 3, 1.0, RHO), (0.05, 5, 1.0, RHO),
             (0.085, 2, 1.0, RHO), (0.085, 3, 1.0, RHO), (0.085, 5, 1.0, RHO),
             (0.15, 2, 1.0, RHO), (0.15, 3, 1.0, RHO), (0.15, 5, 1.0, RHO),
             (0.085, 3, 3.0, RHO), (0.085, 3, 1.0, 0.5)]
SLOWDOWNS = (1.05, 1.10, 1.20, 1.40)
TABLE_RULE = "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
TABLE_HEAD = ("| σ_b | rounds | cells' σ | ρ | cell CI coverage | speedup CI coverage | false alarm per 9-cell compare "
              "| power ×1.05 | ×1.10 | ×1.20 | ×1.40 |")


def calibration_row(sigma_b: float, rounds: int, spread: float, rho: float, n_sims: int = 2000) -> dict:
    """One row of the table: coverages (per-cell and speedup CI) and the gate's flag rates at each slowdown."""
    noise = Noise(sigma_b, spread=spread, rho=rho)
    row = {"sigma_b": sigma_b, "rounds": rounds, "spread": spread, "rho": rho,
           "cell_coverage": cell_ci_coverage(noise, rounds, n_sims)[0],
           "speedup_coverage": speedup_ci_coverage(noise, rounds, n_sims)[0],
           "false_alarm": gate_flag_rate(noise, rounds, 1.0, n_sims=n_sims)}
    for k in SLOWDOWNS:
        row[f"power_{k:.2f}"] = gate_flag_rate(noise, rounds, k, n_sims=n_sims)
    return row


def table_line(row: dict) -> str:
    spread = "equal" if row["spread"] == 1 else f"×{row['spread']:g}^±1"
    cells = [f"{100 * row['sigma_b']:g} %", str(row["rounds"]), spread, f"{row['rho']:g}",
             *(f"{100 * row[k]:.1f} %" for k in ("cell_coverage", "speedup_coverage", "false_alarm")),
             *(f"{100 * row[f'power_{k:.2f}']:.0f} %" for k in SLOWDOWNS)]
    return "| " + " | ".join(cells) + " |"


if __name__ == "__main__":  # prints the table for docs/statistics.md
    print(TABLE_HEAD)
    print(TABLE_RULE)
    for scenario in SCENARIOS:
        print(table_line(calibration_row(*scenario)))
