"""`simplenn-bench report RUN_DIR... [--out DIR]`: report.md, summary.csv and charts from one or more runs."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from simplenn.core.errors import UsageError

FIELD_FLAGS = {"out_dir": "--out"}  # fields named below the CLI -> this command's flags


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="tables and charts (report.md, summary.csv, *.png) from run folders")
    p.add_argument("runs", nargs="*", metavar="RUN_DIR", help="run folders written by `simplenn-bench run`; "
                   "several (e.g. results/machines/*/) are put side by side on the cells they all share, and "
                   "refused (exit 2) when made with different preset versions")
    p.add_argument("--out", metavar="DIR", help="where to write the report (default: the first run folder)")
    p.add_argument("--from-pytest-benchmark", metavar="FILE.json", dest="pytest_json", action="append", default=[],
                   help="also read a pytest-benchmark JSON file (from `pytest bench/ --benchmark-json FILE`); "
                        "repeat it for several")
    p.set_defaults(func=run)


def load_pytest_benchmark(path: str):
    """The Results (table and run metadata) of a pytest-benchmark JSON file, through simplenn.store.pytest_json."""
    if importlib.util.find_spec("simplenn.store.pytest_json") is None:
        raise UsageError("--from-pytest-benchmark: not available in this version (simplenn.store.pytest_json is missing)")
    if not Path(path).is_file():
        raise UsageError(f"--from-pytest-benchmark: {path}: no such file")
    return importlib.import_module("simplenn.store.pytest_json").load(path)


def default_out(args) -> Path:
    if args.out:
        return Path(args.out)
    if args.runs:
        return Path(args.runs[0])
    return Path(args.pytest_json[0]).with_suffix("")  # bench.json -> bench/ beside it


def run(args) -> int:
    from simplenn.analyse.report import write_report

    if not args.runs and not args.pytest_json:
        raise UsageError("give at least one run folder (RUN_DIR), or --from-pytest-benchmark FILE.json")
    sources = list(args.runs)
    sources += [load_pytest_benchmark(path) for path in args.pytest_json]  # every file given, never only the last
    files = write_report(sources, default_out(args))
    print(f"report   {files.report_md}")
    print(f"summary  {files.summary_csv}")
    for name, path in files.charts.items():
        print(f"chart    {path}")
    for note in files.partial:
        print(f"warning: {note}", file=sys.stderr)
    return 0
