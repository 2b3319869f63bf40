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

from simplenn.errors import UsageError
from simplenn.report import cell_table, crossover, default_pair, machine_versions, measured, speedup_table

# The fingerprint fields that tell one kind of machine from another (the label is derived from some of them).
HARDWARE_FIELDS = ("chip", "gpu_cores", "cpu_model", "cores_performance", "cores_efficiency", "cores_logical",
                   "ram_bytes", "arch", "os")
# Overrides of a preset that change how every cell is timed: such a run is not the preset's grid any more.
TIMING_OVERRIDES = ("cooldown", "min_block_time", "min_time")
# A cell is the same cell on two machines when all of these agree.
SHARED_KEYS = ["device", "impl", "mode", "batch_size", "widths", "loss", "dtype", "jit"]
CURVE_FIELDS = ["impl", "mode", "widths", "loss", "dtype", "jit"]
# The curve whose step times and crossover the table shows: the tutorial's network, one compiled call per step.
REFERENCE_CURVE = {"impl": "scratch", "mode": "per-call", "widths": "784x100x30x10", "loss": "sigmoid",
                   "dtype": "float32", "jit": False}
STEP_AT = (32, 2048)
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


def hardware_key(machine: Mapping) -> tuple:
    """The hardware fields of a run.json machine dict, in HARDWARE_FIELDS order (None where absent)."""
    return tuple(machine.get(k) for k in HARDWARE_FIELDS)


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


def machine_names(runs: Mapping[str, dict]) -> dict[str, str]:
    """Run → machine name: the hardware name; where two runs share it, the fields that differ, else the run folder."""
    keys = {run: hardware_key((meta or {}).get("machine") or {}) for run, meta in runs.items()}
    names = {run: hardware_name((meta or {}).get("machine") or {}) for run, meta in runs.items()}
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


def grid_identity(meta: Mapping) -> str:
    """What a run's cells are comparable by: 'standard v1', 'standard v1, min_time overridden', or 'no preset'."""
    preset = meta.get("preset") or {}
    if not preset:
        return "no preset (its own grid)"
    timing = sorted(set(preset.get("overrides") or ()) & set(TIMING_OVERRIDES))
    ident = f"{preset.get('name')} v{preset.get('version')}"
    return f"{ident} with {', '.join(timing)} overridden" if timing else ident


def check_rankable(runs: Mapping[str, dict]) -> None:
    """Refuse (UsageError, exit 2) to put runs side by side whose grid identities differ, saying which and why."""
    idents: dict[str, list[str]] = {}
    for run, meta in runs.items():
        idents.setdefault(grid_identity(meta or {}), []).append(run)
    if len(idents) < 2:
        return
    listing = "; ".join(f"{ident}: {', '.join(rs)}" for ident, rs in idents.items())
    raise UsageError(
        "report: refusing to rank machines measured with different grids (" + listing + "). A preset's version "
        "changes when its cells or their timing change, and a run without a preset (or with min_time, "
        "min_block_time or cooldown overridden) times its cells its own way, so their figures do not compare. "
        "Report runs of one preset version together (simplenn-bench run --preset standard on every machine).")


def shared_cells(samples: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """(the rows of cells every run measured ok, number of such cells, number left out: ok in some runs only)."""
    ok = measured(samples)
    ok = ok[(ok["status"] == "ok") & ok["step_s"].notna()]
    per_run = ok.drop_duplicates(["run", *SHARED_KEYS])
    counts = per_run.groupby(SHARED_KEYS, dropna=False).size()
    n_runs = samples["run"].nunique()
    shared = counts[counts == n_runs].index
    keep = pd.MultiIndex.from_frame(samples[SHARED_KEYS]).isin(shared)
    return samples[keep], len(shared), int((counts < n_runs).sum())


def _reference_curve(cells: pd.DataFrame) -> dict:
    """REFERENCE_CURVE when every run has it, else the shared curve with most batch sizes (smallest network)."""
    ok = cells[cells["status"] == "ok"]
    if ok.empty:
        return {}
    sizes = ok.groupby(CURVE_FIELDS, dropna=False)["batch_size"].nunique().reset_index()
    mine = sizes.loc[(sizes[list(REFERENCE_CURVE)] == pd.Series(REFERENCE_CURVE)).all(axis=1)]
    if not mine.empty:
        return dict(REFERENCE_CURVE)
    from simplenn.report import n_weights_of

    sizes["_w"] = sizes["widths"].map(n_weights_of)
    best = sizes.sort_values(["batch_size", "_w"], ascending=[False, True]).iloc[0]
    return {k: (bool(best[k]) if k == "jit" else best[k]) for k in CURVE_FIELDS}


def _on_curve(frame: pd.DataFrame, curve: dict) -> pd.DataFrame:
    return frame[(frame[list(curve)] == pd.Series(curve)).all(axis=1)] if curve else frame.iloc[0:0]


def cross_machine(samples: pd.DataFrame, runs: Mapping[str, dict], seed: int = 0) -> CrossMachine:
    """The cross-machine table of a combined samples table and its runs' run.json dicts (see CrossMachine)."""
    check_rankable(runs)
    shared, n_shared, n_left_out = shared_cells(samples)
    cells = cell_table(shared)
    pair = default_pair(shared)
    base, other = pair if pair else (None, None)
    speed = speedup_table(shared, base, other, seed=seed) if pair else None
    cross = crossover(shared, base, other, seed=seed, cells=cells, speedup=speed) if pair else None
    curve = _reference_curve(cells)
    names = machine_names({run: runs.get(run) or {} for run in dict.fromkeys(samples["run"])})
    ref_cells = _on_curve(cells, curve)
    ref_cross = _on_curve(cross.table, curve) if cross is not None else pd.DataFrame()
    rows = []
    for (run, device), dev_cells in cells.groupby(["run", "device"], sort=False):
        machine = (runs.get(run) or {}).get("machine") or {}
        versions = machine_versions(machine)
        ok = dev_cells[dev_cells["status"] == "ok"]
        row = {
            "machine": names[run], "run": run, "device": device, "device_kind": dev_cells["device_kind"].iloc[0],
            "chip": machine.get("chip") or machine.get("cpu_model") or "unknown",
            "gpu_cores": machine.get("gpu_cores"),
            "ram_gb": machine["ram_bytes"] / 2**30 if machine.get("ram_bytes") else math.nan,
            "tensorflow": versions.get("tensorflow", "–"), "tensorflow_metal": versions.get("tensorflow-metal", "–"),
            "grid": grid_identity(runs.get(run) or {}),
            "best_gflop_per_s": ok["gflop_per_s"].max() if not ok.empty else math.nan,
            "pct_of_peak": ok["pct_of_peak"].max() if ok["pct_of_peak"].notna().any() else math.nan,
            "peak_kind": "", "best_speedup_at": "", "crossover": "",
        }
        if ok["pct_of_peak"].notna().any():
            row["peak_kind"] = "estimate" if ok["peak_is_estimate"].any() else "published or derived"
        mine = ref_cells[(ref_cells["run"] == run) & (ref_cells["device"] == device) & (ref_cells["status"] == "ok")]
        for b in STEP_AT:
            at = mine.loc[mine["batch_size"] == b, "median_step_s"]
            row[f"step_b{b}_s"] = float(at.iloc[0]) if len(at) else math.nan
        if device == other and speed is not None:
            row.update(_best_speedup(speed.table[speed.table["run"] == run]))
            cr = ref_cross[ref_cross["run"] == run]
            if len(cr):
                row["crossover_batch"], row["crossover"] = cr["crossover_batch"].iloc[0], cr["answer"].iloc[0]
        elif device == base:
            row["crossover"] = "base device"
        rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=COLUMNS)
    curves = _curves(speed, curve, names) if speed is not None else pd.DataFrame()
    return CrossMachine(table, curves, curve, base, other, n_shared, n_left_out)


def _best_speedup(table: pd.DataFrame) -> dict:
    """The configuration where the other device gains most over the base (by the CI's lower bound)."""
    if table.empty:
        return {}
    best = table.sort_values(["speedup_ci_low", "speedup"], ascending=False).iloc[0]
    at = f"{best['impl']} {best['mode']} {best['widths']} b{best['batch_size']}"
    return {"best_speedup": best["speedup"], "best_speedup_ci_low": best["speedup_ci_low"],
            "best_speedup_ci_high": best["speedup_ci_high"], "best_speedup_at": at}


def _curves(speed, curve: dict, names: Mapping[str, str]) -> pd.DataFrame:
    table = _on_curve(speed.table, curve)
    cols = ["machine", "run", "batch_size", "speedup", "speedup_ci_low", "speedup_ci_high"]
    return table.assign(machine=table["run"].map(names))[cols].sort_values(["machine", "batch_size"])
