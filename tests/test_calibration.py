"""The intervals cover and the gate sees: checked on a simulated machine with known truth (tests/simulate.py).

The noise model is issue 24's (per-round shifts between fresh processes, AR(1) noise within a round, fitted to this
project's committed runs); rounds are timed by the real `time_blocks` on a fake clock, and the intervals and the
gate are the package's own code. Every check is seeded, so a failure is a change in the statistics, not luck.
Monte Carlo error: 4000 simulations give a coverage ± 0.7 % (2 SE); 2000 comparisons a rate ± 1 %.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulate import (RHO, SCENARIOS, SLOWDOWNS, Noise, calibration_row, cell_ci_coverage, gate_flag_rate,
                      speedup_ci_coverage)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "statistics.md"


@pytest.mark.parametrize("rounds", [3, 5])
@pytest.mark.parametrize("sigma_b", [0.03, 0.085, 0.15])
def test_cell_ci_covers_the_true_step_time(sigma_b, rounds):
    coverage, _ = cell_ci_coverage(Noise(sigma_b), rounds)
    assert 0.93 <= coverage <= 0.97


@pytest.mark.parametrize("rounds", [3, 5])
@pytest.mark.parametrize("sigma_b", [0.03, 0.085, 0.15])
def test_speedup_ci_covers_the_true_speedup_and_rarely_calls_identical_devices_different(sigma_b, rounds):
    coverage, called = speedup_ci_coverage(Noise(sigma_b), rounds)
    assert 0.93 <= coverage <= 0.97
    assert called <= 0.07  # 5 % nominal (two-sided); the former paired bootstrap at R = 2: 15.5 %


@pytest.mark.parametrize("rounds", [2, 3, 5])
@pytest.mark.parametrize(("sigma_b", "spread"), [(0.05, 1.0), (0.085, 1.0), (0.15, 1.0), (0.085, 3.0)])
def test_gate_false_alarms_per_9_cell_comparison_stay_at_most_5_percent(sigma_b, spread, rounds):
    assert gate_flag_rate(Noise(sigma_b, spread=spread), rounds) <= 0.05


def test_gate_catches_a_20_percent_slowdown_at_typical_noise_with_3_rounds():
    assert gate_flag_rate(Noise(0.085), 3, slowdown=1.2) >= 0.85
    assert gate_flag_rate(Noise(0.085), 3, slowdown=1.4) >= 0.99


def _documented_rows() -> dict[tuple, list[float]]:
    """The simulation table of docs/statistics.md: scenario → its percentages, as written."""
    text = DOCS.read_text(encoding="utf-8")
    block = text.split("<!-- simulation table: python tests/simulate.py -->")[1].split("<!-- end -->")[0]
    rows = {}
    for line in block.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        spread = 1.0 if cells[2] == "equal" else float(re.match(r"×([\d.]+)", cells[2]).group(1))
        key = (float(cells[0].rstrip(" %")) / 100, int(cells[1]), spread, float(cells[3]))
        rows[key] = [float(c.rstrip(" %")) for c in cells[4:]]
    return rows


@pytest.mark.slow
def test_the_documented_table_is_what_the_simulation_gives():
    """docs/statistics.md states coverages, false alarms and power: the simulation must give them (±2 points)."""
    documented = _documented_rows()
    assert set(documented) == {(s, r, sp, rho) for s, r, sp, rho in SCENARIOS}
    for scenario in SCENARIOS:
        row = calibration_row(*scenario)
        simulated = [100 * row[k] for k in ("cell_coverage", "speedup_coverage", "false_alarm")]
        simulated += [100 * row[f"power_{k:.2f}"] for k in SLOWDOWNS]
        assert simulated == pytest.approx(documented[scenario], abs=2), scenario


@pytest.mark.slow
def test_strong_within_round_autocorrelation_does_not_break_the_round_intervals():
    noise = Noise(0.085, rho=0.5)
    assert 0.93 <= cell_ci_coverage(noise, 3)[0] <= 0.97
    assert gate_flag_rate(noise, 3) <= 0.05
    assert RHO < noise.rho
