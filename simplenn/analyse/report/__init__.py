"""`write_report`: report.md, summary.csv and the charts of one or more runs, written into a folder.

The package reads one way: tables → crossover → analysis (every table once) → {charts, markdown} → files here.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from simplenn.core import files
from simplenn.analyse.report.analysis import CHART_ORDER, Analysis, analyse
from simplenn.analyse.report.charts import save_all
from simplenn.analyse.report.markdown import render_markdown
from simplenn.analyse.report.tables import cell_table, host_overhead_table, n_weights_of, require_ok
from simplenn.store.completeness import partial_runs
from simplenn.store.results import Results
from simplenn.store.several import combine, load_many

__all__ = ["Analysis", "ReportFiles", "analyse", "cell_table", "host_overhead_table", "n_weights_of",
           "render_markdown", "write_report"]


@dataclass(frozen=True)
class ReportFiles:
    """Paths written by write_report."""

    report_md: Path
    summary_csv: Path
    charts: dict[str, Path] = field(default_factory=dict)
    partial: tuple[str, ...] = ()  # one line per run that does not hold its whole plan (also at the top of report.md)


def _remove_stale_charts(out_dir: Path, drawn: dict[str, Path]) -> None:
    """Delete charts an earlier report left in a reused folder that this report did not draw: a stale
    efficiency.png beside a report.md saying it was left out would contradict it. Only the tool's own chart names."""
    for name in CHART_ORDER:
        path = out_dir / f"{name}.png"
        if name not in drawn and path.is_file():
            try:
                path.unlink()
            except OSError as e:
                raise files.write_error(path, e, "out_dir", "cannot remove the stale chart") from None


def write_report(sources: Iterable[Results | pd.DataFrame | Path | str], out_dir: Path | str, charts: bool = True,
                 seed: int = 0) -> ReportFiles:
    """Write report.md, summary.csv (the per-cell table, seconds) and the charts into out_dir; return their paths."""
    sources = list(sources)
    folders = [s for s in sources if not isinstance(s, (Results, pd.DataFrame))]
    loaded = [load_many(folders)] if folders else []  # the same run twice refused, same-named folders told apart
    results = combine(loaded + [s for s in sources if isinstance(s, (Results, pd.DataFrame))])
    require_ok(results, ", ".join(dict.fromkeys(results.table["run"].astype(str))) or "results")
    out_dir = files.ensure_dir(out_dir, "out_dir")
    analysis = analyse(results, seed=seed)  # every table once; charts and Markdown only read it
    chart_paths = save_all(analysis, out_dir) if charts else {}
    _remove_stale_charts(out_dir, chart_paths)
    report_md, summary_csv = out_dir / "report.md", out_dir / "summary.csv"
    files.write_text(summary_csv, analysis.cells.to_csv(index=False), "out_dir")
    files.write_text(report_md, render_markdown(analysis, out_dir, chart_paths), "out_dir")
    return ReportFiles(report_md, summary_csv, chart_paths, tuple(partial_runs(results)))
