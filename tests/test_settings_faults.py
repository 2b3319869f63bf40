"""Issue 26, groups 7, 8, 10, 11: garbage in, tracebacks, contradictory settings, and the smaller faults.

Each test failed on the code before the fix (see docs/reliability.md). Tests that send SIGTERM or need a real
stdout encoding run the CLI in a subprocess, so that the unfixed code could not take pytest down with it.
"""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from synthetic import SMALL, write_run
from tiny import FakeWorker, TINY_GRID, fake_run

from simplenn import cli, sweep
from simplenn.store import results
from simplenn.cli.run import build_config
from simplenn.core.errors import UsageError
from simplenn.store.runfolder import SAMPLES_FILE

ROOT = Path(__file__).resolve().parents[1]
SMALL_ONLY = dict(widths_list=(SMALL,), modes=("per-call",), batches=(16, 64, 256, 1024), extras=False)
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
FAKE_RUN = ["--devices", "all", "--batch-sizes", "8", "--widths", "8", "--min-time", "0.02", "--min-block-time",
            "0.005", "--max-time", "0.1"]


def exit_code(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as e:
        return int(e.code)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error:" in err and "Traceback" not in err, err
    return err


# ------------------------------------------------------------------ 7. garbage in, numbers out


def test_7_train_data_with_non_finite_pixels_exits_2(tmp_path, capsys, pytestconfig):
    x = np.full((20, 28, 28), np.nan, np.float32)
    y = np.arange(20) % 10
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y, x_test=x[:10], y_test=y[:10])
    # before the fix: trained, and reported an accuracy of 0.12
    # The session's own logical CPUs: `train` first in a session would otherwise leave it one CPU (the default 1).
    cpus = str(pytestconfig.getoption("logical_cpus"))
    assert exit_code(["train", "--logical-cpus", cpus, "--data", str(tmp_path / "mnist.npz"), "--epochs", "1"]) == 2
    err = _one_line_error(capsys)
    assert "--data" in err and "NaN or infinite" in err


class HugeShapeFails(FakeWorker):
    """The ceiling probe of a shape with a huge batch runs out of memory; the others succeed."""

    def request(self, msg, timeout_s):
        if msg[0] == "ceiling" and any(mm.m > 10**6 for mm in msg[2]):
            self.requests.append(msg)
            return ("error", "MemoryError: Unable to allocate 292. TiB for an array")
        return super().request(msg, timeout_s)


def test_7_one_failing_ceiling_shape_leaves_the_others(tmp_path):
    state = fake_run(tmp_path, HugeShapeFails(), batch_sizes=(8, 99999999999))
    df = results.load(state.run_dir).table
    ok = df[df["status"] == "ok"]
    # before the fix: the probe failed as a whole, so every cell's % of ceiling was NaN
    assert ok["ceiling_gflops"].notna().all() and set(ok["ceiling_gflops"]) == {120.0}
    assert any("matmul (99999999999×784) @ (784×8): failed and left out" in w for w in state.warnings)


# ------------------------------------------------------------------ 8. output encoding never breaks a command


def _ascii_stdout(monkeypatch) -> io.BytesIO:
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="ascii", errors="strict", write_through=True))
    return raw


def test_8_compare_prints_on_an_ascii_stdout(tmp_path, monkeypatch):
    three = {**SMALL_ONLY, "rounds": (1.0, 1.0, 1.0)}  # as the default run measures: a verdict needs rounds
    a = write_run(tmp_path / "a", **three)
    b = write_run(tmp_path / "b", seed=1, **three)
    raw = _ascii_stdout(monkeypatch)
    # before the fix: UnicodeEncodeError, exit 1 (the regression code)
    assert exit_code(["compare", str(a), str(b)]) == 0
    out = raw.getvalue().decode("ascii")
    assert "No regression beyond 10 %." in out and "|new/base - 1| median" in out  # "−" stood in for


def test_8_run_prints_its_summary_on_an_ascii_stdout(tmp_path, monkeypatch, fake_worker):
    state = fake_run(tmp_path, FakeWorker())
    raw = _ascii_stdout(monkeypatch)
    # before the fix: the summary's "—" ended `run` with a traceback after the run was saved
    assert exit_code(["run", "--resume", str(state.run_dir)]) == 0
    assert "GPU: absent, not measured - no GPU here" in raw.getvalue().decode("ascii")


# ------------------------------------------------------------------ 10. contradictory settings


def _config(tmp_path, toml: str, *argv: str):
    path = tmp_path / "sweep.toml"
    path.write_text(toml)
    return build_config(cli.build_parser().parse_args(["run", "--config", str(path), *argv]))


@pytest.mark.parametrize("toml, argv, words", [
    ("quick = true\nsustained = true\n", [], "sustained = true each pick a base grid"),
    ("quick = true\n", ["--preset", "standard"], "--preset standard and --config"),
    ("sustained = true\n", ["--quick"], "--quick and --config"),
    ("max_time = 0.5\nmin_time = 1.0\n", [], "--max-time: 0.5 s"),
    ("", ["--max-time", "0.5", "--min-time", "1"], "is below --min-time 1 s"),
    ("max_time = 400\n", [], "is not below --timeout 300 s"),
    ("", ["--max-time", "20", "--timeout", "10"], "is not below --timeout 10 s"),
])
def test_10_contradictory_settings_are_refused_for_flags_and_toml_alike(tmp_path, capsys, toml, argv, words):
    # before the fix: all accepted (the CLI refused only --quick with --sustained or --preset, given as flags)
    with pytest.raises(UsageError, match=words.replace("(", r"\(")):
        _config(tmp_path, toml, *argv)
    assert exit_code(["run", "--config", str(tmp_path / "sweep.toml"), *argv, "--out", str(tmp_path / "r")]) == 2
    assert words in _one_line_error(capsys) and not (tmp_path / "r").exists()


def test_10_settings_checked_below_the_cli_too():
    with pytest.raises(UsageError, match="max_time_s"):
        sweep.SweepConfig.from_dict({"min_time_s": 2.0, "max_time_s": 1.0})


# ------------------------------------------------------------------ 11. the smaller faults


_TERM_DURING_WRITE = """
import os, signal, sys
from simplenn import cli
from simplenn.core import files
real = files._replace_atomically
def dying(path, fill, flag):
    def fill_then_die(f):
        f.write(b"half a file")
        f.flush()
        os.kill(os.getpid(), signal.SIGTERM)
        fill(f)
    return real(path, fill_then_die, flag)
files._replace_atomically = dying
sys.exit(cli.main(sys.argv[1:]))
"""


def test_11_sigterm_during_report_leaves_no_tmp_file(tmp_path):
    run = write_run(tmp_path / "run", **SMALL_ONLY)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", _TERM_DURING_WRITE, "report", str(run), "--out", str(out)],
                          env=ENV, capture_output=True, text=True, timeout=300)
    # before the fix: killed by the signal (-15) with a .tmp file left in the report folder
    assert done.returncode == 143, done.stderr[-2000:]
    assert "terminated" in done.stderr and "Traceback" not in done.stderr
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []


class TermOnThirdCell(FakeWorker):
    def request(self, msg, timeout_s):
        if msg[0] == "cell" and sum(m[0] == "cell" for m in self.requests) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return super().request(msg, timeout_s)


def test_11_run_exits_143_on_sigterm(tmp_path, monkeypatch, capsys):
    state = sweep.prepare(tmp_path / "run", sweep.SweepConfig.from_dict({**TINY_GRID, "devices": ("all",)}), FakeWorker(),
                          {"label": "m"}, [])
    monkeypatch.setattr(sweep, "Worker", lambda logical_cpus: TermOnThirdCell())
    # before the fix: 130, the Ctrl-C status
    assert exit_code(["run", "--resume", str(state.run_dir)]) == 143
    assert "terminated: what was measured is saved" in capsys.readouterr().err
    assert json.loads((state.run_dir / "run.json").read_text())["status"] == "interrupted"


def test_11_a_torn_line_warning_is_one_line_without_a_python_location(tmp_path):
    run = write_run(tmp_path / "run", **SMALL_ONLY)
    with open(run / SAMPLES_FILE, "a") as f:
        f.write('{"kind": "cell", "seq": 9')
    done = subprocess.run([sys.executable, "-m", "simplenn.cli", "report", str(run), "--out", str(tmp_path / "out")],
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    warnings = [line for line in done.stderr.splitlines() if "torn" in line]
    # before the fix: "…/results.py:288: UserWarning: …" and the source line below it
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {run / SAMPLES_FILE}: dropped a torn last line")
    assert ".py:" not in done.stderr and "UserWarning" not in done.stderr, done.stderr


def test_11_a_folder_holding_only_desktop_files_takes_a_new_run(tmp_path, fake_worker, capsys):
    out = tmp_path / "r"
    out.mkdir()
    (out / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    # before the fix: "already exists; use --resume", and --resume then said "not a run folder"
    code, err = exit_code(["run", *FAKE_RUN, "--out", str(out)]), capsys.readouterr().err
    assert code == 0 and (out / "run.json").exists(), err
    other = tmp_path / "o"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert exit_code(["run", *FAKE_RUN, "--out", str(other)]) == 2
    err = _one_line_error(capsys)
    assert "is not a run folder (it holds notes.txt); choose a new or empty folder" in err and "--resume" not in err


def test_11_a_dangling_symlink_is_named_as_such(tmp_path, capsys):
    run = write_run(tmp_path / "run", **SMALL_ONLY)
    (tmp_path / "link").symlink_to(tmp_path / "missing")
    assert exit_code(["report", str(run), "--out", str(tmp_path / "link")]) == 2
    err = _one_line_error(capsys)
    # before the fix: "it exists and is not a folder"
    assert f"is a symbolic link to {tmp_path / 'missing'}, which does not exist" in err


def test_11_a_long_plan_is_announced_before_it_starts(tmp_path, monkeypatch, capsys):
    class StopAtOnce(FakeWorker):
        def request(self, msg, timeout_s):
            if msg[0] == "cell":
                raise KeyboardInterrupt
            return super().request(msg, timeout_s)

    monkeypatch.setattr(sweep, "Worker", lambda logical_cpus: StopAtOnce())
    argv = ["run", "--devices", "all", "--batch-sizes", "8", "--widths", "8", "--rounds", "1000",
            "--out", str(tmp_path / "r")]
    assert exit_code(argv) == 130
    err = capsys.readouterr().err
    # before the fix: nothing said how long 2000+ cells would take
    line = next(line for line in err.splitlines() if line.startswith("plan: "))
    assert "cells, estimated ~" in line and "Ctrl-C saves what is measured" in line and "--resume" in line
    low, high = sweep.estimate_s([sweep.PlanItem.from_json(p) for p in json.loads(
        (tmp_path / "r" / "run.json").read_text())["plan"]], {"CPU:0": "none", "CPU:1": "none"}, sweep.SweepConfig())
    assert 0 < low < high and high >= sweep.LONG_PLAN_S
