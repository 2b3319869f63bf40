"""Compare two runs cell by cell: new / base step time with a CI, and which cells regressed.

The decision rule is `simplenn.analyse.gate.Gate` (one named rule, documented there; checked on a simulated machine
and on same-code pairs of real runs: docs/statistics.md). With one round a side there is no variance between runs
to test against: those cells get no verdict (exit status NO_VERDICT_EXIT from the command) unless --sigma supplies
one.

Which cells the verdict covers (coverage, lost cells, the same run refused) is simplenn.analyse.coverage's job.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simplenn.analyse.coverage import (cell_status, check_min_coverage, refuse_same_run, require_coverage,
                                       status_line)
from simplenn.analyse.display import markdown_table, split_constant
from simplenn.core.dimensions import MATCH
from simplenn.core.errors import FieldError
from simplenn.analyse.report.tables import measured, only_ok, require_ok
from simplenn.store.completeness import partial_runs
from simplenn.store.results import Results
from simplenn.analyse.gate import IMPROVEMENT, NO_VERDICT, REGRESSION, SAME, Gate  # noqa: F401 — re-exported
from simplenn.analyse.intervals import (WITHIN_PROCESS, cell_estimate, padded_logs, ratio_ci, ratio_ci_label,
                                        reproducibility, reproducibility_label, round_medians)
from simplenn.core.units import time_unit

TABLE_COLUMNS = ["base_median_s", "new_median_s", "base_ci_low_s", "base_ci_high_s", "new_ci_low_s", "new_ci_high_s",
                 "n_rounds_base", "n_rounds_new", "ratio", "ci_low", "ci_high", "p_adj", "verdict"]
# Keys a reproducibility σ̂ is given per group of, when they vary between the matched cells.
SIGMA_GROUP_KEYS = ["device", "impl", "mode"]
DEFAULT_MIN_COVERAGE_PCT = 50.0
LOST_EXIT = 3  # the command's exit status when a base cell that was ok is not ok in new (1: a regression)
NO_VERDICT_EXIT = 4  # … when cells got no verdict (one round a side, no --sigma) and nothing else failed


@dataclass(frozen=True)
class Comparison:
    """Result of compare(): per matched cell new/base ratio (> 1: new is slower) with CI and verdict."""

    table: pd.DataFrame
    threshold_pct: float
    base_label: str
    new_label: str
    cross_machine: bool
    only_in_base: tuple[str, ...] = ()
    only_in_new: tuple[str, ...] = ()
    not_ok: tuple[str, ...] = ()  # cells present on both sides, not ok in base (so not lost)
    lost: tuple[str, ...] = ()  # cells ok in base but not ok in new: a gate failure
    partial: tuple[str, ...] = ()  # one line per side that does not hold its whole plan
    rounds: int = 1  # the fewer rounds of the two sides: ≥ 2 gives every cell a verdict
    gate: Gate = Gate()

    @property
    def reproducibility(self) -> dict:
        """How far the two runs disagree over all matched cells (precision.reproducibility)."""
        groups = [k for k in SIGMA_GROUP_KEYS if k in self.table and self.table[k].nunique() > 1]
        return reproducibility(self.table, groups)
    n_base_cells: int = 0
    n_matched: int = 0  # cells of base that new also has

    @property
    def coverage_pct(self) -> float:
        """Share of base's cells that new also has, in percent."""
        return 100 * self.n_matched / self.n_base_cells if self.n_base_cells else 0.0

    @property
    def regressions(self) -> pd.DataFrame:
        return self.table[self.table["verdict"] == REGRESSION]

    @property
    def has_regression(self) -> bool:
        return not self.regressions.empty

    @property
    def unjudged(self) -> pd.DataFrame:
        """Matched ok cells without a verdict (one round a side and no --sigma)."""
        return self.table[self.table["verdict"] == NO_VERDICT]

    @property
    def has_lost(self) -> bool:
        """True when a base cell that was ok is not ok in new: the gate fails whatever the ratios say."""
        return bool(self.lost)

    @property
    def title(self) -> str:
        kind = "Cross-machine comparison" if self.cross_machine else "Comparison"
        return f"{kind}: {self.new_label} (new) vs {self.base_label} (base)"


def _identity(res: Results) -> set[tuple[str, str]]:
    """(label, chip or CPU model) of every machine in the results: equal labels on different hardware still differ."""
    ids = set()
    for run, label in res.table[["run", "machine"]].drop_duplicates().itertuples(index=False):
        ids.add((str(label), res.meta(run).chip_or_cpu))
    return ids


def _side_label(res: Results) -> str:
    parts = []
    for run, label in res.table[["run", "machine"]].drop_duplicates().itertuples(index=False):
        tf = res.meta(run).versions.get("tensorflow")
        parts.append(f"{run} on {label}" + (f", TF {tf}" if tf else ""))
    return "; ".join(parts)


def check_threshold(threshold_pct: float, field: str = "threshold_pct") -> float:
    if isinstance(threshold_pct, bool) or not (isinstance(threshold_pct, (int, float)) and math.isfinite(threshold_pct)
                                               and threshold_pct > 0):
        raise FieldError(field, f"must be a number > 0 (percent), got {threshold_pct!r}")
    return float(threshold_pct)


def check_sigma(sigma_pct: float | None) -> float | None:
    return None if sigma_pct is None else check_threshold(sigma_pct, "sigma_pct")


def _keys(cross_machine: bool) -> list[str]:
    # Within one machine the machine label is part of a cell's identity; across machines it is what differs.
    return MATCH if cross_machine else ["machine", *MATCH]


def _ratio_table(base: pd.DataFrame, new: pd.DataFrame, keys: list[str], gate: Gate, seed: int) -> pd.DataFrame:
    both = pd.concat([base.assign(_side="base"), new.assign(_side="new")], ignore_index=True)
    both = only_ok(measured(both), "step_s")
    rows, base_meds, new_meds, blocks = [], [], [], []
    for key, group in both.groupby(keys, sort=True):
        b, n = group[group["_side"] == "base"], group[group["_side"] == "new"]
        if b.empty or n.empty:
            continue
        (b_est, b_low, b_high), (n_est, n_low, n_high) = (cell_estimate(s["step_s"], s["round"]) for s in (b, n))
        rows.append({**dict(zip(keys, key)), "base_median_s": b_est, "new_median_s": n_est, "base_ci_low_s": b_low,
                     "base_ci_high_s": b_high, "new_ci_low_s": n_low, "new_ci_high_s": n_high,
                     "n_rounds_base": b["round"].nunique(), "n_rounds_new": n["round"].nunique()})
        base_meds.append(round_medians(b["step_s"], b["round"])), new_meds.append(round_medians(n["step_s"], n["round"]))
        blocks.append((b, n))
    if not rows:
        return pd.DataFrame(columns=keys + TABLE_COLUMNS)
    table = pd.DataFrame(rows)
    j = gate.judge(padded_logs(new_meds), padded_logs(base_meds))
    table["ratio"], table["ci_low"], table["ci_high"] = j.ratio, j.ci_low, j.ci_high
    table["p_adj"] = np.minimum(1.0, j.p_slower * j.m)
    table["verdict"] = j.verdict
    for i in np.flatnonzero(j.verdict == NO_VERDICT):
        # No variance between runs to judge by: show the within-process CI, labelled as such by ci_text.
        b, n = blocks[i]
        table.loc[i, ["ratio", "ci_low", "ci_high"]] = ratio_ci(n["step_s"], b["step_s"], n["round"], b["round"],
                                                                paired=False, seed=seed)
    return table[keys + TABLE_COLUMNS]


def compare(base: Results, new: Results, threshold_pct: float = 10.0,
            across_machines: bool = False, seed: int = 0,
            min_coverage_pct: float = DEFAULT_MIN_COVERAGE_PCT, sigma_pct: float | None = None) -> Comparison:
    """Match the cells of two runs and return new/base ratios with CIs, regressions, and unmatched cells.

    Runs from different machines are refused (a FieldError naming across_machines) unless `across_machines`;
    then each side must hold one machine and the result is labelled a cross-machine comparison. So is a pair
    in which fewer than `min_coverage_pct` % of base's cells (or none) have a match in new. `sigma_pct` is a
    between-run σ for cells measured in one round a side (see gate.Gate).
    """
    threshold_pct = check_threshold(threshold_pct)
    gate = Gate(threshold_pct=threshold_pct, sigma_pct=check_sigma(sigma_pct))
    min_coverage_pct = check_min_coverage(min_coverage_pct)
    refuse_same_run(base, new)
    require_ok(base, "base")
    require_ok(new, "new")
    base_ids, new_ids = _identity(base), _identity(new)
    cross = base_ids != new_ids
    if cross and not across_machines:
        names = lambda ids: ", ".join(sorted(f"{label}" + (f" ({hw})" if hw and hw != label else "") for label, hw in ids))
        raise FieldError("", f"base was measured on {names(base_ids)} but new on {names(new_ids)}; times from "
                             "different machines are not comparable cell by cell — pass {across_machines} to compare "
                             "them anyway", ("across_machines",))
    if cross and (len(base_ids) > 1 or len(new_ids) > 1):
        raise FieldError("across_machines", "compares one machine with one machine; give one run on each side")
    keys = _keys(cross)
    base_cells, new_cells = cell_status(base.table, keys), cell_status(new.table, keys)
    status = base_cells.merge(new_cells, how="outer", left_index=True, right_index=True, suffixes=("_base", "_new"))
    only_base = status[status["status_new"].isna()]
    only_new = status[status["status_base"].isna()]
    paired = status.dropna(subset=["status_base", "status_new"])
    require_coverage(base_cells, new_cells, keys, len(paired), min_coverage_pct)
    table = _ratio_table(base.table, new.table, keys, gate, seed)
    lost = paired[(paired["status_base"] == "ok") & (paired["status_new"] != "ok")]
    not_ok = paired[(paired["status_base"] != "ok")]
    rounds = min(int(only_ok(measured(r.table), "step_s")["round"].nunique()) for r in (base, new))
    return Comparison(
        table=table, threshold_pct=threshold_pct, base_label=_side_label(base), new_label=_side_label(new),
        cross_machine=cross, rounds=rounds, gate=gate,
        only_in_base=tuple(only_base["cell_id_base"]),
        only_in_new=tuple(only_new["cell_id_new"]),
        not_ok=tuple(status_line(r) for r in not_ok.itertuples()),
        lost=tuple(status_line(r) for r in lost.itertuples()),
        partial=tuple(f"{side}: {note}" for side, res in (("base", base), ("new", new)) for note in partial_runs(res)),
        n_base_cells=len(base_cells), n_matched=len(paired),
    )


def rule_text(gate: Gate) -> str:
    """The decision rule in one sentence, for the printed output."""
    return "ratio = new / base step time (> 1: new is slower); " + gate.text()


FIX_ONE_ROUND = ("measure both runs with --rounds 3 or more (the default), or pass --sigma PCT, the σ̂ that "
                 "`compare` prints for two runs of unchanged code on this machine")


def ci_text(rounds: int, gate: Gate) -> str:
    """Which CI the table shows, and what the verdict can see."""
    if rounds >= 2:
        return (f"{ratio_ci_label(rounds, paired=False)}, with each cell's variance as the test uses it; p_adj = the "
                "one-sided p of 'new is no slower' × m (Bonferroni).")
    if gate.sigma_pct is not None:
        return (f"One round a side: the test uses the supplied between-run σ {gate.sigma_pct:g} % per run (normal "
                "quantiles); the CI shown is the same.")
    return (f"One round a side: the CI shown is a bootstrap over one round's blocks, {WITHIN_PROCESS}. There is no "
            f"variance between runs to judge by, so no cell gets a verdict: {FIX_ONE_ROUND}.")


def reproducibility_text(result: Comparison) -> str:
    """The reproducibility figure: how far apart two runs of the same grid are, cell by cell."""
    return reproducibility_label(result.reproducibility, result.rounds)


def format_comparison(result: Comparison) -> str:
    """Plain-text summary: title, rule, Markdown table (times in one unit picked for it), unmatched cells, verdict."""
    t = result.table
    unit = time_unit(t["base_median_s"], t["new_median_s"])
    keys = [c for c in t.columns if c not in TABLE_COLUMNS]
    shown = pd.DataFrame({
        **{k: t[k] for k in keys},
        f"base_median_{unit.name}": unit.of(t["base_median_s"]), f"new_median_{unit.name}": unit.of(t["new_median_s"]),
        "ratio_x": t["ratio"], "ci95_low_x": t["ci_low"], "ci95_high_x": t["ci_high"], "p_adj": t["p_adj"],
        "verdict": t["verdict"],
    })
    shown, constant = split_constant(shown, ["machine", *MATCH])
    lines = [result.title, rule_text(result.gate), ci_text(result.rounds, result.gate), "",
             *([constant] if constant else []), markdown_table(shown), "", reproducibility_text(result)]
    if result.cross_machine:
        lines.insert(1, "Different machines: ratios mix hardware and software differences.")
    for note in result.partial:
        lines.insert(1, f"Partial data: {note}.")
    lines.append(f"Coverage: {result.n_matched} of base's {result.n_base_cells} cells matched in new "
                 f"({result.coverage_pct:.0f} %). Compared (ok on both sides): {len(result.table)}.")
    for what, cells in (("only in base", result.only_in_base), ("only in new", result.only_in_new),
                        ("not ok in base", result.not_ok)):
        if cells:
            lines.append(f"Cells {what}: " + ", ".join(cells))
    if result.lost:
        k = len(result.lost)
        lines.append(f"Gate failure: {k} cell{'s' if k != 1 else ''} ok in base {'are' if k != 1 else 'is'} not ok "
                     "in new: " + ", ".join(result.lost))
    n, unjudged = len(result.regressions), len(result.unjudged)
    if unjudged:
        lines.append(f"{unjudged} of {len(result.table)} cells got no verdict (one round a side): {FIX_ONE_ROUND}.")
    lines.append(f"{n} regression{'s' if n != 1 else ''} beyond {result.threshold_pct:g} %" if n else
                 "No verdict: the gate cannot pass what it could not judge." if unjudged else
                 f"No regression beyond {result.threshold_pct:g} %"
                 + (" among the cells ok on both sides; the gate fails on the lost cells above." if result.lost
                    else "."))
    return "\n".join(lines)
