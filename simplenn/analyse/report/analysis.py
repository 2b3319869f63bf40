"""`analyse(results) -> Analysis`: every table of a report computed exactly once, for the charts and the Markdown."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from simplenn.analyse.report.cross_machine import CrossMachine, cross_machine
from simplenn.analyse.report.crossover import Crossover, Speedup, crossover, speedup_table
from simplenn.analyse.report.frameworks import Frameworks, frameworks_table, impl_parity_table
from simplenn.analyse.intervals import n_rounds
from simplenn.analyse.report.inside_step import cell_summary
from simplenn.analyse.report.tables import cell_table, chip_peak, host_overhead_table, measured, only_ok, widths_order
from simplenn.store import profiles
from simplenn.store.results import Results, as_results
from simplenn.store.runmeta import RunMeta
from simplenn.system.peaks import ChipPeak
from simplenn.core.units import TimeUnit, time_unit

# Charts in report order; the speedup needs two devices, the time split both modes, frameworks two
# implementations.
CHART_ORDER = ("step_time", "throughput", "speedup", "efficiency", "widths", "time_split", "inside_step", "machines",
               "frameworks")


@dataclass(frozen=True)
class Analysis:
    """The report's tables, each computed once from one Results: cells, speedup, crossover, host overhead, the
    cross-machine table (one row per machine × device over the cells every run shares), frameworks
    (implementations against TF scratch per-call) and the implementation parity the runs recorded.

    `crossover` is None when only one device was measured. `step_unit` is the unit in which step times are
    shown (picked once, from the cells' medians) by every chart and table that shows them.
    """

    results: Results
    cells: pd.DataFrame
    speedup: Speedup
    crossover: Crossover | None
    host: pd.DataFrame
    step_unit: TimeUnit
    machines: CrossMachine
    frameworks: Frameworks
    impl_parity: pd.DataFrame
    profile: pd.DataFrame  # profiled cells (run.json `profile`), one row per cell × op class; never in `cells`
    inside: pd.DataFrame  # one row per profiled cell: class-group shares, the trace's witness, efficiencies

    @property
    def samples(self) -> pd.DataFrame:
        return self.results.table

    @property
    def runs(self) -> Mapping[str, RunMeta]:
        return self.results.runs

    @property
    def peaks(self) -> dict[str, ChipPeak | None]:
        """Each run's chip FP32 GPU peak (None for a chip not in simplenn.system.peaks)."""
        return {run: chip_peak(meta) for run, meta in self.runs.items()}

    @property
    def measured_grid(self) -> dict:
        """What was measured (sentinel rows left out): devices, batch sizes, widths (small to large), impls, modes
        as text, and the numbers of cells and timed blocks."""
        data = measured(self.samples)
        return {"devices": sorted(data["device"].unique()),
                "batch_sizes": sorted(int(b) for b in data["batch_size"].unique()),
                "widths": widths_order(data["widths"]), "impls": sorted(data["impl"].unique()),
                "modes": sorted(data["mode"].unique()), "n_cells": data["cell_id"].nunique(),
                "n_blocks": int(data["step_s"].notna().sum())}

    @property
    def rounds(self) -> int:
        """Rounds of the ok measurements (the CIs are hierarchical over rounds from 2 on)."""
        return n_rounds(only_ok(measured(self.samples), "step_s"))

    @property
    def fresh_rounds(self) -> bool:
        """Rounds ran in fresh processes: every record names its worker and no pid serves two rounds."""
        ok = only_ok(measured(self.samples), "step_s")
        return bool(ok["worker_pid"].notna().all() and ok.groupby("worker_pid")["round"].nunique().max() == 1)

    @property
    def charts_left_out(self) -> dict[str, str]:
        """Charts with nothing to draw, by name, with the reason: never written empty, named in the report."""
        reasons = {}
        if self.speedup.base_device is None or self.speedup.table.empty:
            reasons["speedup"] = self.speedup.note or "needs two devices measured ok in the same configuration"
        if not self.cells.loc[self.cells["status"] == "ok", "pct_of_ceiling"].notna().any():
            reasons["efficiency"] = ("no device's matmul ceiling was measured (pytest-benchmark results have "
                                     "none; in a run, the ceiling probe failed: see Warnings)")
        if self.host.empty:
            reasons["time_split"] = "needs both modes (per-call and in-graph) measured ok in the same configuration"
        if self.machines.curves.empty:
            reasons["machines"] = "needs a machine with two devices measured ok in the same configuration"
        return reasons

    @property
    def chart_names(self) -> list[str]:
        """Names of the charts this data can fill, in report order."""
        # frameworks.png is not "left out" when one implementation ran: there was nothing to compare, by design.
        # Nor is inside_step.png when nothing was profiled (`run --profile`): profiling is asked for, not default.
        optional = {name for name, empty in (("frameworks", self.frameworks.empty), ("inside_step", self.inside.empty))
                    if empty}
        return [name for name in CHART_ORDER if name not in self.charts_left_out and name not in optional]


def analyse(data: Results | pd.DataFrame, base_device: str | None = None, other_device: str | None = None,
            seed: int = 0) -> Analysis:
    """Every table of the report, once: the cell table first, and the others derived from it where they can be."""
    res = as_results(data)
    cells = cell_table(res)
    speed = speedup_table(res, base_device, other_device, seed=seed)
    cross = crossover(res, cells=cells, speedup=speed) if speed.base_device else None
    host = host_overhead_table(res, cells)
    machines = cross_machine(res, cells, speed, cross)  # refuses runs of different grids (exit 2)
    profile = profiles.table(res.runs)
    return Analysis(res, cells, speed, cross, host, time_unit(cells["median_step_s"]), machines,
                    frameworks_table(res.table, seed=seed), impl_parity_table(res.runs), profile, cell_summary(profile))
