"""The report's two "where the time goes" sections, in Markdown: host dispatch vs device work (per-call − in-graph),
and, for profiled cells, inside the step op class by op class, with matmul-only next to whole-step efficiency."""
from __future__ import annotations

import pandas as pd

from simplenn.analyse.report.analysis import Analysis
from simplenn.analyse.report.inside_step import (CLASS_NOTE, FORMULA_NOTE, GROUP_LABELS, GROUPS, TRACE_AGREEMENT,
                                                 sentence, witness_notes)
from simplenn.analyse.report.tables_md import host_for_display, section_table
from simplenn.core.dimensions import CONFIGURATION
from simplenn.core.units import TimeUnit

# Said once above a table when they hold one value in every row.
CONSTANT_KEYS = [*CONFIGURATION, "device", "widths"]


def inside_for_display(inside: pd.DataFrame, unit: TimeUnit) -> pd.DataFrame:
    """One row per profiled cell: group shares (%), the witness, and matmul-only vs whole-step efficiency."""
    return pd.DataFrame({
        "machine": inside["machine"], "run": inside["run"], "device": inside["device"], "impl": inside["impl"],
        "widths": inside["widths"], "batch_size": inside["batch_size"], "mode": inside["mode"],
        **{f"{group}_pct": 100 * inside[f"share:{group}"] for group in GROUPS},
        f"traced_{unit.name}": unit.of(inside["traced_step_s"]), f"harness_{unit.name}": unit.of(inside["harness_step_s"]),
        "unattributed_pct": 100 * inside["unattributed_share"],
        "matmul_flops_traced_pct": 100 * inside["matmul_flops_traced_share"],
        "matmul_gflop_per_s": inside["matmul_gflops"], "matmul_pct_of_ceiling": inside["matmul_pct_ceiling"],
        "step_gflop_per_s": inside["step_gflops"], "step_pct_of_ceiling": inside["step_pct_ceiling"],
    })


INSIDE_TEXT = (
    "Each profiled cell was timed by the harness and then traced for a fixed number of steps under the profiler "
    "(`run --profile`); the trace's events are sorted into op classes and the traced window is cut wherever an event "
    "starts or ends: a slice goes to the kernels running in it (split evenly when several run), else to the executor, "
    "else to the host, else it is idle, so the classes add up to the traced step. The oneDNN kernel that fuses a "
    "matmul with its bias add and ReLU counts as matmul. Profiled cells never enter the tables above: the profiler "
    "slows the step. Witness: `unattributed_pct` = (harness − traced) / harness step for the same cell; beyond "
    f"±{100 * TRACE_AGREEMENT:.0f} % the trace does not stand for the benchmark's step (negative: the profiler's "
    "own cost). Raw traces are in each run folder's `traces/` (TensorBoard's profile plugin, or Perfetto; see "
    "docs/profiling.md)."
)


def where_sections(analysis: Analysis) -> list[str]:
    """'## Where the time goes' (host dispatch, when both modes ran) and '… inside the step' (when cells were
    profiled)."""
    parts, unit = [], analysis.step_unit
    if not analysis.host.empty:
        parts += ["## Where the time goes",
                  "Host overhead = per-call median − in-graph median per step: what dispatching one step from "
                  "Python costs on top of the device work.",
                  section_table(host_for_display(analysis.host, unit), CONSTANT_KEYS)]
    inside = analysis.inside
    if inside.empty:
        return parts
    sentences = [f"- {sentence(row)}" for _, row in inside.iterrows()]
    notes = [f"- {n}" for n in witness_notes(inside)]
    parts += ["## Where the time goes inside the step", INSIDE_TEXT, "\n".join(sentences),
              section_table(inside_for_display(inside, unit), CONSTANT_KEYS),
              f"{FORMULA_NOTE} Matmul-only efficiency is what the matmul kernels reach while they run; whole-step "
              "efficiency is what the step reaches: the gap between them is the time outside the matmuls.",
              f"Classes: {CLASS_NOTE}. Groups in the table (`<group>_pct`, of the traced step): " + "; ".join(
                  f"{g} ({GROUP_LABELS[g]}) = {', '.join(m)}" for g, m in GROUPS.items()) + "."]
    if notes:
        parts += ["Witness warnings:", "\n".join(notes)]
    return parts
