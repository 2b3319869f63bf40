"""The cross-machine table: one row per machine × device, over the cells that every run measured ok.

A machine is one run folder (results/machines/<name>/), named from its hardware fields, never from its label
alone: two runs labelled "Apple M2" with 8 and 10 GPU cores stay two machines. Runs are ranked side by side only
when they were made with the same grid identity (check_rankable): the same preset name and version, and no
override of how a cell is timed.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from simplenn.core.cases import Case
from simplenn.core.dimensions import MATCH, columns
from simplenn.core.errors import UsageError
from simplenn.analyse.report.crossover import Crossover, Speedup, crossover
from simplenn.analyse.report.tables import measured, n_weights_of, only_ok
from simplenn.store.results import Results
from simplenn.store.runmeta import HARDWARE_FIELDS, RunMeta, can_combine

CURVE_FIELDS = columns(without=("device", "batch_size"), runs=False, order="declaration")
# The curve whose step times and crossover the table shows: a Case's defaults (the tutorial's network, one compiled
# call per step).
REFERENCE_CURVE = {k: Case("CPU:0", 1).columns()[k] for k in CURVE_FIELDS}
STEP_AT = (32, 2048)
CURVE_COLUMNS = ["machine", "run", "batch_size", "speedup", "speedup_ci_low", "speedup_ci_high"]
COLUMNS = ["machine", "run", "device", "device_kind", "chip", "gpu_cores", "ram_gb", "tensorflow",
           "tensorflow_metal", "grid", *[f"step_b{b}_s" for b in STEP_AT], "best_speedup", "best_speedup_ci_low",
           "best_speedup_ci_high", "best_speedup_at", "crossover_batch", "crossover", "best_gflop_per_s",
           "pct_of_peak", "peak_kind"]


@dataclass(frozen=True)
class CrossMachine:
    """The table (COLUMNS, one row per run × device), the reference curve's speedup per machine and batch size
    (`curves`: machine, batch_size, speedup, CI), which curve that is, the device pair, and the cell counts."""

    table: pd.DataFrame
    curves: pd.DataFrame
    curve: dict
    base_device: str | None
    other_device: str | None
    n_shared: int
    n_left_out: int


def hardware_name(machine: Mapping) -> str:
    """'Apple M2 Pro, 19-core GPU, 32 GB' or 'AMD EPYC, 2 logical CPUs, 24 GB, Linux x86_64', from hardware fields."""
    ram = f"{machine['ram_bytes'] / 2**30:.0f} GB" if machine.get("ram_bytes") else None
    if machine.get("chip"):
        gpu = f"{machine['gpu_cores']}-core GPU" if machine.get("gpu_cores") else None
        cpu = (f"{machine['cores_performance']}P+{machine['cores_efficiency']}E CPU"
               if machine.get("cores_performance") and machine.get("cores_efficiency") else None)
        parts = [machine["chip"], cpu, gpu, ram]
    else:
        cpus = f"{machine['cores_logical']} logical CPUs" if machine.get("cores_logical") else None
        where = " ".join(str(machine[k]) for k in ("os", "arch") if machine.get(k)) or None
        parts = [machine.get("cpu_model") or machine.get("label") or "unknown machine", cpus, ram, where]
    return ", ".join(str(p) for p in parts if p)


def machine_names(runs: Mapping[str, RunMeta]) -> dict[str, str]:
    """Run → machine name: the hardware name; where two runs share it, the fields that differ, else the run folder."""
    keys = {run: meta.hardware for run, meta in runs.items()}
    names = {run: hardware_name(meta.machine) for run, meta in runs.items()}
    out = {}
    for run, name in names.items():
        twins = [r for r in runs if names[r] == name]
        if len(twins) == 1:
            out[run] = name
            continue
        differ = [f"{f} {'unknown' if keys[run][i] is None else keys[run][i]}" for i, f in enumerate(HARDWARE_FIELDS) if len({keys[r][i] for r in twins}) > 1]
        if sum(keys[r] == keys[run] for r in twins) > 1:  # the same hardware measured twice: the runs tell them apart
            differ.append(run)
        out[run] = f"{name} [{', '.join(differ)}]"
    return out


def check_rankable(runs: Mapping[str, RunMeta]) -> None:
    """Refuse (UsageError, exit 2) to put runs side by side that may not be ranked together (runmeta.can_combine)."""
    problem = can_combine(runs, rank=True)
    if problem:
        raise UsageError(f"report: {problem}")


def shared_cells(samples: pd.DataFrame) -> tuple[pd.MultiIndex, int]:
    """(the MATCH of the cells every run measured ok, how many cells were ok in some runs only)."""
    ok = only_ok(measured(samples), "step_s").drop_duplicates(["run", *MATCH])
    counts = ok.groupby(MATCH, dropna=False).size()
    n_runs = samples["run"].nunique()
    return counts[counts == n_runs].index, int((counts < n_runs).sum())


def _keep(frame: pd.DataFrame, shared: pd.MultiIndex) -> pd.DataFrame:
    return frame[pd.MultiIndex.from_frame(frame[MATCH]).isin(shared)]


def _reference_curve(cells: pd.DataFrame) -> dict:
    """REFERENCE_CURVE when every run has it, else the shared curve with most batch sizes (smallest network)."""
    ok = cells[cells["status"] == "ok"]
    if ok.empty:
        return {}
    sizes = ok.groupby(CURVE_FIELDS, dropna=False)["batch_size"].nunique().reset_index()
    mine = sizes.loc[(sizes[list(REFERENCE_CURVE)] == pd.Series(REFERENCE_CURVE)).all(axis=1)]
    if not mine.empty:
        return dict(REFERENCE_CURVE)
    sizes["_w"] = sizes["widths"].map(n_weights_of)
    best = sizes.sort_values(["batch_size", "_w"], ascending=[False, True]).iloc[0]
    return {k: (bool(best[k]) if k == "jit" else best[k]) for k in CURVE_FIELDS}


def on_curve(frame: pd.DataFrame, curve: dict) -> pd.DataFrame:
    """The rows of `frame` on `curve` (CURVE_FIELDS → value); none when there is no curve."""
    return frame[(frame[list(curve)] == pd.Series(curve)).all(axis=1)] if curve else frame.iloc[0:0]


def cross_machine(results: Results, cells: pd.DataFrame, speed: Speedup, cross: Crossover | None) -> CrossMachine:
    """The cross-machine table, from the report's own cell, speedup and crossover tables (see CrossMachine).

    Refuses runs of different grid identities (check_rankable). Cells not measured ok by every run are dropped
    from all three tables; the crossover is recomputed only then (a curve that lost a batch size may cross
    elsewhere), never the bootstrap.
    """
    runs = results.runs
    check_rankable(runs)
    shared, n_left_out = shared_cells(results.table)
    base, other = speed.base_device, speed.other_device
    if n_left_out:
        cells = _keep(cells, shared)
        # A speedup row stays when its cells on both devices are shared.
        both = _keep(_keep(speed.table.assign(device=base), shared).assign(device=other), shared)
        speed = Speedup(base, other, speed.table.loc[both.index].reset_index(drop=True), speed.note)
        cross = crossover(results, cells=cells, speedup=speed) if base else None
    curve = _reference_curve(cells)
    names = machine_names({run: results.meta(run) for run in dict.fromkeys(results.table["run"])})
    ref_cells = on_curve(only_ok(cells, "median_step_s"), curve)
    ref_cross = on_curve(cross.table, curve) if cross is not None else None
    rows = []
    for (run, device), dev_cells in cells.groupby(["run", "device"], sort=False):
        row = _machine_row(results.meta(run), names[run], run, device, dev_cells, ref_cells)
        if base is not None and device == other:
            row.update(_best_speedup(speed.table[speed.table["run"] == run]))
            cr = ref_cross[ref_cross["run"] == run] if ref_cross is not None else ()
            if len(cr):
                row["crossover_batch"], row["crossover"] = cr["crossover_batch"].iloc[0], cr["answer"].iloc[0]
        elif base is not None and device == base:
            row["crossover"] = "base device"
        rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=COLUMNS)
    curves = _curves(speed, curve, names) if base is not None else pd.DataFrame(columns=CURVE_COLUMNS)
    return CrossMachine(table, curves, curve, base, other, len(shared), n_left_out)


def _machine_row(meta: RunMeta, name: str, run: str, device: str, dev_cells: pd.DataFrame,
                 ref_cells: pd.DataFrame) -> dict:
    machine, versions = meta.machine, meta.versions
    ok = only_ok(dev_cells, "median_step_s")
    peak = ok["pct_of_peak"].notna()
    row = {
        "machine": name, "run": run, "device": device, "device_kind": dev_cells["device_kind"].iloc[0],
        "chip": machine.get("chip") or machine.get("cpu_model") or "unknown", "gpu_cores": machine.get("gpu_cores"),
        "ram_gb": machine["ram_bytes"] / 2**30 if machine.get("ram_bytes") else math.nan,
        "tensorflow": versions.get("tensorflow", "–"), "tensorflow_metal": versions.get("tensorflow-metal", "–"),
        "grid": meta.grid_identity, "best_gflop_per_s": ok["gflop_per_s"].max() if len(ok) else math.nan,
        "pct_of_peak": ok.loc[peak, "pct_of_peak"].max() if peak.any() else math.nan,
        "peak_kind": ("estimate" if ok.loc[peak, "peak_is_estimate"].any() else "published or derived")
        if peak.any() else "", "best_speedup_at": "", "crossover": "",
    }
    mine = ref_cells[(ref_cells["run"] == run) & (ref_cells["device"] == device)]
    for b in STEP_AT:
        at = mine.loc[mine["batch_size"] == b, "median_step_s"]
        row[f"step_b{b}_s"] = float(at.iloc[0]) if len(at) else math.nan
    return row


def _best_speedup(table: pd.DataFrame) -> dict:
    """The configuration where the other device gains most over the base (by the CI's lower bound)."""
    if table.empty:
        return {}
    best = table.sort_values(["speedup_ci_low", "speedup"], ascending=False).iloc[0]
    at = f"{best['impl']} {best['mode']} {best['widths']} b{best['batch_size']}"
    return {"best_speedup": best["speedup"], "best_speedup_ci_low": best["speedup_ci_low"],
            "best_speedup_ci_high": best["speedup_ci_high"], "best_speedup_at": at}


def _curves(speed: Speedup, curve: dict, names: Mapping[str, str]) -> pd.DataFrame:
    table = on_curve(speed.table, curve)
    return table.assign(machine=table["run"].map(names))[CURVE_COLUMNS].sort_values(["machine", "batch_size"])
