"""The gate on a real same-code pair of default runs (results/reference/repro-3rounds/, 3 rounds each, made on the
2-vCPU development machine under load; docs/statistics.md): unchanged code passes, a planted slowdown fails.

The pair's noise is what this machine gave that day (σ̂ ≈ 31 % per run, against ~8.5 % on the committed runs of
quieter days): at that noise three rounds resolve a doubling, not +20 % (bench/gate_figures.py gives the whole
curve; the simulation in test_calibration.py the power at quieter noise).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.gate_figures import plant_slowdown
from simplenn import cli

PAIR = Path(__file__).resolve().parents[1] / "results" / "reference" / "repro-3rounds"
BASE, NEW = PAIR / "linux-2cpu-default-a", PAIR / "linux-2cpu-default-b"


def test_unchanged_code_passes_the_gate(capsys):
    assert cli.main(["compare", str(BASE), str(NEW)]) == 0
    out = capsys.readouterr().out
    assert "No regression beyond 10 %" in out and "√2 = 30.7 % per run" in out
    assert out == (PAIR / "compare.txt").read_text()  # the committed output is the code's


@pytest.mark.parametrize(("factor", "code"), [(1.0, 0), (1.2, 0), (2.0, 1)])
def test_a_planted_slowdown_fails_the_gate_when_the_pair_can_resolve_it(tmp_path, factor, code):
    slow = plant_slowdown(NEW, factor, tmp_path / "slow")
    assert cli.main(["compare", str(BASE), str(slow)]) == code


def test_no_sentence_makes_a_percentile_of_two_runs_a_threshold():
    root = Path(__file__).resolve().parents[1]
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md")), PAIR / "compare.txt"]:
        assert "must exceed" not in page.read_text(encoding="utf-8"), page
