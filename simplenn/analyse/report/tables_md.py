"""The report's tables in display units (step times in the report's unit, ratios in ×) with each cell's status in a
few words, and a table with its constant key columns said once above it; read by the Markdown."""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from simplenn.analyse.display import fmt, markdown_table, split_constant
from simplenn.analyse.report.tables import is_nominal
from simplenn.core.dimensions import ACROSS_DEVICES, ACROSS_MODES, CONFIGURATION, ONE_CURVE
from simplenn.core.units import TimeUnit, time_unit


def cell_status(row) -> str:
    """A cell's status in a few words: ok or its failure, and the flags a reader should see beside its numbers
    (unstable, imprecise, above the ceiling, hot); the full text of each is under Warnings."""
    words = [row.status if row.status == "ok" else f"**{row.status}**"]
    if row.status != "ok" and row.n_blocks > 0:
        words.append("ok in some rounds only")
    if row.unstable:
        words.append(f"unstable (IQR {100 * row.iqr_rel:.1f} %)")
    if row.imprecise:
        reached = row.precision_reached
        words.append(f"imprecise (±{100 * reached:.1f} %)" if reached == reached else "imprecise")
    if row.beyond_ceiling or row.pct_of_ceiling > 100:
        words.append("above the ceiling")
    hot = [str(v) for v in (row.thermal_before, row.thermal_after) if not is_nominal(v)]
    if hot:
        words.append(f"thermal {hot[-1]}")
    return ", ".join(words)


def cells_for_display(cells: pd.DataFrame, unit: TimeUnit) -> pd.DataFrame:
    """The per-cell table a reader needs, in display units: cell, device, batch, median step with its 95 % CI,
    samples/s, GFLOP/s, % of ceiling (and % of GPU peak when a cell has one), status. summary.csv has the rest."""
    median = [f"{fmt(m)} ({fmt(lo)}–{fmt(hi)})" if not pd.isna(lo) else fmt(m)
              for m, lo, hi in zip(unit.of(cells["median_step_s"]), unit.of(cells["ci_low_s"]),
                                   unit.of(cells["ci_high_s"]))]
    shown = pd.DataFrame({
        "machine": cells["machine"], "run": cells["run"], "cell": [f"`{c}`" for c in cells["cell_id"]],
        "device": cells["device"], "batch": cells["batch_size"], f"median step ({unit.name}, 95 % CI)": median,
        "samples/s": cells["samples_per_s"], "GFLOP/s": cells["gflop_per_s"], "% of ceiling": cells["pct_of_ceiling"],
        "% of GPU peak": cells["pct_of_peak"],
        "status": [cell_status(r) for r in cells.itertuples(index=False)],
    })
    return shown if cells["pct_of_peak"].notna().any() else shown.drop(columns="% of GPU peak")


def speedup_for_display(table: pd.DataFrame, base: str, other: str, unit: TimeUnit) -> pd.DataFrame:
    """The speedup table in display units: both medians in `unit`, ratios in ×."""
    return pd.DataFrame({
        **{k: table[k] for k in ACROSS_DEVICES},
        f"{base}_median_{unit.name}": unit.of(table["base_median_s"]),
        f"{other}_median_{unit.name}": unit.of(table["other_median_s"]),
        "speedup_x": table["speedup"], "ci95_low_x": table["speedup_ci_low"], "ci95_high_x": table["speedup_ci_high"],
        "faster": table["faster"],
    })


def crossover_for_display(table: pd.DataFrame, unit: TimeUnit) -> pd.DataFrame:
    """The crossover table in display units: overheads in `unit`, per-sample costs in a unit of their own."""
    per_sample = time_unit(table["base_cost_s_per_sample"], table["other_cost_s_per_sample"])
    return pd.DataFrame({
        **{k: table[k] for k in ONE_CURVE},
        "answer": table["answer"], "crossover_batch": table["crossover_batch"],
        "fit_crossover_batch": table["fit_crossover_batch"].round(0),
        f"base_overhead_{unit.name}": unit.of(table["base_overhead_s"]),
        f"base_cost_{per_sample.name}_per_sample": per_sample.of(table["base_cost_s_per_sample"]),
        f"other_overhead_{unit.name}": unit.of(table["other_overhead_s"]),
        f"other_cost_{per_sample.name}_per_sample": per_sample.of(table["other_cost_s_per_sample"]),
    })


def host_for_display(table: pd.DataFrame, unit: TimeUnit) -> pd.DataFrame:
    """The host-overhead table with its step times in `unit`."""
    return pd.DataFrame({
        **{k: table[k] for k in ACROSS_MODES},
        f"per_call_{unit.name}": unit.of(table["per_call_step_s"]),
        f"in_graph_{unit.name}": unit.of(table["in_graph_step_s"]),
        f"host_overhead_{unit.name}": unit.of(table["host_overhead_s"]), "host_share_pct": table["host_share_pct"],
    })


def section_table(display: pd.DataFrame, constant_keys: Sequence[str] = CONFIGURATION) -> str:
    """A display table with its key columns that hold one value in every row said once above it."""
    table, constant = split_constant(display, constant_keys)
    return "\n\n".join(x for x in (constant, markdown_table(table)) if x)
