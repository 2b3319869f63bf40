"""The report pipeline as a whole: the committed reference report regenerates unchanged, each table is computed
once per report, and no run metadata rides in `DataFrame.attrs` (issues 11 and 18)."""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

import simplenn.analyse.report  # noqa: F401 — loads every module of the package, so the counting below sees them all
from simplenn.core import stats
from simplenn.analyse.report import analyse, write_report
from simplenn.analyse.report import crossover as pairs
from simplenn.analyse.report import frameworks
from simplenn.analyse.report import tables
from simplenn.store.results import load
from simplenn.store.several import load_many
from simplenn.core.units import MICROSECONDS, MILLISECONDS, SECONDS, time_unit
from synthetic import SMALL, machine_meta, write_run

# The committed reference run, in the contributed-results layout: the run folder holds its own report.
REFERENCE = Path(__file__).resolve().parents[1] / "results" / "machines" / "linux-x86_64-2cpu-2026-11-27"


@pytest.mark.slow
def test_reference_report_regenerates_with_equal_tables(tmp_path):
    files = write_report([REFERENCE], tmp_path)
    new = pd.read_csv(files.summary_csv)
    committed = pd.read_csv(REFERENCE / "summary.csv")
    pd.testing.assert_frame_equal(new, committed, check_exact=False, rtol=1e-12)
    assert files.report_md.read_text() == (REFERENCE / "report.md").read_text()
    assert set(files.charts) == {p.stem for p in REFERENCE.glob("*.png")}


def _count_calls(monkeypatch, functions) -> dict[str, int]:
    """Wrap each function wherever a simplenn module holds it, so a call through any import path is counted."""
    counts = {f.__name__: 0 for f in functions}

    def counting(f):
        def wrapper(*args, **kwargs):
            counts[f.__name__] += 1
            return f(*args, **kwargs)
        return wrapper

    for module in [m for name, m in sys.modules.items() if name.startswith("simplenn")]:
        for attr, value in list(vars(module).items()):
            if value in functions:
                monkeypatch.setattr(module, attr, counting(value))
    return counts


@pytest.mark.slow
def test_one_write_report_computes_each_table_once(tmp_path, monkeypatch):
    run = write_run(tmp_path / "run")
    counts = _count_calls(monkeypatch, [tables.cell_table, pairs.speedup_table, pairs.crossover,
                                        tables.host_overhead_table, frameworks.frameworks_table,
                                        stats.bootstrap_ratio_ci])
    pairs.speedup_table(load(run))
    per_speedup_table = counts["bootstrap_ratio_ci"]  # one bootstrap per configuration measured on a device
    assert per_speedup_table > 10
    counts.update(dict.fromkeys(counts, 0))
    write_report([run], tmp_path / "out")
    assert counts == {"cell_table": 1, "speedup_table": 1, "crossover": 1, "host_overhead_table": 1,
                      "frameworks_table": 1, "bootstrap_ratio_ci": per_speedup_table}


@pytest.mark.slow
def test_no_run_metadata_in_dataframe_attrs(tmp_path):
    a = write_run(tmp_path / "a", widths_list=(SMALL,), extras=True)
    b = write_run(tmp_path / "b", machine=machine_meta("Apple M1", "Apple M1", "Apple M1", 8), widths_list=(SMALL,),
                  seed=1)
    one, both = load(a), load_many([a, b])
    assert set(both.runs) == {"a", "b"} and both.runs["b"].machine["label"] == "Apple M1"
    analysis = analyse(both)
    frames = {"load": one.table, "load_many": both.table, "cells": analysis.cells, "speedup": analysis.speedup.table,
              "crossover": analysis.crossover.table, "host": analysis.host,
              "cells of one": tables.cell_table(one), "host of one": tables.host_overhead_table(one)}
    for name, frame in frames.items():
        assert not frame.empty and frame.attrs == {}, name
    with pytest.raises(TypeError):
        both.runs["c"] = {}  # the metadata mapping is read-only: nothing is added to it on the way


@pytest.mark.parametrize(("values", "unit"), [
    ([1.2e-3, 30e-3, 0.108e-3], MILLISECONDS),  # one fast cell does not turn the table into µs
    ([2.5e-6, 2.6e-6], MICROSECONDS),
    ([1.5, 0.9, 3.0], SECONDS),
    ([], MILLISECONDS),
])
def test_time_unit_is_picked_once_from_the_typical_value(values, unit):
    assert time_unit(values) == unit
    assert time_unit(pd.Series(values, dtype=float), [float("nan")]) == unit
