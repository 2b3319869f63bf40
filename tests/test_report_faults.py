"""`report` faults (issue 12): the same run twice, same-named runs, a bad --out, charts with nothing to draw, modes."""
from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from synthetic import ONE_CURVE, write_run

from simplenn import cli
from simplenn.core.errors import UsageError
from simplenn.analyse.report import write_report
from simplenn.store.results import load
from simplenn.store.runfolder import RUN_FILE, SAMPLES_FILE, RunWriter
from simplenn.store.several import combine, load_many

ONE = dict(ONE_CURVE, batches=(16, 256))
N_CELLS = 4  # 2 devices × 2 batch sizes


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error:" in err and "Traceback" not in err, err
    return err


def test_the_same_run_twice_is_refused(tmp_path, capsys):
    run = write_run(tmp_path / "run", **ONE)
    # before the fix: pooled, every sample counted twice and the CIs falsely narrow
    assert cli.main(["report", str(run), str(run), "--out", str(tmp_path / "out")]) == 2
    assert "are the same run folder; give each run once" in _one_line_error(capsys)
    (tmp_path / "link").symlink_to(run)
    assert cli.main(["report", str(run), str(tmp_path / "link"), "--out", str(tmp_path / "out")]) == 2
    assert f"{run} and {tmp_path / 'link'} are the same run folder" in _one_line_error(capsys)
    with pytest.raises(UsageError, match="given more than once"):
        combine([load(run), load(run)])


def test_a_copy_of_a_run_is_refused_by_its_run_id(tmp_path, capsys):
    run = write_run(tmp_path / "a" / "run", **ONE)
    RunWriter(run).update_meta(run_id="0123456789abcdef0123456789abcdef")
    shutil.copytree(run, tmp_path / "b" / "run-copy")
    assert cli.main(["report", str(run), str(tmp_path / "b" / "run-copy"), "--out", str(tmp_path / "out")]) == 2
    assert "hold the same run (run id 0123456789abcdef0123456789abcdef)" in _one_line_error(capsys)


def test_two_runs_with_one_folder_name_are_told_apart_by_path(tmp_path):
    d1 = write_run(tmp_path / "d1" / "run", **ONE)
    d2 = write_run(tmp_path / "d2" / "run", seed=1, **ONE)
    res = load_many([d1, d2])
    assert set(res.runs) == {"d1/run", "d2/run"} and set(res.table["run"]) == {"d1/run", "d2/run"}
    files = write_report([d1, d2], tmp_path / "out", charts=False)
    summary = pd.read_csv(files.summary_csv)
    # before the fix: one run "run" of N_CELLS cells with both runs' samples pooled
    assert len(summary) == 2 * N_CELLS and set(summary["run"]) == {"d1/run", "d2/run"}
    assert load_many([d1]).runs.keys() == {"run"}  # alone, a run keeps its folder name


@pytest.mark.parametrize("where", ["file", "under a file", "read-only"])
def test_report_out_that_cannot_be_written_is_a_one_line_error(tmp_path, capsys, monkeypatch, where):
    run = write_run(tmp_path / "run", **ONE)
    (tmp_path / "afile").write_text("")
    out = {"file": tmp_path / "afile", "under a file": tmp_path / "afile" / "report",
           "read-only": tmp_path / "ro" / "report"}[where]
    if where == "read-only":  # as root, chmod cannot make a folder read-only: inject the error instead
        def read_only(self, *args, **kwargs):
            raise OSError(errno.EROFS, "Read-only file system")
        monkeypatch.setattr(Path, "mkdir", read_only)
    assert cli.main(["report", str(run), "--out", str(out)]) == 2
    err = _one_line_error(capsys)
    assert f"--out: cannot create the folder {out}" in err
    assert {"file": "exists and is not a folder", "under a file": "is a file, not a folder",
            "read-only": "read-only file system"}[where] in err


@pytest.mark.slow
def test_a_chart_with_nothing_to_draw_is_left_out_and_named(tmp_path):
    run = write_run(tmp_path / "run", **ONE)
    samples = run / SAMPLES_FILE  # no ceiling probe, as in pytest-benchmark results
    samples.write_text("".join(line + "\n" for line in samples.read_text().splitlines() if '"ceiling"' not in line))
    files = write_report([run], tmp_path / "out")
    assert "efficiency" not in files.charts and not (tmp_path / "out" / "efficiency.png").exists()  # before: empty
    text = files.report_md.read_text()
    assert "- `efficiency.png` (Efficiency: share of the measured matmul ceiling): no device's matmul ceiling" in text
    assert "- `time_split.png`" in text  # one mode only: nothing to split
    assert "step_time" in files.charts and "- `step_time.png`" not in text


@pytest.mark.slow
def test_report_outputs_follow_the_umask(tmp_path):
    run = write_run(tmp_path / "run", **ONE)
    old = os.umask(0o022)
    try:
        files = write_report([run], tmp_path / "out")
    finally:
        os.umask(old)
    written = [files.report_md, files.summary_csv, *files.charts.values()]
    assert len(written) >= 4
    assert {p.name: p.stat().st_mode & 0o777 for p in written} == {p.name: 0o644 for p in written}
