"""The report's tables in display units (step times in the report's unit, ratios in ×, MiB), and a table with its
constant key columns said once above it; read by the Markdown."""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from simplenn.analyse.display import fmt, markdown_table, split_constant
from simplenn.core.dimensions import ACROSS_DEVICES, ACROSS_MODES, CONFIGURATION, ONE_CURVE
from simplenn.core.units import TimeUnit, time_unit

MiB = 2**20


def cells_for_display(cells: pd.DataFrame, unit: TimeUnit) -> pd.DataFrame:
    """The per-cell table in display units: step times in `unit`, samples/s, GFLOP/s, %, MiB."""
    ci = [f"{fmt(lo)}–{fmt(hi)}" if not pd.isna(lo) else "–"
          for lo, hi in zip(unit.of(cells["ci_low_s"]), unit.of(cells["ci_high_s"]))]
    return pd.DataFrame({
        **{k: cells[k] for k in CONFIGURATION},
        "device": cells["device"], "widths": cells["widths"], "batch_size": cells["batch_size"],
        "status": cells["status"], "n_blocks": cells["n_blocks"],
        f"median_{unit.name}": unit.of(cells["median_step_s"]), f"iqr_{unit.name}": unit.of(cells["iqr_s"]),
        f"ci95_{unit.name}": ci, "precision_pm_pct": 100 * cells["precision_reached"],
        "imprecise": cells["imprecise"].map({True: "yes", False: ""}),
        "samples_per_s": cells["samples_per_s"], "gflop_per_s": cells["gflop_per_s"],
        "pct_of_ceiling": cells["pct_of_ceiling"], "pct_of_peak": cells["pct_of_peak"],
        "peak_mem_mib": cells["peak_mem_bytes"] / MiB, "warnings": cells["warnings"],
    })


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
