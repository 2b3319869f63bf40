"""Tables from the tidy results DataFrame: per cell, speedup, crossover, host overhead, and the Markdown report.

Nothing here measures or prints. Times stay in seconds (`*_s`) in every table and in summary.csv; only the
Markdown rendering converts them to milliseconds (`*_ms` column headings).
"""
from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from simplenn import peaks
from simplenn.cases import FLOPS_FORMULA
from simplenn.errors import UsageError
from simplenn.results import CELL_KEYS, load
from simplenn.stats import UNSTABLE_IQR_REL, bootstrap_ratio_ci, summarize

# A cell: every key that tells two measured configurations apart, plus its id.
CELL_GROUP = CELL_KEYS + ["cell_id"]
# Two devices are compared at equal everything-else; `run` keeps two runs of one machine apart.
CURVE_KEYS = ["machine", "run", "impl", "mode", "loss", "dtype", "jit", "widths"]
PAIR_KEYS = CURVE_KEYS + ["batch_size"]
# Drift of the sentinel cell beyond this fraction is worth a warning (same bar as instability).
DRIFT_WARN = 0.10
NOMINAL_THERMAL = {"nominal", "unknown", "", "none", "nan"}
MiB = 2**20


# ----------------------------------------------------------------------------------------------- helpers


def measured(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of the regular cells: sentinel re-measurements only serve the drift check."""
    return df[~df["sentinel"].fillna(False).astype(bool)]


def meta_of(df: pd.DataFrame) -> dict[str, dict]:
    """run name -> run.json dict ({} when the frame was built without run folders)."""
    return dict(df.attrs.get("meta") or {})


def n_weights_of(widths: str) -> int:
    """'784x100x30x10' -> weight entries, used to order networks by size."""
    dims = [int(d) for d in str(widths).split("x") if d.isdigit()]
    return sum(a * b for a, b in zip(dims[:-1], dims[1:]))


def widths_order(labels: Iterable[str]) -> list[str]:
    """Widths labels from the smallest network to the largest."""
    return sorted(set(labels), key=lambda w: (n_weights_of(w), w))


def _first_non_ok(statuses: pd.Series) -> str:
    # A cell is ok only if every record of it is; otherwise the first failure names it.
    bad = [s for s in statuses if s != "ok"]
    return bad[0] if bad else "ok"


def _join_unique(values: pd.Series) -> str:
    seen = [str(v) for v in dict.fromkeys(values) if isinstance(v, str) and v]
    return "; ".join(seen)


def _thermal_worst(values: pd.Series) -> str:
    hot = [str(v) for v in values if not _is_nominal(v)]
    return hot[-1] if hot else next((str(v) for v in values if isinstance(v, str) and v), "")


def _is_nominal(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).lower() in NOMINAL_THERMAL


def machine_versions(machine: Mapping) -> dict[str, str]:
    """Software versions of a run.json machine dict, tolerant of flat keys or a `versions` sub-dict."""
    versions = dict(machine.get("versions") or {})
    pick = {
        "python": machine.get("python"),
        "tensorflow": versions.get("tensorflow") or machine.get("tensorflow"),
        "keras": versions.get("keras") or machine.get("keras"),
        "tensorflow-metal": versions.get("tensorflow-metal") or machine.get("tensorflow_metal"),
    }
    return {k: str(v) for k, v in pick.items() if v}


def chip_peak(meta: Mapping) -> peaks.ChipPeak | None:
    """The published GPU peak of a run's chip, or None when the chip is not an Apple one we know."""
    machine = meta.get("machine") or {}
    return peaks.lookup(machine.get("chip"), machine.get("gpu_cores"))


def require_ok(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Refuse a table without a single ok measurement: nothing could be reported from it."""
    if df.empty:
        raise UsageError(f"{source}: no cells recorded")
    ok = measured(df)["status"] == "ok"
    if not ok.any():
        counts = measured(df).drop_duplicates("cell_id")["status"].value_counts()
        listing = ", ".join(f"{n} {s}" for s, n in counts.items())
        raise UsageError(f"{source}: no cell finished ok ({listing}); nothing to report")
    return df


# ------------------------------------------------------------------------------------------ cell table


def cell_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell (sentinel rows excluded): step-time statistics in seconds, throughput, efficiency, status.

    Columns added to the cell keys: status, reason, n_blocks, median_step_s, q1/q3, iqr_s, iqr_rel, ci_low_s,
    ci_high_s, mad_s, min/mean/std, samples_per_s, gflop_per_s, ceiling_gflop_per_s, pct_of_ceiling,
    peak_gflop_per_s and pct_of_peak (GPU cells on a known Apple chip), peak_is_estimate, peak_mem_bytes,
    trace_s, final_loss, thermal, unstable, warnings.
    """
    data = measured(df)
    info = (
        data.groupby(CELL_GROUP, sort=False, dropna=False)
        .agg(
            seq=("seq", "min"),
            status=("status", _first_non_ok),
            reason=("reason", _join_unique),
            flops_per_step=("flops_per_step", "first"),
            ceiling_gflop_per_s=("ceiling_gflops", "first"),
            peak_mem_bytes=("peak_bytes", "max"),
            trace_s=("trace_s", "median"),
            final_loss=("final_loss", "last"),
            thermal_before=("thermal_before", _thermal_worst),
            thermal_after=("thermal_after", _thermal_worst),
        )
        .reset_index()
    )
    stats = summarize(data[data["status"] == "ok"], CELL_GROUP)
    out = info.merge(stats, on=CELL_GROUP, how="left")
    out["n_blocks"] = out["n_blocks"].fillna(0).astype(int)
    out["samples_per_s"] = out["batch_size"] / out["median_step_s"]
    out["gflop_per_s"] = out["flops_per_step"] / out["median_step_s"] / 1e9
    out["pct_of_ceiling"] = 100 * out["gflop_per_s"] / out["ceiling_gflop_per_s"]
    out = _add_published_peak(out, meta_of(df))
    out["unstable"] = out["unstable"].astype("boolean").fillna(False).astype(bool)
    out["warnings"] = [_cell_warnings(r) for r in out.itertuples(index=False)]
    return _sorted_cells(out)


def _add_published_peak(cells: pd.DataFrame, meta: Mapping[str, dict]) -> pd.DataFrame:
    # Only GPU cells: a chip's published figure is its GPU's, and a CPU cell on the same chip would look absurd.
    per_run = {run: chip_peak(m) for run, m in meta.items()}
    peak = cells["run"].map(lambda r: per_run.get(r))
    is_gpu = cells["device_kind"] == "gpu"
    cells["peak_gflop_per_s"] = [p.fp32_gflops if p and g else math.nan for p, g in zip(peak, is_gpu)]
    cells["peak_is_estimate"] = [bool(p.estimate) if p and g else False for p, g in zip(peak, is_gpu)]
    cells["pct_of_peak"] = 100 * cells["gflop_per_s"] / cells["peak_gflop_per_s"]
    return cells


def _cell_warnings(row) -> str:
    notes = []
    if row.unstable:
        notes.append(f"unstable: IQR {100 * row.iqr_rel:.1f} % of median (> {100 * UNSTABLE_IQR_REL:.0f} %)")
    for when, value in (("before", row.thermal_before), ("after", row.thermal_after)):
        if not _is_nominal(value):
            notes.append(f"thermal {when}: {value}")
    if row.status != "ok" and row.n_blocks > 0:
        notes.append("ok in some rounds only")
    return "; ".join(notes)


def _sorted_cells(cells: pd.DataFrame) -> pd.DataFrame:
    order = cells.assign(_w=cells["widths"].map(n_weights_of))
    order = order.sort_values(["machine", "run", "impl", "mode", "loss", "dtype", "jit", "_w", "device", "batch_size"])
    return order.drop(columns="_w").reset_index(drop=True)


# -------------------------------------------------------------------------------------------- speedup


@dataclass(frozen=True)
class Speedup:
    """`table`: per (machine, run, impl, mode, loss, dtype, jit, widths, batch_size), speedup = base / other
    median step time (> 1: the other device is faster) with a seeded bootstrap CI. `note` says why it is empty."""

    base_device: str | None
    other_device: str | None
    table: pd.DataFrame
    note: str = ""


SPEEDUP_COLUMNS = PAIR_KEYS + [
    "base_median_s", "other_median_s", "speedup", "speedup_ci_low", "speedup_ci_high", "faster",
]


def devices_present(df: pd.DataFrame) -> list[str]:
    """Devices with at least one ok measurement, CPU:0 first, then in name order."""
    ok = measured(df)
    return sorted(ok.loc[ok["status"] == "ok", "device"].unique(), key=lambda d: (d != "CPU:0", d))


def default_pair(df: pd.DataFrame) -> tuple[str, str] | None:
    """CPU:0 versus the first GPU; without a GPU the first two devices present; None with a single device."""
    devices = devices_present(df)
    if len(devices) < 2:
        return None
    gpus = sorted(measured(df).loc[lambda d: d["device_kind"] == "gpu", "device"].unique())
    gpus = [g for g in gpus if g in devices]
    if "CPU:0" in devices and gpus:
        return "CPU:0", gpus[0]
    return devices[0], devices[1]


def _resolve_pair(df: pd.DataFrame, base: str | None, other: str | None) -> tuple[str | None, str | None, str]:
    present = devices_present(df)
    if base is None and other is None:
        pair = default_pair(df)
        if pair is None:
            only = present[0] if present else "none"
            return None, None, f"Only one device was measured ({only}): there is no device to compare it with."
        return pair[0], pair[1], ""
    for name, dev in (("base", base), ("other", other)):
        if dev is not None and dev not in present:
            raise UsageError(f"{name} device {dev!r} has no ok cell; measured devices: {', '.join(present) or 'none'}")
    base = base or next(d for d in present if d != other)
    other = other or next((d for d in present if d != base), None)
    if other is None or other == base:
        return None, None, f"Only one device was measured ({base}): there is no device to compare it with."
    return base, other, ""


def speedup_table(
    df: pd.DataFrame, base_device: str | None = None, other_device: str | None = None, seed: int = 0
) -> Speedup:
    """Base median / other median per configuration, with the seeded bootstrap CI over blocks (see Speedup)."""
    base, other, note = _resolve_pair(df, base_device, other_device)
    if base is None:
        return Speedup(None, None, pd.DataFrame(columns=SPEEDUP_COLUMNS), note)
    ok = measured(df)
    ok = ok[(ok["status"] == "ok") & ok["device"].isin([base, other]) & ok["step_s"].notna()]

    def one(group: pd.DataFrame) -> pd.Series:
        b = group.loc[group["device"] == base, "step_s"].to_numpy()
        o = group.loc[group["device"] == other, "step_s"].to_numpy()
        ratio, low, high = bootstrap_ratio_ci(b, o, seed=seed)
        return pd.Series({
            "base_median_s": float(np.median(b)) if b.size else math.nan,
            "other_median_s": float(np.median(o)) if o.size else math.nan,
            "speedup": ratio, "speedup_ci_low": low, "speedup_ci_high": high,
        })

    if ok.empty:
        table = pd.DataFrame(columns=SPEEDUP_COLUMNS)
    else:
        table = ok.groupby(PAIR_KEYS, sort=True).apply(one, include_groups=False).reset_index()
        table = table.dropna(subset=["speedup"]).reset_index(drop=True)
        table["faster"] = table.apply(lambda r: _winner(r, base, other), axis=1) if len(table) else []
    if table.empty:
        note = f"No configuration was measured ok on both {base} and {other}."
    return Speedup(base, other, table[SPEEDUP_COLUMNS] if not table.empty else table, note)


def _winner(row: pd.Series, base: str, other: str) -> str:
    if row["speedup_ci_low"] > 1:
        return other
    if row["speedup_ci_high"] < 1:
        return base
    return "neither (CI spans 1)"


# ------------------------------------------------------------------------------------------- crossover


@dataclass(frozen=True)
class Crossover:
    """Per curve (machine, run, impl, mode, loss, dtype, jit, widths): where the other device starts to win.

    `crossover_batch`: the smallest measured batch size from which on the other device is faster at every larger
    measured size with the speedup CI's lower bound > 1 (a lone win below a loss does not count).
    `fit_crossover_batch`: where the least-squares lines time = overhead_s + cost_s_per_sample × batch of the two
    devices meet (NaN when they do not meet at a positive batch size); the fit parameters are columns too.
    """

    base_device: str | None
    other_device: str | None
    table: pd.DataFrame
    note: str = ""


CROSSOVER_COLUMNS = CURVE_KEYS + [
    "crossover_batch", "max_batch", "answer", "fit_crossover_batch", "fit_answer",
    "base_overhead_s", "base_cost_s_per_sample", "other_overhead_s", "other_cost_s_per_sample",
]


def fit_line(batch_sizes: Sequence[float], times_s: Sequence[float]) -> tuple[float, float]:
    """(overhead_s, cost_s_per_sample) of time = overhead + cost × batch, least squares on relative residuals.

    Relative residuals keep the large batches (long times) from drowning out the small ones, where the overhead
    is all there is. NaNs when fewer than two distinct batch sizes are given.
    """
    b = np.asarray(batch_sizes, dtype=float)
    t = np.asarray(times_s, dtype=float)
    if np.unique(b).size < 2:
        return (math.nan, math.nan)
    design = np.column_stack([np.ones_like(b), b]) / t[:, None]
    (overhead, cost), *_ = np.linalg.lstsq(design, np.ones_like(t), rcond=None)
    return (float(overhead), float(cost))


def fit_crossing(base: tuple[float, float], other: tuple[float, float]) -> float:
    """Batch size where the two fitted lines meet (NaN unless at a positive batch with the other cheaper per sample)."""
    (ob, cb), (oo, co) = base, other
    if not (cb > co):
        return math.nan
    b = (oo - ob) / (cb - co)
    return float(b) if b > 0 else math.nan


def crossover(
    df: pd.DataFrame, base_device: str | None = None, other_device: str | None = None, seed: int = 0, *,
    cells: pd.DataFrame | None = None, speedup: Speedup | None = None,
) -> Crossover:
    """Where the other device starts to win, per curve, measured and from the line fit (see Crossover).

    `cells` (cell_table(df)) and `speedup` (speedup_table for the same pair) may be passed when already computed.
    """
    speed = speedup or speedup_table(df, base_device, other_device, seed=seed)
    if speed.table.empty:
        return Crossover(speed.base_device, speed.other_device, pd.DataFrame(columns=CROSSOVER_COLUMNS), speed.note)
    base, other = speed.base_device, speed.other_device
    measured_part = speed.table.groupby(CURVE_KEYS, sort=True).apply(
        lambda g: _measured_crossover(g, other), include_groups=False
    )
    fits = _fits(cell_table(df) if cells is None else cells, base, other)
    table = measured_part.join(fits, how="left").reset_index()
    table["fit_crossover_batch"] = [
        fit_crossing((r.base_overhead_s, r.base_cost_s_per_sample), (r.other_overhead_s, r.other_cost_s_per_sample))
        for r in table.itertuples(index=False)
    ]
    table["fit_answer"] = [_fit_answer(r, other) for r in table.itertuples(index=False)]
    order = table.assign(_w=table["widths"].map(n_weights_of)).sort_values(["machine", "run", "impl", "mode", "_w"])
    return Crossover(base, other, order[CROSSOVER_COLUMNS].reset_index(drop=True))


def _measured_crossover(curve: pd.DataFrame, other: str) -> pd.Series:
    curve = curve.sort_values("batch_size")
    wins = (curve["speedup_ci_low"] > 1).to_numpy()
    batches = curve["batch_size"].to_numpy()
    # Suffix-all: position i counts only if the other device also wins at every larger measured batch size.
    stays = np.flip(np.logical_and.accumulate(np.flip(wins)))
    max_batch = int(batches[-1])
    if stays.all():
        answer, at = f"{other} faster at every measured batch size", int(batches[0])
    elif not stays.any():
        answer, at = f"{other} never faster in the measured range (up to batch {max_batch})", math.nan
    else:
        at = int(batches[np.argmax(stays)])
        answer = f"{other} faster from batch {at} on"
    lone = [int(b) for b, w, s in zip(batches, wins, stays) if w and not s]
    if lone:
        answer += f" (also at batch {', '.join(map(str, lone))}, but not consistently)"
    return pd.Series({"crossover_batch": at, "max_batch": max_batch, "answer": answer})


def _fits(cells: pd.DataFrame, base: str, other: str) -> pd.DataFrame:
    ok = cells[(cells["status"] == "ok") & cells["median_step_s"].notna()]
    cols = ["base_overhead_s", "base_cost_s_per_sample", "other_overhead_s", "other_cost_s_per_sample"]
    if ok.empty:
        return pd.DataFrame(columns=CURVE_KEYS + cols).set_index(CURVE_KEYS)

    def one(group: pd.DataFrame) -> pd.Series:
        out = {}
        for side, dev in (("base", base), ("other", other)):
            g = group[group["device"] == dev]
            out[f"{side}_overhead_s"], out[f"{side}_cost_s_per_sample"] = fit_line(g["batch_size"], g["median_step_s"])
        return pd.Series(out)

    return ok.groupby(CURVE_KEYS, sort=True).apply(one, include_groups=False)


def _fit_answer(row, other: str) -> str:
    if math.isnan(row.base_cost_s_per_sample) or math.isnan(row.other_cost_s_per_sample):
        return "no fit (fewer than two batch sizes on a device)"
    if not math.isnan(row.fit_crossover_batch):
        return f"fitted lines cross at batch ≈ {row.fit_crossover_batch:.0f}"
    if row.other_cost_s_per_sample < row.base_cost_s_per_sample:
        return f"fit: {other} faster at every batch size"
    return f"fit: {other} never faster (its per-sample cost is not lower)"


# ------------------------------------------------------------------------------------- host overhead


HOST_COLUMNS = ["machine", "run", "device", "impl", "loss", "dtype", "jit", "widths", "batch_size",
                "per_call_step_s", "in_graph_step_s", "host_overhead_s", "host_share_pct"]


def host_overhead_table(df: pd.DataFrame, cells: pd.DataFrame | None = None) -> pd.DataFrame:
    """Where both modes were measured ok: per-call − in-graph median per step = the host's dispatch cost.

    `host_share_pct` is that difference as a share of the per-call step. Empty when no configuration has both.
    `cells` (cell_table(df)) may be passed when already computed.
    """
    cells = cell_table(df) if cells is None else cells
    ok = cells[(cells["status"] == "ok") & cells["median_step_s"].notna()]
    keys = [c for c in HOST_COLUMNS[:9]]
    wide = ok.pivot_table(index=keys, columns="mode", values="median_step_s", aggfunc="first")
    if not {"per-call", "in-graph"} <= set(wide.columns):
        return pd.DataFrame(columns=HOST_COLUMNS)
    wide = wide.dropna(subset=["per-call", "in-graph"]).reset_index()
    wide = wide.rename(columns={"per-call": "per_call_step_s", "in-graph": "in_graph_step_s"})
    wide["host_overhead_s"] = wide["per_call_step_s"] - wide["in_graph_step_s"]
    wide["host_share_pct"] = 100 * wide["host_overhead_s"] / wide["per_call_step_s"]
    return wide[HOST_COLUMNS].reset_index(drop=True)


# ------------------------------------------------------------------------------------------ Markdown


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}" if abs(v) >= 10000 else str(int(v))
        return f"{v:,.0f}" if abs(v) >= 10000 else f"{v:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub Markdown table (pandas' to_markdown needs `tabulate`, which is not a dependency)."""
    if table.empty:
        return "_(no rows)_"
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    numeric = [pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c]) for c in table]
    rule = "|" + "|".join("---:" if n else "---" for n in numeric) + "|"
    rows = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def split_constant(table: pd.DataFrame, candidates: Sequence[str]) -> tuple[pd.DataFrame, str]:
    """Drop key columns that hold one value in every row and say them once above the table instead."""
    same = [c for c in candidates if c in table and table[c].nunique(dropna=False) == 1 and len(table) > 0]
    text = ", ".join(f"{c} = {_fmt(table[c].iloc[0])}" for c in same)
    return table.drop(columns=same), (f"All rows: {text}." if text else "")


_DISPLAY_KEYS = ["machine", "run", "impl", "mode", "loss", "dtype", "jit"]


def _ms(seconds: pd.Series) -> pd.Series:
    return seconds * 1e3


def cells_for_display(cells: pd.DataFrame) -> pd.DataFrame:
    """The per-cell table in display units: ms, samples/s, GFLOP/s, %, MiB."""
    ci = [f"{_fmt(lo * 1e3)}–{_fmt(hi * 1e3)}" if not math.isnan(lo) else "–"
          for lo, hi in zip(cells["ci_low_s"], cells["ci_high_s"])]
    return pd.DataFrame({
        **{k: cells[k] for k in _DISPLAY_KEYS},
        "device": cells["device"], "widths": cells["widths"], "batch_size": cells["batch_size"],
        "status": cells["status"], "n_blocks": cells["n_blocks"],
        "median_ms": _ms(cells["median_step_s"]), "iqr_ms": _ms(cells["iqr_s"]), "ci95_ms": ci,
        "samples_per_s": cells["samples_per_s"], "gflop_per_s": cells["gflop_per_s"],
        "pct_of_ceiling": cells["pct_of_ceiling"], "pct_of_peak": cells["pct_of_peak"],
        "peak_mem_mib": cells["peak_mem_bytes"] / MiB, "warnings": cells["warnings"],
    })


def speedup_for_display(table: pd.DataFrame, base: str, other: str) -> pd.DataFrame:
    return pd.DataFrame({
        **{k: table[k] for k in PAIR_KEYS},
        f"{base}_median_ms": _ms(table["base_median_s"]), f"{other}_median_ms": _ms(table["other_median_s"]),
        "speedup_x": table["speedup"], "ci95_low_x": table["speedup_ci_low"], "ci95_high_x": table["speedup_ci_high"],
        "faster": table["faster"],
    })


def crossover_for_display(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        **{k: table[k] for k in CURVE_KEYS},
        "answer": table["answer"], "crossover_batch": table["crossover_batch"],
        "fit_crossover_batch": table["fit_crossover_batch"].round(0),
        "base_overhead_ms": _ms(table["base_overhead_s"]),
        "base_cost_us_per_sample": table["base_cost_s_per_sample"] * 1e6,
        "other_overhead_ms": _ms(table["other_overhead_s"]),
        "other_cost_us_per_sample": table["other_cost_s_per_sample"] * 1e6,
    })


def host_for_display(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        **{k: table[k] for k in HOST_COLUMNS[:9]},
        "per_call_ms": _ms(table["per_call_step_s"]), "in_graph_ms": _ms(table["in_graph_step_s"]),
        "host_overhead_ms": _ms(table["host_overhead_s"]), "host_share_pct": table["host_share_pct"],
    })


def _section_table(display: pd.DataFrame) -> str:
    table, constant = split_constant(display, _DISPLAY_KEYS)
    return "\n\n".join(x for x in (constant, markdown_table(table)) if x)


def machines_section(df: pd.DataFrame) -> str:
    """One row per run: machine label, chip/CPU, OS, Python and library versions, published GPU peak."""
    meta = meta_of(df)
    rows = []
    for run in dict.fromkeys(df["run"]):
        m = (meta.get(run) or {}).get("machine") or {}
        peak = chip_peak(meta.get(run) or {})
        versions = machine_versions(m)
        rows.append({
            "run": run,
            "machine": m.get("label") or df.loc[df["run"] == run, "machine"].iloc[0],
            "chip / CPU": m.get("chip") or m.get("cpu_model") or "unknown",
            "OS": " ".join(str(v) for v in (m.get("os"), m.get("os_version")) if v) or "unknown",
            "python": versions.get("python", "–"),
            "tensorflow": versions.get("tensorflow", "–"),
            "keras": versions.get("keras", "–"),
            "tensorflow-metal": versions.get("tensorflow-metal", "–"),
            "devices": ", ".join(sorted(df.loc[df["run"] == run, "device"].unique())),
            "published GPU peak": peak.label if peak else "–",
        })
    return markdown_table(pd.DataFrame(rows))


def grid_section(df: pd.DataFrame) -> str:
    """The grid as recorded in run.json, and what was actually measured."""
    lines = []
    for run, meta in meta_of(df).items():
        grid = meta.get("grid") or {}
        if grid:
            items = "; ".join(f"{k} = {_fmt_value(v)}" for k, v in grid.items())
            lines.append(f"- `{run}` grid: {items}")
    data = measured(df)
    batches = ", ".join(str(b) for b in sorted(data["batch_size"].unique()))
    lines.append(f"- measured: devices {', '.join(sorted(data['device'].unique()))}; batch sizes {batches}; "
                 f"widths {', '.join(widths_order(data['widths']))}; impl {', '.join(sorted(data['impl'].unique()))}; "
                 f"modes {', '.join(sorted(data['mode'].unique()))}; {data['cell_id'].nunique()} cells, "
                 f"{int(data['step_s'].notna().sum())} timed blocks")
    return "\n".join(lines)


def _fmt_value(v: object) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt_value(x) for x in v) if v else "none"
    return _fmt(v)


def warnings_section(df: pd.DataFrame, cells: pd.DataFrame) -> str:
    """Everything a reader should distrust: unstable cells, hot machines, drift, failed cells, run warnings."""
    lines = []
    for r in cells[cells["warnings"] != ""].itertuples(index=False):
        lines.append(f"- `{r.cell_id}` ({r.machine}): {r.warnings}")
    for r in cells[cells["status"] != "ok"].itertuples(index=False):
        lines.append(f"- `{r.cell_id}` ({r.machine}) is **{r.status}**: {r.reason or 'no reason recorded'}")
    for run, meta in meta_of(df).items():
        lines += [f"- `{run}`: {_drift_text(meta.get('drift'))}"] if meta.get("drift") else []
        lines += [f"- `{run}`: {w}" for w in meta.get("warnings") or []]
    return "\n".join(lines) if lines else "None."


def _drift_text(drift: object) -> str:
    if not isinstance(drift, Mapping):
        return f"sentinel drift: {drift}"
    ratio = drift.get("ratio")
    cell = drift.get("sentinel") or drift.get("cell") or drift.get("cell_id") or "sentinel"
    details = ", ".join(f"{k} = {_fmt(v)}" for k, v in drift.items() if k not in ("sentinel", "cell", "cell_id", "warning"))
    text = f"sentinel `{cell}` drift: {details}"
    if isinstance(ratio, (int, float)) and abs(ratio - 1) > DRIFT_WARN:
        text += f" — **the machine drifted by {100 * (ratio - 1):+.0f} % during the run**"
    return text


METHOD = (
    "Each cell's training step is traced once (timed on its own), warmed up, then timed in blocks of N steps with "
    "one synchronisation per block, so the per-step time is block time / N; cells are interleaved across devices "
    "and rounds, and every table gives the median over blocks with its 95 % confidence interval (speedups: a "
    "seeded bootstrap over blocks). " + FLOPS_FORMULA + "; GFLOP/s is compared with the same run's measured "
    "tf.matmul ceiling of each device and, on Apple GPUs, with the chip's published FP32 peak."
)


def render_markdown(df: pd.DataFrame, out_dir: Path | str, chart_paths: Mapping[str, Path] | None = None,
                    seed: int = 0, cells: pd.DataFrame | None = None) -> str:
    """The report as Markdown: machines, grid, method, answer (crossover), tables, charts, warnings."""
    from simplenn.plots import CHARTS  # titles and axis labels live with the charts that draw them

    out_dir = Path(out_dir)
    cells = cell_table(df) if cells is None else cells
    speed = speedup_table(df, seed=seed)
    cross = crossover(df, cells=cells, speedup=speed) if speed.base_device else None
    host = host_overhead_table(df, cells)
    parts = [
        "# simplenn-bench report",
        "## Machines and versions", machines_section(df),
        "## Grid", grid_section(df),
        "## Method", method_text(df),
    ]
    if speed.base_device is None or cross is None or cross.table.empty:
        parts += ["## When does the other device win?", speed.note or "No comparison possible."]
    else:
        parts += [f"## When does {speed.other_device} beat {speed.base_device}?",
                  f"Speedup = {speed.base_device} median / {speed.other_device} median (> 1: {speed.other_device} "
                  "is faster). The crossover is the smallest measured batch size from which on "
                  f"{speed.other_device} is faster at every larger size with the speedup CI's lower bound > 1; the "
                  "fit is time = overhead + cost × batch per device (least squares on relative error).",
                  _section_table(crossover_for_display(cross.table)),
                  "### Speedup per batch size",
                  _section_table(speedup_for_display(speed.table, speed.base_device, speed.other_device))]
    absent = absent_gpu_text(df)
    if absent:
        parts.append(absent)
    parts += ["## Per-cell results",
              "Median step time over blocks with IQR and the median's 95 % CI; samples/s = batch / median; "
              "pct_of_ceiling = GFLOP/s as % of the device's measured matmul ceiling; pct_of_peak = % of the chip's "
              "published FP32 GPU peak (Apple GPUs only). Full precision in `summary.csv` (seconds).",
              _section_table(cells_for_display(cells))]
    if not host.empty:
        parts += ["## Where the time goes",
                  "Host overhead = per-call median − in-graph median per step: what dispatching one step from "
                  "Python costs on top of the device work.",
                  _section_table(host_for_display(host))]
    if chart_paths:
        parts.append("## Charts")
        for name, path in chart_paths.items():
            spec = CHARTS[name]
            link = Path(os.path.relpath(Path(path), out_dir)).as_posix()
            parts.append(f"### {spec.title}\n\n![{spec.title}]({link})\n\n_x: {spec.xlabel}; y: {spec.ylabel}_")
    parity = parity_section(df)
    if parity:
        parts += ["## Parity", parity]
    parts += ["## Warnings", warnings_section(df, cells)]
    return "\n\n".join(parts) + "\n"


def absent_gpu_text(df: pd.DataFrame) -> str:
    """Runs that measured no GPU, with the reason recorded when the run started (never a made-up GPU figure)."""
    lines = [f"- `{run}`: no GPU was measured — {meta['gpu_missing_reason']}"
             for run, meta in meta_of(df).items() if meta.get("gpu_missing_reason")]
    return "\n".join(lines)


def method_text(df: pd.DataFrame) -> str:
    """The method paragraph; pytest-benchmark sources are timed per cell in pytest's order, not interleaved."""
    sources = {meta.get("source") for meta in meta_of(df).values()}
    if sources == {"pytest-benchmark"}:
        return METHOD.replace("cells are interleaved across devices and rounds", "cells ran in pytest's order "
                              "(pytest-benchmark rounds; not interleaved across devices)")
    return METHOD


def parity_section(df: pd.DataFrame) -> str:
    """CPU ↔ GPU (any two devices) parity of each run: the same seeded steps compared within a tolerance."""
    lines = []
    for run, meta in meta_of(df).items():
        parity = meta.get("device_parity")
        if isinstance(parity, Mapping):
            verdict = "agree" if parity.get("ok") else "**MISMATCH**"
            lines.append(f"- `{run}`: devices {verdict}: {parity.get('message', '')}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class ReportFiles:
    """Paths written by write_report."""

    report_md: Path
    summary_csv: Path
    charts: dict[str, Path] = field(default_factory=dict)


def combine(sources: Iterable[pd.DataFrame | Path | str]) -> pd.DataFrame:
    """One tidy DataFrame from loaded frames and/or run folders; `run` and `machine` tell them apart."""
    frames = [s if isinstance(s, pd.DataFrame) else load(s) for s in sources]
    if not frames:
        raise UsageError("give at least one run folder")
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].copy()
    df.attrs["meta"] = {k: v for f in frames for k, v in (f.attrs.get("meta") or {}).items()}
    return df


def write_text_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and os.replace, so a reader never sees half a report."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(sources: Iterable[pd.DataFrame | Path | str], out_dir: Path | str, charts: bool = True,
                 seed: int = 0) -> ReportFiles:
    """Write report.md, summary.csv (the per-cell table, seconds) and the charts into out_dir; return their paths."""
    df = combine(sources)
    require_ok(df, ", ".join(dict.fromkeys(df["run"].astype(str))) or "results")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cells = cell_table(df)  # computed once: every table and chart starts from it
    chart_paths: dict[str, Path] = {}
    if charts:
        from simplenn.plots import save_all  # plotting stays out of the table code

        chart_paths = save_all(df, out_dir, seed=seed, cells=cells)
    report_md, summary_csv = out_dir / "report.md", out_dir / "summary.csv"
    write_text_atomic(summary_csv, cells.to_csv(index=False))
    write_text_atomic(report_md, render_markdown(df, out_dir, chart_paths, seed=seed, cells=cells))
    return ReportFiles(report_md, summary_csv, chart_paths)
