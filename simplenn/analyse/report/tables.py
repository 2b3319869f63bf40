"""Per-cell tables from the tidy samples: the ok-filter, the cell table (statistics, throughput, efficiency), host overhead."""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import pandas as pd

from simplenn.system import peaks
from simplenn.core.cases import n_weights
from simplenn.core.errors import UsageError
from simplenn.core.dimensions import ACROSS_MODES, CELL_COLUMNS, CONFIGURATION
from simplenn.store.results import Results, as_results
from simplenn.store.runmeta import RunMeta
from simplenn.analyse.intervals import with_round_cis
from simplenn.core.stats import UNSTABLE_IQR_REL, summarize

# A cell: every key that tells two measured configurations apart, plus its id.
CELL_GROUP = CELL_COLUMNS + ["cell_id"]
NOMINAL_THERMAL = {"nominal", "unknown", "", "none", "nan"}
HOST_COLUMNS = ACROSS_MODES + ["per_call_step_s", "in_graph_step_s", "host_overhead_s", "host_share_pct"]


def measured(samples: pd.DataFrame) -> pd.DataFrame:
    """Rows of the regular cells: sentinel re-measurements only serve the drift check."""
    return samples[~samples["sentinel"].fillna(False).astype(bool)]


def only_ok(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    """Rows whose status is ok and whose `value` (step_s of a sample, median_step_s of a cell) was measured."""
    return frame[(frame["status"] == "ok") & frame[value].notna()]


def n_weights_of(label: str) -> int:
    """'784x100x30x10' -> weight entries (cases.n_weights of the parsed label), used to order networks by size."""
    return n_weights(tuple(int(d) for d in str(label).split("x") if d.isdigit()))


def widths_order(labels: Iterable[str]) -> list[str]:
    """Widths labels from the smallest network to the largest."""
    return sorted(set(labels), key=lambda w: (n_weights_of(w), w))


def first_non_ok(statuses: Iterable[str]) -> str:
    """A cell is ok only if every record of it is; otherwise its first failure names it."""
    return next((s for s in statuses if s != "ok"), "ok")


def _join_unique(values: pd.Series) -> str:
    seen = [str(v) for v in dict.fromkeys(values) if isinstance(v, str) and v]
    return "; ".join(seen)


def _thermal_worst(values: pd.Series) -> str:
    hot = [str(v) for v in values if not is_nominal(v)]
    return hot[-1] if hot else next((str(v) for v in values if isinstance(v, str) and v), "")


def is_nominal(value: object) -> bool:
    """True for a thermal state that is no cause for a warning (nominal, unknown or not recorded)."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).lower() in NOMINAL_THERMAL


def chip_peak(meta: RunMeta) -> peaks.ChipPeak | None:
    """The FP32 GPU peak (published, derived or estimate) of a run's chip; None for a chip not in simplenn.system.peaks."""
    return peaks.lookup(meta.machine.get("chip"), meta.machine.get("gpu_cores"))


def require_ok(data: Results | pd.DataFrame, source: str) -> None:
    """Refuse results without a single ok measurement: nothing could be reported from them."""
    samples = as_results(data).table
    if samples.empty:
        raise UsageError(f"{source}: no cells recorded")
    regular = measured(samples)
    if not (regular["status"] == "ok").any():
        counts = regular.drop_duplicates("cell_id")["status"].value_counts()
        listing = ", ".join(f"{n} {s}" for s, n in counts.items())
        raise UsageError(f"{source}: no cell finished ok ({listing}); nothing to report")


def cell_table(data: Results | pd.DataFrame) -> pd.DataFrame:
    """One row per cell (sentinel rows excluded): step-time statistics in seconds, throughput, efficiency, status.

    Columns added to the cell keys: status, reason, n_blocks, median_step_s (≥ 2 rounds: the geometric mean of the
    round medians), q1/q3, iqr_s, iqr_rel, ci_low_s,
    ci_high_s (over round medians when the cell has ≥ 2 rounds: `ci_method`, `n_rounds`), ci_halfwidth_pct,
    precision_reached (when timing stopped) and imprecise, mad_s, min/mean/std, samples_per_s, gflop_per_s,
    ceiling_gflop_per_s, pct_of_ceiling, beyond_ceiling (above the ceiling even at the CI's slow end),
    peak_gflop_per_s and pct_of_peak (GPU cells on a known Apple chip), peak_is_estimate, peak_mem_bytes,
    trace_s, final_loss, thermal, unstable, warnings.
    """
    res = as_results(data)
    samples = measured(res.table)
    info = (
        samples.groupby(CELL_GROUP, sort=False, dropna=False)
        .agg(
            seq=("seq", "min"),
            status=("status", first_non_ok),
            reason=("reason", _join_unique),
            flops_per_step=("flops_per_step", "first"),
            ceiling_gflop_per_s=("ceiling_gflops", "first"),
            peak_mem_bytes=("peak_bytes", "max"),
            trace_s=("trace_s", "median"),
            final_loss=("final_loss", "last"),
            thermal_before=("thermal_before", _thermal_worst),
            thermal_after=("thermal_after", _thermal_worst),
            precision_reached=("precision_reached", "max"),  # the worst round's
            imprecise=("imprecise", "any"),
        )
        .reset_index()
    )
    ok = only_ok(samples, "step_s")
    stats = with_round_cis(ok, summarize(ok, CELL_GROUP), CELL_GROUP)
    out = info.merge(stats, on=CELL_GROUP, how="left")
    out["n_blocks"] = out["n_blocks"].fillna(0).astype(int)
    out["samples_per_s"] = out["batch_size"] / out["median_step_s"]
    out["gflop_per_s"] = out["flops_per_step"] / out["median_step_s"] / 1e9
    out["pct_of_ceiling"] = 100 * out["gflop_per_s"] / out["ceiling_gflop_per_s"]
    out["ci_halfwidth_pct"] = 100 * (out["ci_high_s"] - out["ci_low_s"]) / 2 / out["median_step_s"]
    # Above the measured ceiling even at the slow end of its CI: the ceiling is no ceiling for this cell.
    out["beyond_ceiling"] = (out["flops_per_step"] / out["ci_high_s"] / 1e9 > out["ceiling_gflop_per_s"]).fillna(False)
    out["imprecise"] = out["imprecise"].astype("boolean").fillna(False).astype(bool)
    out = _add_chip_peak(out, res.runs)
    out["unstable"] = out["unstable"].astype("boolean").fillna(False).astype(bool)
    out["warnings"] = [_cell_warnings(r) for r in out.itertuples(index=False)]
    return _sorted_cells(out)


def _add_chip_peak(cells: pd.DataFrame, runs: Mapping[str, RunMeta]) -> pd.DataFrame:
    # Only GPU cells: a chip's peak figure is its GPU's, and a CPU cell on the same chip would look absurd.
    per_run = {run: chip_peak(meta) for run, meta in runs.items()}
    peak = cells["run"].map(lambda r: per_run.get(r))
    is_gpu = cells["device_kind"] == "gpu"
    cells["peak_gflop_per_s"] = [p.fp32_gflops if p and g else math.nan for p, g in zip(peak, is_gpu)]
    cells["peak_is_estimate"] = [p.is_estimate if p and g else False for p, g in zip(peak, is_gpu)]
    cells["pct_of_peak"] = 100 * cells["gflop_per_s"] / cells["peak_gflop_per_s"]
    return cells


def _cell_warnings(row) -> str:
    notes = []
    if row.unstable:
        notes.append(f"unstable: IQR {100 * row.iqr_rel:.1f} % of median (> {100 * UNSTABLE_IQR_REL:.0f} %)")
    if row.imprecise:
        reached = f"±{100 * row.precision_reached:.1f} %" if row.precision_reached == row.precision_reached else "unknown"
        notes.append(f"imprecise: stopped at --max-time with the median's CI at {reached} (short of --precision)")
    if row.beyond_ceiling:
        notes.append(f"above the ceiling: {row.pct_of_ceiling:.0f} % of the measured matmul ceiling even at the slow "
                     "end of its CI")
    elif row.pct_of_ceiling > 100:
        notes.append(f"above the ceiling: {row.pct_of_ceiling:.0f} % of the measured matmul ceiling at the median "
                     "(its CI reaches below 100 %)")
    for when, value in (("before", row.thermal_before), ("after", row.thermal_after)):
        if not is_nominal(value):
            notes.append(f"thermal {when}: {value}")
    if row.status != "ok" and row.n_blocks > 0:
        notes.append("ok in some rounds only")
    return "; ".join(notes)


def _sorted_cells(cells: pd.DataFrame) -> pd.DataFrame:
    order = cells.assign(_w=cells["widths"].map(n_weights_of))
    order = order.sort_values([*CONFIGURATION, "_w", "device", "batch_size"])
    return order.drop(columns="_w").reset_index(drop=True)


def host_overhead_table(data: Results | pd.DataFrame, cells: pd.DataFrame | None = None) -> pd.DataFrame:
    """Where both modes were measured ok: per-call − in-graph median per step = the host's dispatch cost.

    `host_share_pct` is that difference as a share of the per-call step. Empty when no configuration has both.
    `cells` (cell_table(data)) may be passed when already computed.
    """
    cells = cell_table(data) if cells is None else cells
    ok = only_ok(cells, "median_step_s")
    wide = ok.pivot_table(index=ACROSS_MODES, columns="mode", values="median_step_s", aggfunc="first")
    if not {"per-call", "in-graph"} <= set(wide.columns):
        return pd.DataFrame(columns=HOST_COLUMNS)
    wide = wide.dropna(subset=["per-call", "in-graph"]).reset_index()
    wide = wide.rename(columns={"per-call": "per_call_step_s", "in-graph": "in_graph_step_s"})
    wide["host_overhead_s"] = wide["per_call_step_s"] - wide["in_graph_step_s"]
    wide["host_share_pct"] = 100 * wide["host_overhead_s"] / wide["per_call_step_s"]
    return wide[HOST_COLUMNS].reset_index(drop=True)
