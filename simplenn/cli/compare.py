"""`simplenn-bench compare BASE NEW`: per-cell new/base ratios with CIs and the gate's verdict.

Exit status: 0 no regression; 1 a regression; 2 bad input or a comparison that cannot be made (the same run twice
included); 3 a cell that was ok in base is not ok in new (crashed, oom, timeout, …); 4 no verdict for some cells
(one round a side and no --sigma): the output names the command that fixes it.
"""
from __future__ import annotations

from simplenn.core import validate
from simplenn.cli import _args

# Fields named below the CLI (FieldError) -> this command's flags.
FIELD_FLAGS = {"threshold_pct": "--threshold", "sigma_pct": "--sigma", "min_coverage_pct": "--min-coverage",
               "across_machines": "--across-machines"}


def add_parser(sub) -> None:
    p = sub.add_parser("compare", help="compare two runs cell by cell; exit status 1 on a regression, 3 when a cell "
                                      "ok in base is not ok in new, 4 without a verdict (one round a side)")
    p.add_argument("base", metavar="BASE", help="run folder of the reference run")
    p.add_argument("new", metavar="NEW", help="run folder of the run to check")
    p.add_argument("--threshold", type=_args.positive_float, default=10.0, metavar="PCT",
                   help="slowdown in percent that counts as a regression when it is also significant (default 10)")
    p.add_argument("--sigma", type=_args.positive_float, default=None, metavar="PCT",
                   help="between-run σ of one run's estimate of a cell, in percent (the σ̂ compare prints for two "
                        "runs of unchanged code): lets cells measured in one round a side get a verdict")
    p.add_argument("--across-machines", action="store_true",
                   help="allow runs from different machines (the output is labelled a cross-machine comparison)")
    p.add_argument("--min-coverage", type=_args.percentage, default=50.0, metavar="PCT",
                   help="exit 2 unless at least PCT %% of the base's cells have a match in new (default 50; "
                        "no match at all always exits 2)")
    p.add_argument("--seed", type=validate.flag(validate.seed), default=0, help="bootstrap seed, an integer ≥ 0 (default 0)")
    p.set_defaults(func=run)


def run(args) -> int:
    from simplenn.analyse.compare import LOST_EXIT, NO_VERDICT_EXIT, compare, format_comparison
    from simplenn.store.several import load_distinct

    base, new = load_distinct([args.base, args.new])  # the same run twice refused; d1/run, d2/run told apart
    result = compare(base, new, threshold_pct=args.threshold, across_machines=args.across_machines, seed=args.seed,
                     min_coverage_pct=args.min_coverage, sigma_pct=args.sigma)
    print(format_comparison(result))
    if result.has_lost:
        return LOST_EXIT
    if result.has_regression:
        return 1
    return NO_VERDICT_EXIT if not result.unjudged.empty else 0
