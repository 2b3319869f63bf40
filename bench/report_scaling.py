"""Time `report` on 1, 2, 4, 8 and 32 copies of the committed reference run; print the growth table (issue 18).

Not a timed test: a script. Each copy is the reference run folder under another name (so a separate run of the
same machine). Two timings per row, wall clock, one measurement each (this machine is noisy, ±40 %):
- `in-process`: `simplenn.analyse.report.write_report(...)` called in this Python, after the imports: the report's own cost.
- `CLI`: `python -m simplenn.cli report DIR... --out OUT` in a fresh process, start-up (Python, pandas,
  matplotlib) included; `--cli "CMD"` times another command instead (e.g. an older checkout's simplenn-bench).

    PYTHONPATH=. python bench/report_scaling.py [--counts 1,2,4,8,32] [--no-cli] [--cli "simplenn-bench"]
"""
from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REFERENCE_RUN = Path(__file__).resolve().parents[1] / "results/machines/linux-x86_64-2cpu-2026-11-27"


def copies(root: Path, n: int) -> list[Path]:
    """n copies of the reference run folder under root (made once, reused by the smaller counts)."""
    out = []
    for i in range(n):
        target = root / f"{REFERENCE_RUN.name}-copy{i:02d}"
        if not target.exists():
            shutil.copytree(REFERENCE_RUN, target)
        out.append(target)
    return out


def time_in_process(runs: list[Path], out: Path) -> float:
    """Seconds of one write_report over `runs` into `out`, imports excluded."""
    from simplenn.analyse.report import write_report

    start = time.perf_counter()
    write_report(runs, out)
    return time.perf_counter() - start


def time_cli(command: list[str], runs: list[Path], out: Path) -> float:
    """Seconds of one `COMMAND report RUNS --out OUT` in a fresh process, start-up included."""
    start = time.perf_counter()
    subprocess.run([*command, "report", *map(str, runs), "--out", str(out)], check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,2,4,8,32", help="numbers of run copies (default 1,2,4,8,32)")
    parser.add_argument("--cli", default=f"{shlex.quote(sys.executable)} -m simplenn.cli",
                        help="command whose `report` subcommand is timed in a fresh process")
    parser.add_argument("--no-cli", action="store_true", help="time in-process only")
    parser.add_argument("--no-in-process", action="store_true", help="time the CLI only (e.g. for an older checkout)")
    args = parser.parse_args(argv)
    try:
        counts = [int(c) for c in args.counts.split(",")]
        if not counts or min(counts) < 1:
            raise ValueError
    except ValueError:
        parser.error(f"--counts: expected comma-separated positive integers, got {args.counts!r}")
    if not args.no_in_process:
        import simplenn.analyse.report  # noqa: F401 — imports out of the in-process timings

    rows = []
    with tempfile.TemporaryDirectory(prefix="report-scaling-") as tmp:
        root = Path(tmp)
        for n in counts:
            runs = copies(root, n)
            inproc = float("nan") if args.no_in_process else time_in_process(runs, root / f"out-{n}-py")
            cli = float("nan") if args.no_cli else time_cli(shlex.split(args.cli), runs, root / f"out-{n}-cli")
            rows.append((n, inproc, cli))
            print(f"  {n} run(s): in-process {inproc:.2f} s, CLI {cli:.2f} s", file=sys.stderr, flush=True)
    base_in, base_cli = rows[0][1], rows[0][2]
    print(f"report over n copies of {REFERENCE_RUN.name} (36 cells, 960 blocks each); wall-clock seconds, one "
          "measurement each; growth = time / time of the first row")
    print("| runs | in-process (s) | growth | CLI incl. start-up (s) | growth |")
    print("|---:|---:|---:|---:|---:|")
    for n, inproc, cli in rows:
        print(f"| {n} | {inproc:.2f} | {inproc / base_in:.1f}× | {cli:.2f} | {cli / base_cli:.1f}× |")
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
