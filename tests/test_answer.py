"""report.md opens with "The answer": its numbers are the tables' numbers, read back out of the rendered sentences."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from simplenn.analyse.report import write_report
from simplenn.analyse.report.analysis import analyse
from simplenn.analyse.report.answer import answers
from simplenn.analyse.report.tables import n_weights_of
from simplenn.store.runmeta import RunMeta
from simplenn.store.results import Results, load

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "machines" / "linux-x86_64-2cpu-2026-11-27"


@pytest.fixture(scope="module")
def reference():
    return load(REFERENCE)


def _answer_section(report_md: str) -> str:
    assert report_md.startswith("# simplenn-bench report\n\n## The answer\n\n"), report_md[:200]
    return report_md.split("## The answer\n\n", 1)[1].split("\n## ", 1)[0]


def _one_device(reference: Results) -> Results:
    """The reference run as if its grid had asked for CPU:0 alone (so it is complete, not a partial run)."""
    run, meta = next(iter(reference.runs.items()))
    as_read = meta.to_json()
    return Results(reference.table[reference.table["device"] == "CPU:0"].reset_index(drop=True),
                   {run: RunMeta.from_json({**as_read, "grid": {**as_read["grid"], "devices": ["CPU:0"]},
                                            "plan": [p for p in as_read["plan"] if p["case"]["device"] == "CPU:0"]})})


def _headline(table, run):
    rows = table[(table["run"] == run) & (table["impl"] == "scratch") & (table["mode"] == "per-call")]
    return rows[rows["widths"] == min(rows["widths"].unique(), key=n_weights_of)]


@pytest.mark.slow
def test_two_device_answer_quotes_the_speedup_crossover_and_host_tables(reference, tmp_path):
    files = write_report([REFERENCE], tmp_path)
    text = _answer_section(files.report_md.read_text())
    a = analyse(reference)
    run = next(iter(a.runs))
    curve = _headline(a.speedup.table, run).set_index("batch_size")

    # The largest speedup and its CI, as printed, are the speedup table's row for the printed batch size.
    m = re.search(r"(\d+\.\d+)× at batch (\d+) \((\d+\.\d+)–(\d+\.\d+), 95 % CI\)", text) or \
        re.search(r"(\d+\.\d+)× faster \((\d+\.\d+)–(\d+\.\d+), 95 % CI\) at batch (\d+)", text)
    assert m, text
    if m.re.pattern.startswith(r"(\d+\.\d+)× at"):
        value, batch, low, high = float(m[1]), int(m[2]), float(m[3]), float(m[4])
    else:
        value, low, high, batch = float(m[1]), float(m[2]), float(m[3]), int(m[4])
    row = curve.loc[batch]
    assert (value, low, high) == (round(row["speedup"], 2), round(row["speedup_ci_low"], 2),
                                  round(row["speedup_ci_high"], 2))
    assert row["speedup"] == curve["speedup"].max()

    # "At batch 32 CPU:0 is K× faster: host dispatch is P % of CPU:1's step" — the speedup and host tables.
    m = re.search(r"At batch (\d+) (\S+) is (\d+\.\d+)× faster: host dispatch is (\d+) % of (\S+)'s step", text)
    assert m, text
    batch, k, share, device = int(m[1]), float(m[3]), int(m[4]), m[5]
    assert k == round(1 / curve.loc[batch, "speedup"], 2)
    host = a.host[(a.host["run"] == run) & (a.host["device"] == device) & (a.host["batch_size"] == batch)
                  & (a.host["impl"] == "scratch") & (a.host["widths"] == curve["widths"].iloc[0])]
    assert share == round(host["host_share_pct"].iloc[0])

    # The crossover sentence matches the crossover table's verdict for the same curve.
    cross = _headline(a.crossover.table, run).iloc[0]
    if cross["crossover_batch"] != cross["crossover_batch"]:  # NaN: never faster
        assert f"never reliably faster than CPU:0 up to batch {int(cross['max_batch'])}" in text
    else:
        assert f"from batch {int(cross['crossover_batch'])} on" in text
    assert "warning" in text and "(#warnings)" in text or "No warnings." in text


def test_one_device_answer_says_so_and_what_to_run(reference, tmp_path):
    one = _one_device(reference)
    report_md = write_report([one], tmp_path, charts=False).report_md.read_text()
    assert "Only CPU:0 was measured ok" in _answer_section(report_md)
    assert "## Machines side by side" not in report_md
    a = analyse(one)
    (answer,) = answers(a)
    text = " ".join(answer.sentences)
    assert "Only CPU:0 was measured ok" in text and "simplenn-bench run --devices cpu,gpu" in text
    cells = a.cells[(a.cells["status"] == "ok") & (a.cells["impl"] == "scratch") & (a.cells["mode"] == "per-call")]
    cells = cells[cells["widths"] == min(cells["widths"].unique(), key=n_weights_of)]
    top = cells.loc[cells["samples_per_s"].idxmax()]
    assert f"batch {int(top['batch_size'])}: {top['samples_per_s']:,.0f} samples/s" in text


def test_two_runs_keep_machines_side_by_side(reference, tmp_path):
    other = Results(reference.table.assign(run="copy"),
                    {"copy": replace(reference.runs[next(iter(reference.runs))], run_id="another")})
    report_md = write_report([reference, other], tmp_path, charts=False).report_md.read_text()
    assert "## Machines side by side" in report_md
    assert report_md.index("## The answer") < report_md.index("## Machines and versions")


def _table_row(report_md: str, section: str, first_cell: str) -> list[str]:
    body = report_md.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    line = next(line for line in body.splitlines() if line.startswith(f"| {first_cell} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_the_answer_quotes_the_rendered_tables_of_the_same_report(reference, tmp_path):
    """The sentences and the tables below them in one report.md agree, as a reader would check them."""
    two = write_report([REFERENCE], tmp_path / "two", charts=False).report_md.read_text()
    m = re.search(r"largest speedup, (\d+\.\d+)× at batch (\d+) \((\d+\.\d+)–(\d+\.\d+), 95 % CI\)", two)
    assert m, _answer_section(two)
    speed = [r for r in two.split("### Speedup per batch size", 1)[1].split("\n## ", 1)[0].splitlines()
             if r.startswith(f"| per-call | 784x100x30x10 | {m[2]} |")]
    cells = [c.strip() for c in speed[0].strip("|").split("|")]
    assert [round(float(c), 2) for c in cells[5:8]] == [float(m[1]), float(m[3]), float(m[4])]

    one = _one_device(reference)
    one_md = write_report([one], tmp_path / "one", charts=False).report_md.read_text()
    m = re.search(r"trains fastest per sample at batch (\d+): ([\d,]+) samples/s", _answer_section(one_md))
    assert m, _answer_section(one_md)
    row = _table_row(one_md, "Per-cell results", f"`cpu-b{m[1]}-w100x30`")
    assert float(row[4].replace(",", "")) == pytest.approx(float(m[2].replace(",", "")), abs=0.5)
