"""The Frameworks section of the report and the parity texts (devices, implementations), in Markdown, from an Analysis."""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from simplenn.system.compat import PACKAGES as TF_PACKAGES
from simplenn.measure.runners import PACKAGES
from simplenn.analyse.display import fmt
from simplenn.analyse.report.tables_md import section_table
from simplenn.core.dimensions import ACROSS_IMPLS, RUN_KEYS, columns
from simplenn.analyse.report.analysis import Analysis
from simplenn.analyse.report.frameworks import BASELINE_LABEL, PARITY_COLUMNS
from simplenn.store.runmeta import RunMeta
from simplenn.core.units import TimeUnit

# Columns said once above a table when they hold one value in every row: where the cell (or the parity check) ran,
# then the dimensions the implementations share.
_WHERE = ("device", "widths", "batch_size")
CONSTANT_KEYS = [*RUN_KEYS, *_WHERE, "n_steps", *columns(without=("impl", "mode", *_WHERE), runs=False)]


def versions_text(runs: Mapping[str, RunMeta]) -> str:
    """Per run, the versions of the frameworks compared (TensorFlow, keras and the peers), as recorded in run.json."""
    lines = []
    for run, meta in runs.items():
        versions = meta.machine.get("versions") or {}
        names = PACKAGES
        if not any(p in versions for p in PACKAGES if p not in TF_PACKAGES):
            lines.append(f"- `{run}`: peer versions not recorded (a run from before they were)")
            continue
        have = [f"{n} {versions[n]}" for n in names if versions.get(n)]
        absent = [n for n in names if n in versions and not versions[n]]
        lines.append(f"- `{run}`: {', '.join(have)}" + (f"; not installed: {', '.join(absent)}" if absent else ""))
    return "\n".join(lines)


def _reasons(table: pd.DataFrame) -> list[str]:
    # A reason only where it explains something: an ok row's is empty.
    return [r if s != "ok" else "" for s, r in zip(table["status"], table["reason"])]


def _range(low: pd.Series, high: pd.Series) -> list[str]:
    return [f"{fmt(lo)}–{fmt(hi)}" if not pd.isna(lo) else "–" for lo, hi in zip(low, high)]


def frameworks_for_display(table: pd.DataFrame, unit: TimeUnit) -> pd.DataFrame:
    """The frameworks table in display units: step times in `unit` with their CI, speedups in × with theirs."""
    return pd.DataFrame({
        **{k: table[k] for k in ACROSS_IMPLS}, "impl": table["impl"], "mode": table["mode"],
        "status": table["status"], "n_rounds": table["n_rounds"],
        f"median_{unit.name}": unit.of(table["median_step_s"]),
        f"ci95_{unit.name}": _range(unit.of(table["ci_low_s"]), unit.of(table["ci_high_s"])),
        "speedup_x": table["speedup"], "ci95_x": _range(table["speedup_ci_low"], table["speedup_ci_high"]),
        "vs_baseline": table["vs_baseline"],
        "reason": _reasons(table),
    })


def winners_for_display(winners: pd.DataFrame, unit: TimeUnit) -> pd.DataFrame:
    """The fastest implementation per cell, its runner-up and the margin between them (×, with its CI)."""
    return pd.DataFrame({
        **{k: winners[k] for k in ACROSS_IMPLS}, "winner": winners["winner"],
        f"fastest_{unit.name}": unit.of(winners["fastest_median_s"]), "runner_up": winners["runner_up"],
        f"runner_up_{unit.name}": unit.of(winners["runner_up_median_s"]), "margin_x": winners["margin"],
        "ci95_x": _range(winners["margin_ci_low"], winners["margin_ci_high"]),
    })


FRAMEWORKS_TEXT = (
    "Every implementation runs the same step from the same initial weights, on the same batch, with the same loss, "
    "plain SGD and learning rate (the implementation parity under Parity checks it). Speedup = "
    f"{BASELINE_LABEL} / the implementation's step time (> 1: faster than {BASELINE_LABEL}), with a 95 % CI: a "
    "paired t on the per-round log ratios when the run has ≥ 2 rounds (a bootstrap over one round's blocks, "
    "within-process, otherwise); `vs_baseline` says faster or slower only when the CI excludes 1. A cell's fastest implementation "
    "is named only when the CI of runner-up / fastest lies above 1; otherwise there is no clear winner."
)


def frameworks_section(analysis: Analysis) -> list[str]:
    """'## Frameworks': the fastest per cell, then every implementation and mode against TF scratch per-call."""
    fw, unit = analysis.frameworks, analysis.step_unit
    if fw.empty:
        return []
    versions = versions_text(analysis.runs)
    parts = ["## Frameworks: which implementation is fastest?", FRAMEWORKS_TEXT,
             *(["Versions compared:", versions] if versions else []), *([fw.note] if fw.note else [])]
    return parts + ["### Fastest per device and batch size", section_table(winners_for_display(fw.winners, unit), CONSTANT_KEYS),
                    f"### Every implementation and mode against {BASELINE_LABEL}",
                    section_table(frameworks_for_display(fw.table, unit), CONSTANT_KEYS)]


def impl_parity_text(table: pd.DataFrame) -> list[str]:
    """'### Implementation parity': each implementation and mode against scratch per-call, as the runs recorded it."""
    if table.empty:
        return []
    shown = table[PARITY_COLUMNS].assign(reason=_reasons(table))
    return ["### Implementation parity",
            "At the end of a run with more than one implementation, each implementation and mode ran the same "
            "n_steps seeded steps on the run's first device, from the scratch network's initial weights; its loss "
            "and every weight must match scratch per-call within |a − b| ≤ atol + rtol × |b| (rtol and atol per "
            "dtype). `mismatch` means a different computation, not noise; `unsupported` says why it did not run.",
            section_table(shown, CONSTANT_KEYS)]


def parity_section(runs: Mapping[str, RunMeta]) -> str:
    """CPU ↔ GPU (any two devices) parity of each run: the same seeded steps compared within a tolerance."""
    lines = []
    for run, meta in runs.items():
        parity = meta.device_parity
        if parity is not None:
            verdict = "agree" if parity.get("ok") else "**MISMATCH**"
            lines.append(f"- `{run}`: devices {verdict}: {parity.get('message', '')}")
    return "\n".join(lines)
