"""Where the time goes inside the step: per profiled cell, the op classes' shares, and matmul-only against whole-step
efficiency. Read by the profile command's printout, the report's section and its chart.

Witness: the traced step (the classes' total) must agree with the harness's untraced step time for the same cell
within TRACE_AGREEMENT; the gap is shown as "unattributed" (negative when the profiled step was slower: the
profiler's own cost). The matmul-only GFLOP/s (the matmuls' FLOPs over the wall time in which a matmul ran) can
never exceed the device's matmul ceiling; a cell where it does is flagged, never hidden.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from simplenn.core.cases import FLOPS_FORMULA, MODES
from simplenn.store.opclasses import CLASSES, LABELS, MATMUL_CLASSES

TRACE_AGREEMENT = 0.25  # |harness − traced| / harness above this: the trace does not stand for the harness's step
# Groups of classes for the chart and the sentences, in stacking order.
GROUPS = {"matmul": MATMUL_CLASSES, "elementwise": ("elementwise_fwd", "elementwise_bwd", "loss", "update"),
          "copy_other": ("copy", "other_op"), "dispatch": ("executor", "host"), "idle": ("idle",)}
GROUP_LABELS = {"matmul": "matmuls", "elementwise": "element-wise, loss and update", "copy_other": "copies and other ops",
                "dispatch": "dispatch (executor and host)", "idle": "idle"}
SUMMARY_KEYS = ["run", "machine", "device", "impl", "mode", "batch_size", "widths", "cell_id"]


def cell_summary(prof: pd.DataFrame) -> pd.DataFrame:
    """One row per profiled cell (status ok): the group shares of the traced step, the witness, and efficiencies.

    Efficiencies use the same FLOP count (FLOPS_FORMULA) over two times: the wall time in which a matmul ran
    (matmul-only) and the harness's step (whole step), each as GFLOP/s and as % of the device's matmul ceiling.
    """
    ok = prof[(prof["status"] == "ok") & (prof["cls"] != "")]
    if ok.empty:
        return pd.DataFrame(columns=SUMMARY_KEYS)
    wide = ok.pivot_table(index=SUMMARY_KEYS, columns="cls", values="s_per_step", aggfunc="first")
    wide = wide.reindex(columns=list(CLASSES)).fillna(0.0)
    first = ok.drop_duplicates(SUMMARY_KEYS).set_index(SUMMARY_KEYS)
    out = pd.DataFrame(index=wide.index)
    traced = wide.sum(axis=1)
    for group, members in GROUPS.items():
        out[f"share:{group}"] = wide[list(members)].sum(axis=1) / traced
    out["outside_matmul_share"] = 1.0 - out["share:matmul"]
    out["traced_step_s"] = traced
    for col in ("harness_step_s", "matmul_busy_s", "flops_per_step", "traced_matmul_flops", "ceiling_gflops",
                "n_steps", "fresh", "trace", "device_plane"):
        out[col] = first[col]
    out["unattributed_share"] = (out["harness_step_s"] - traced) / out["harness_step_s"]
    out["agrees"] = out["unattributed_share"].abs() <= TRACE_AGREEMENT
    # Only the matmuls the trace shows are divided by their time (TensorFlow leaves kernels under ~3 µs untraced).
    traced_flops = out["traced_matmul_flops"].fillna(out["flops_per_step"])
    out["matmul_flops_traced_share"] = traced_flops / out["flops_per_step"]
    out["matmul_gflops"] = np.where(out["matmul_busy_s"] > 0, traced_flops / out["matmul_busy_s"] / 1e9, np.nan)
    out["step_gflops"] = out["flops_per_step"] / out["harness_step_s"] / 1e9
    out["matmul_pct_ceiling"] = 100 * out["matmul_gflops"] / out["ceiling_gflops"]
    out["step_pct_ceiling"] = 100 * out["step_gflops"] / out["ceiling_gflops"]
    out["above_ceiling"] = out["matmul_pct_ceiling"] > 100
    out = out.reset_index()
    out["mode_order"] = out["mode"].map({m: i for i, m in enumerate(MODES)})
    return out.sort_values(["run", "device", "batch_size", "mode_order"], ignore_index=True).drop(columns="mode_order")


def class_table(prof: pd.DataFrame, cell_id: str, run: str | None = None) -> pd.DataFrame:
    """One cell's classes: label, µs per step, share of the traced step (the profile command prints it)."""
    rows = prof[(prof["cell_id"] == cell_id) & (prof["cls"] != "") & ((prof["run"] == run) if run else True)]
    return rows.assign(us_per_step=rows["s_per_step"] * 1e6)[["cls", "label", "us_per_step", "share"]]


def sentence(row: pd.Series) -> str:
    """'At batch 32 on CPU:0 (per-call), 61 % of the step is outside the matmuls; …' for one summary row."""
    text = (f"At batch {row['batch_size']} on {row['device']} ({row['mode']}), "
            f"{100 * row['outside_matmul_share']:.0f} % of the step is outside the matmuls "
            f"({100 * row['share:dispatch']:.0f} % dispatch, "
            f"{100 * row['share:elementwise']:.0f} % element-wise, loss and update)")
    if np.isfinite(row.get("matmul_pct_ceiling", np.nan)):
        text += (f"; the matmuls themselves run at {row['matmul_pct_ceiling']:.0f} % of the matmul ceiling while "
                 f"the whole step reaches {row['step_pct_ceiling']:.0f} %")
    return text + "."


def witness_notes(summary: pd.DataFrame) -> list[str]:
    """Cells whose trace disagrees with the harness beyond TRACE_AGREEMENT, or whose matmuls beat the ceiling."""
    notes = []
    for row in summary.itertuples():
        if not row.agrees:
            notes.append(f"{row.cell_id} ({row.run}): the traced step differs from the harness's by "
                         f"{-100 * row.unattributed_share:+.0f} % (more than ±{100 * TRACE_AGREEMENT:.0f} %): its "
                         "shares describe the profiled step, not the benchmark's")
        if not row.device.upper().startswith("CPU") and not row.device_plane:
            notes.append(f"{row.cell_id} ({row.run}): the trace has no plane for {row.device} (its plugin implements "
                         "no profiler): the op times are the host's launches, not the device's work")
        if row.above_ceiling:
            notes.append(f"{row.cell_id} ({row.run}): matmul-only {row.matmul_gflops:.1f} GFLOP/s is above the "
                         f"ceiling {row.ceiling_gflops:.1f} GFLOP/s: the FLOP count or the ceiling is wrong")
    return notes


FORMULA_NOTE = (f"Matmul-only GFLOP/s = the FLOPs of the matmul kernels the trace shows (each from its role, layer and "
                f"the step's shapes) / the wall time in which at least one of them ran; whole-step GFLOP/s = the "
                f"step's FLOPs / the harness's step time. {FLOPS_FORMULA}.")
CLASS_NOTE = "; ".join(f"{c}: {LABELS[c]}" for c in CLASSES)
