"""Compare two runs cell by cell: new / base median step time with a CI, and which cells regressed.

Decision rule (documented in the output): a cell is a **regression** when the 95 % CI of its ratio new/base lies
entirely above 1 + threshold/100, an **improvement** when it lies entirely below 1 / (1 + threshold/100);
everything else is "no significant change". With ≥ 2 rounds on both sides the CI is the hierarchical bootstrap
(rounds, then blocks), widened for the few rounds seen (precision.few_rounds_factor): two runs of unchanged code
on this machine differ by far more than one process's blocks show, and a gate that cries wolf on unchanged code
gets switched off. Measured here (same-code pairs of `run --quick`, 20 cell pairs each, load 4–9 on 2 vCPUs):
with `--rounds 2` the former rule (ratio > 1 + threshold and a block-bootstrap CI above 1) flagged 11 cells, the
same rule with the hierarchical CI 5, the CI-outside-the-band rule with the hierarchical CI 4, this rule 0; with
`--rounds 3`: 12, 7, 5 and 0. With one round a side the CI holds no run-to-run variation and the output says so.

Which cells the verdict covers (coverage, lost cells, the same run refused) is simplenn.analyse.coverage's job.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from simplenn.analyse.coverage import (cell_status, check_min_coverage, refuse_same_run, require_coverage,
                                       status_line)
from simplenn.analyse.display import markdown_table, split_constant
from simplenn.core.errors import FieldError
from simplenn.analyse.report.tables import measured, only_ok, require_ok
from simplenn.store.completeness import partial_runs
from simplenn.store.results import Results, machine_of, machine_versions
from simplenn.analyse.intervals import few_rounds_factor, median_ci_of, ratio_ci, ratio_ci_label, reproducibility, widen
from simplenn.core.units import time_unit

# What makes two cells "the same measurement" in two runs; the run and its timing details do not.
MATCH_KEYS = ["device", "impl", "mode", "loss", "dtype", "jit", "widths", "batch_size"]
TABLE_COLUMNS = ["base_median_s", "new_median_s", "base_ci_low_s", "base_ci_high_s", "new_ci_low_s", "new_ci_high_s",
                 "ratio", "ci_low", "ci_high", "verdict"]
REGRESSION, IMPROVEMENT, SAME = "regression", "improvement", "no significant change"
DEFAULT_MIN_COVERAGE_PCT = 50.0
LOST_EXIT = 3  # the command's exit status when a base cell that was ok is not ok in new (1: a regression)


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
    rounds: int = 1  # the fewer rounds of the two sides: ≥ 2 makes every CI hierarchical

    @property
    def reproducibility(self) -> dict[str, float]:
        """How far the two runs disagree over all matched cells (precision.reproducibility)."""
        return reproducibility(self.table)
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
        m = machine_of(res.runs, run)
        ids.add((str(label), str(m.get("chip") or m.get("cpu_model") or "")))
    return ids


def _side_label(res: Results) -> str:
    parts = []
    for run, label in res.table[["run", "machine"]].drop_duplicates().itertuples(index=False):
        tf = machine_versions(machine_of(res.runs, run)).get("tensorflow")
        parts.append(f"{run} on {label}" + (f", TF {tf}" if tf else ""))
    return "; ".join(parts)


def check_threshold(threshold_pct: float) -> float:
    if isinstance(threshold_pct, bool) or not (isinstance(threshold_pct, (int, float)) and math.isfinite(threshold_pct)
                                               and threshold_pct > 0):
        raise FieldError("threshold_pct", f"must be a number > 0 (percent), got {threshold_pct!r}")
    return float(threshold_pct)


def _keys(cross_machine: bool) -> list[str]:
    # Within one machine the machine label is part of a cell's identity; across machines it is what differs.
    return MATCH_KEYS if cross_machine else ["machine", *MATCH_KEYS]


def _ratio_table(base: pd.DataFrame, new: pd.DataFrame, keys: list[str], threshold_pct: float,
                 seed: int) -> pd.DataFrame:
    both = pd.concat([base.assign(_side="base"), new.assign(_side="new")], ignore_index=True)
    both = only_ok(measured(both), "step_s")
    limit = 1 + threshold_pct / 100

    def one(group: pd.DataFrame) -> pd.Series:
        b, n = group[group["_side"] == "base"], group[group["_side"] == "new"]
        if b.empty or n.empty:
            return pd.Series({c: math.nan for c in TABLE_COLUMNS[:-1]})
        # Two runs are independent: their rounds are not paired. median(new) / median(base).
        ratio, low, high = ratio_ci(n["step_s"], b["step_s"], n["round"], b["round"], paired=False, seed=seed)
        low, high = widen(ratio, low, high, few_rounds_factor(min(b["round"].nunique(), n["round"].nunique())))
        (b_low, b_high), (n_low, n_high) = (median_ci_of(s["step_s"], s["round"], seed=seed) for s in (b, n))
        return pd.Series({"base_median_s": float(b["step_s"].median()), "new_median_s": float(n["step_s"].median()),
                          "base_ci_low_s": b_low, "base_ci_high_s": b_high, "new_ci_low_s": n_low,
                          "new_ci_high_s": n_high, "ratio": ratio, "ci_low": low, "ci_high": high})

    if both.empty:
        return pd.DataFrame(columns=keys + TABLE_COLUMNS)
    table = both.groupby(keys, sort=True).apply(one, include_groups=False).dropna(subset=["ratio"]).reset_index()
    table["verdict"] = [
        REGRESSION if lo > limit else IMPROVEMENT if hi < 1 / limit else SAME
        for r, lo, hi in zip(table["ratio"], table["ci_low"], table["ci_high"])
    ]
    return table[keys + TABLE_COLUMNS]


def compare(base: Results, new: Results, threshold_pct: float = 10.0,
            across_machines: bool = False, seed: int = 0,
            min_coverage_pct: float = DEFAULT_MIN_COVERAGE_PCT) -> Comparison:
    """Match the cells of two runs and return new/base ratios with CIs, regressions, and unmatched cells.

    Runs from different machines are refused (a FieldError naming across_machines) unless `across_machines`;
    then each side must hold one machine and the result is labelled a cross-machine comparison. So is a pair
    in which fewer than `min_coverage_pct` % of base's cells (or none) have a match in new.
    """
    threshold_pct = check_threshold(threshold_pct)
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
    table = _ratio_table(base.table, new.table, keys, threshold_pct, seed)
    lost = paired[(paired["status_base"] == "ok") & (paired["status_new"] != "ok")]
    not_ok = paired[(paired["status_base"] != "ok")]
    rounds = min(int(only_ok(measured(r.table), "step_s")["round"].nunique()) for r in (base, new))
    return Comparison(
        table=table, threshold_pct=threshold_pct, base_label=_side_label(base), new_label=_side_label(new),
        cross_machine=cross, rounds=rounds,
        only_in_base=tuple(only_base["cell_id_base"]),
        only_in_new=tuple(only_new["cell_id_new"]),
        not_ok=tuple(status_line(r) for r in not_ok.itertuples()),
        lost=tuple(status_line(r) for r in lost.itertuples()),
        partial=tuple(f"{side}: {note}" for side, res in (("base", base), ("new", new)) for note in partial_runs(res)),
        n_base_cells=len(base_cells), n_matched=len(paired),
    )


def rule_text(threshold_pct: float) -> str:
    """The decision rule in one sentence, for the printed output."""
    limit = 1 + threshold_pct / 100
    return (f"ratio = new / base median step time (> 1: new is slower); regression = the ratio's 95 % CI entirely "
            f"above {limit:.3g}; improvement = the CI entirely below {1 / limit:.3g}")


def ci_text(rounds: int) -> str:
    """Which CI the table shows (and the verdict reads)."""
    if rounds < 2:
        return (ratio_ci_label(rounds) + ": two runs of unchanged code can differ by more than it shows; measure "
                "both with --rounds 3 or more before trusting a verdict.")
    return (f"{ratio_ci_label(rounds)}, widened ×{few_rounds_factor(rounds):.1f} on the log scale for {rounds} rounds "
            "(t quantile with rounds − 1 degrees of freedom; more rounds, narrower CI).")


def reproducibility_text(result: Comparison) -> str:
    """The reproducibility figure: how far apart two runs of the same grid are, cell by cell."""
    r = result.reproducibility
    if not r.get("n_cells"):
        return "Reproducibility: no cell matched."
    return (f"Reproducibility over {r['n_cells']} matched cells (for two runs of the same code on the same machine, "
            f"this is how much a difference must exceed to be real here): |new/base − 1| median "
            f"{r['median_abs_pct']:.1f} %, 90th percentile {r['p90_abs_pct']:.1f} %, max {r['max_abs_pct']:.1f} % "
            f"(from |log ratio|); cells whose median CI holds the other run's median, both ways: "
            f"{100 * r['share_ci_holds_other']:.0f} %.")


def format_comparison(result: Comparison) -> str:
    """Plain-text summary: title, rule, Markdown table (times in one unit picked for it), unmatched cells, verdict."""
    t = result.table
    unit = time_unit(t["base_median_s"], t["new_median_s"])
    keys = [c for c in t.columns if c not in TABLE_COLUMNS]
    shown = pd.DataFrame({
        **{k: t[k] for k in keys},
        f"base_median_{unit.name}": unit.of(t["base_median_s"]), f"new_median_{unit.name}": unit.of(t["new_median_s"]),
        "ratio_x": t["ratio"], "ci95_low_x": t["ci_low"], "ci95_high_x": t["ci_high"], "verdict": t["verdict"],
    })
    shown, constant = split_constant(shown, ["machine", *MATCH_KEYS])
    lines = [result.title, rule_text(result.threshold_pct), ci_text(result.rounds), "",
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
    n = len(result.regressions)
    lines.append(f"{n} regression{'s' if n != 1 else ''} beyond {result.threshold_pct:g} %" if n else
                 f"No regression beyond {result.threshold_pct:g} %"
                 + (" among the cells ok on both sides; the gate fails on the lost cells above." if result.lost
                    else "."))
    return "\n".join(lines)
