"""Profiled cells on disk: one record per traced cell (in run.json's `profile`, or a profile folder's profile.json)
and the tidy table the report reads.

A profile record is the tracer's `Traced.to_record()` plus what the trace says: seconds per step of each op class
(`classes`), the traced step (`traced_step_s`), the wall time in which a matmul ran (`matmul_busy_s`), the
trace's planes, the ops no rule knew (`other_ops`), and the device's matmul ceiling when one was measured.
It never goes into samples.jsonl: a profiled step runs under the profiler, so its cells must not mix with the
benchmark's statistics (the report's ok-filter never sees them).
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from simplenn.core import files
from simplenn.core.cases import Case
from simplenn.store import opclasses, xplane
from simplenn.store.runmeta import RunMeta, as_meta

RUN_KEY = "profile"  # run.json: {"steps": …, "fresh": …, "cells": [record, …]}
PROFILE_FILE = "profile.json"  # what `simplenn-bench profile` writes into its folder (same layout)
TRACES_DIR = "traces"  # raw traces, one folder per cell; never copied by `share` (a trace holds the host name)
COLUMNS = ["run", "machine", "device", "impl", "mode", "batch_size", "widths", "cell_id", "status", "reason", "cls", "label",
           "s_per_step", "share", "traced_step_s", "harness_step_s", "matmul_busy_s", "flops_per_step", "traced_matmul_flops",
           "ceiling_gflops", "n_steps", "fresh", "trace", "device_plane"]


def summarise(traced: dict, root: Path | None = None, ceiling_gflops: float | None = None) -> dict:
    """A profile record from a `Traced.to_record()`: its trace read and attributed (paths made relative to root)."""
    record = dict(traced)
    if ceiling_gflops:
        record["ceiling_gflops"] = float(ceiling_gflops)
    if record.get("status") != "ok":
        return record
    case = Case.from_dict(record["case"])
    path = Path(record["trace_path"])
    classified, attribution = opclasses.profile_trace(path, n_layers=len(case.layer_sizes) - 1,
                                                      n_steps=record["n_steps"])
    # Beside the raw trace, the same events with their classes for Perfetto (ui.perfetto.dev): it reads no XSpace.
    perfetto = path.with_name(path.name.replace(".xplane.pb", ".trace.json"))
    files.write_text(perfetto, json.dumps(opclasses.chrome_trace(classified)))
    unknown = classified.loc[(classified["layer"] == "kernel") & (classified["cls"] == "other_op"), "name"]
    window = opclasses.traced_window(classified)
    record.update(
        classes=attribution.seconds(), traced_step_s=attribution.traced_step_s,
        traced_matmul_flops=opclasses.traced_matmul_flops(classified, attribution.n_steps, case.batch_size,
                                                          case.layer_sizes, window),
        matmul_busy_s=attribution.matmul_busy_s, flops_per_step=case.flops_per_step,
        planes=xplane.plane_names(path), other_ops=sorted(set(unknown)),
        # A GPU cell traced without a device plane (tensorflow-metal implements no profiler: docs/profiling.md)
        # shows only the host's side: its op events are launches, the GPU's own time is not in the trace.
        device_plane=any(p.startswith("/device:") and not p.startswith("/device:CPU") for p in xplane.plane_names(path)),
        trace_path=_relative(path, root), perfetto_path=_relative(perfetto, root),
    )
    return record


def _relative(path: Path, root: Path | None) -> str:
    return str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)


def table(runs: Mapping[str, RunMeta | dict]) -> pd.DataFrame:
    """The profiled cells of every run (run.json `profile`, or a profile.json): one row per run × cell × class."""
    rows = []
    for run, meta in runs.items():
        meta = as_meta(meta)
        machine = meta.label
        for rec in ((meta.get(RUN_KEY) or {}).get("cells") or []):
            case = Case.from_dict(rec["case"])
            base = {"run": run, "machine": machine, "device": case.device, "impl": case.impl, "mode": case.mode,
                    "batch_size": case.batch_size, "widths": case.widths_label, "cell_id": case.id,
                    "status": rec.get("status", "ok"), "reason": rec.get("reason", ""), "traced_step_s": rec.get("traced_step_s"),
                    "harness_step_s": rec.get("harness_step_s"), "matmul_busy_s": rec.get("matmul_busy_s"),
                    "flops_per_step": case.flops_per_step, "traced_matmul_flops": rec.get("traced_matmul_flops"),
                    "ceiling_gflops": rec.get("ceiling_gflops"),
                    "n_steps": rec.get("n_steps"), "fresh": bool(rec.get("fresh")), "trace": rec.get("trace_path"),
                    "device_plane": bool(rec.get("device_plane"))}
            classes = rec.get("classes") or {}
            traced = rec.get("traced_step_s") or 0.0
            for cls in opclasses.CLASSES if classes else [""]:
                s = classes.get(cls, math.nan)
                rows.append({**base, "cls": cls, "label": opclasses.LABELS.get(cls, ""), "s_per_step": s,
                             "share": s / traced if traced else math.nan})
    out = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("s_per_step", "share", "traced_step_s", "harness_step_s", "matmul_busy_s", "flops_per_step",
                "traced_matmul_flops", "ceiling_gflops"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    return out
