"""What `run` prints while and after it measures: the progress bar with its ETA, the per-cell table, and the same
answer sentences report.md opens with."""
from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from simplenn.core.cases import FLOPS_FORMULA


def clock(seconds: float | None) -> str:
    """A duration for the ETA: m:ss, or h:mm:ss from an hour; '–' when there is none yet."""
    if seconds is None:
        return "–"
    hours, rest = divmod(int(round(seconds)), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@contextmanager
def progress(done: int, total: int, as_json: bool) -> Iterator[Callable]:
    """The callback `sweep.execute` calls after each cell: a tqdm bar on a terminal, one line per cell otherwise
    (a log file, CI), both with the ETA; nothing with --json."""
    from tqdm import tqdm

    quiet = as_json or not sys.stderr.isatty()
    # The ETA is Progress.eta_s, this process's own pace: tqdm's would count a resumed run's earlier cells too.
    bar = tqdm(total=total, initial=done, unit="cell", disable=quiet, file=sys.stderr,
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} cells, {elapsed} so far{postfix}")

    def on_progress(p) -> None:
        eta = f"ETA {clock(p.eta_s)}"
        bar.set_postfix_str(f"{eta} (last: {p.record['id']} {p.record['status']})", refresh=False)
        bar.update(p.done - bar.n)  # one redraw, with the new count and the new ETA together
        if quiet and not as_json:
            line = f"[{p.done}/{p.total}] {p.record['id']}: {p.record['status']} {p.record.get('reason', '')}"
            print(f"{line.rstrip()}; {eta}", file=sys.stderr)

    try:
        yield on_progress
    finally:
        bar.close()


def cells_and_answers(loaded) -> tuple:
    """The per-cell table and the answer (answer.answers) of report.md, from one analysis of the run; without an ok
    cell there is no answer, only the table of failures."""
    from simplenn.analyse.report import analyse, cell_table
    from simplenn.analyse.report.answer import answers
    from simplenn.analyse.report.tables import measured

    if not (measured(loaded.table)["status"] == "ok").any():
        return cell_table(loaded), []
    analysis = analyse(loaded)
    return analysis.cells.copy(), answers(analysis)


def print_summary(state, table, answers: list) -> None:
    """The per-cell table, the absent GPU and the warnings, then the answer, then the run folder (last)."""
    from simplenn.analyse.report import n_weights_of

    print(f"{'cell':<32} {'status':<11} {'median ms/step':>14} {'IQR %':>6} {'samples/s':>11} {'GFLOP/s':>8} "
          f"{'% ceiling':>9}")
    table = table.assign(size=table["widths"].map(n_weights_of))
    for row in table.sort_values(["size", "batch_size", "mode", "device"]).itertuples():
        if row.status == "ok":
            print(f"{row.cell_id:<32} {row.status:<11} {row.median_step_s * 1e3:>14.4f} {row.iqr_rel * 100:>6.1f} "
                  f"{row.samples_per_s:>11.0f} {row.gflop_per_s:>8.1f} {row.pct_of_ceiling:>9.1f}")
        else:
            print(f"{row.cell_id:<32} {row.status:<11} {row.reason}")
    print(f"median of timed blocks (block time / steps per block); IQR % = IQR / median; GFLOP/s: {FLOPS_FORMULA}; "
          "% ceiling = of the fastest of the device's tf.matmul probes (the steps' own matmuls) in this run")
    profiled = (state.meta.get("profile") or {}).get("cells") or []
    if profiled:
        ok = sum(c.get("status") == "ok" for c in profiled)
        print(f"profiled {ok} of {len(profiled)} cells: run.json's profile, traces in {state.run_dir / 'traces'}; "
              f"`simplenn-bench report {state.run_dir}` shows where the time goes inside the step")
    if state.meta.get("gpu_missing_reason"):
        print(f"GPU: absent, not measured — {state.meta['gpu_missing_reason']}")
    for w in state.warnings:
        print(f"warning: {w}")
    title = "The answer so far (the run stopped early)" if state.interrupted else "The answer"
    for a in answers:  # the sentences report.md opens with
        text = textwrap.fill(" ".join(a.sentences), 110, initial_indent="  ", subsequent_indent="  ")
        print(f"\n{title}, on {a.machine}:\n{text}\n")
    print(f"results: {state.run_dir}")
