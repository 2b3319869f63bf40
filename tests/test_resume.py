"""Honest resume and a locked run folder: nothing lost, nothing counted twice (issue 12)."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from simplenn.core import files

from simplenn.store import runfolder

from simplenn import sweep
from simplenn.cli import build_parser, main
from simplenn.cli.run import build_config
from simplenn.core.errors import UsageError
from tiny import FakeWorker, fake_prepared, fake_run, folder_snapshot, interrupted_fake_run

ROOT = Path(__file__).resolve().parents[1]
HOLD = ("import sys, time\nfrom simplenn.store.lock import run_lock\nwith run_lock(sys.argv[1]):\n"
        "    print('locked', flush=True)\n    time.sleep(120)\n")


def _cells(run_dir: Path) -> list[dict]:
    return [r for r in runfolder.read_records(run_dir)[0] if r["kind"] == "cell"]


def test_resume_of_a_finished_run_never_modifies_it(tmp_path, fake_worker, capsys):
    state = fake_run(tmp_path, FakeWorker())
    before = folder_snapshot(state.run_dir)
    assert main(["run", "--resume", str(state.run_dir)]) == 0
    assert "complete (9 of 9 cells); nothing to measure" in capsys.readouterr().err
    # before the fix: a new ceiling probe was appended and `finished` rewritten, so every "% of ceiling" changed
    assert folder_snapshot(state.run_dir) == before
    sweep.execute(sweep.resume_state(state.run_dir), FakeWorker())  # the API holds the same promise
    assert folder_snapshot(state.run_dir) == before


def test_resume_says_how_many_cells_are_left(tmp_path, fake_worker, capsys):
    state = interrupted_fake_run(tmp_path)
    total = len(state.meta["plan"])
    assert main(["run", "--resume", str(state.run_dir)]) == 0
    assert f"{total - 3} of {total} cells left to measure" in capsys.readouterr().err
    assert sorted(r["seq"] for r in _cells(state.run_dir)) == list(range(total))


def test_an_emptied_samples_file_is_explained_before_anything_is_measured(tmp_path, fake_worker, capsys):
    state = fake_run(tmp_path, FakeWorker())
    (state.run_dir / runfolder.SAMPLES_FILE).write_text("")
    assert main(["run", "--resume", str(state.run_dir)]) == 2
    err = capsys.readouterr().err
    assert "says complete but samples.jsonl lacks 9 of its 9 cells" in err and "nothing was changed" in err
    assert (state.run_dir / runfolder.SAMPLES_FILE).read_text() == ""  # before the fix: every cell measured again


def test_a_second_writer_of_one_folder_exits_2_naming_the_holder(tmp_path, fake_worker, capsys):
    state = interrupted_fake_run(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(state.run_dir)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout.readline().strip() == "locked"
        before = folder_snapshot(state.run_dir)
        assert main(["run", "--resume", str(state.run_dir)]) == 2
        assert f"is being written by PID {proc.pid}" in capsys.readouterr().err
        assert folder_snapshot(state.run_dir) == before  # before the fix: both resumed, cells recorded twice
    finally:
        proc.kill()  # SIGKILL: the kernel drops the lock
        proc.wait()
    assert main(["run", "--resume", str(state.run_dir)]) == 0  # the killed holder does not block
    assert sorted(r["seq"] for r in _cells(state.run_dir)) == list(range(len(state.meta["plan"])))


@pytest.mark.slow
def test_two_cli_resumes_of_one_folder_at_once_record_every_cell_once(tmp_path):
    """Two real `run --resume` processes on one folder: one measures, the other exits 2 at once."""
    state = interrupted_fake_run(tmp_path, after=1)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "simplenn.cli", "run", "--resume", str(state.run_dir)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], outs
    refused = next(err for p, (_, err) in zip(procs, outs) if p.returncode == 2)
    assert "is being written by PID" in refused and "Traceback" not in refused
    plan = json.loads((state.run_dir / runfolder.RUN_FILE).read_text())["plan"]
    assert sorted(r["seq"] for r in _cells(state.run_dir)) == [p["seq"] for p in plan]  # no cell twice


def test_a_second_ctrl_c_while_stopping_still_ends_interrupted(tmp_path):
    class SlowToStop(FakeWorker):
        def stop(self):  # the user presses Ctrl-C again while the worker is being stopped
            super().stop()
            if self.stopped == 1:
                os.kill(os.getpid(), signal.SIGINT)

    worker = SlowToStop()
    state = fake_prepared(tmp_path, worker)

    def first_ctrl_c(progress):
        raise KeyboardInterrupt

    state = sweep.execute(state, worker, first_ctrl_c)  # before the fix: the second KeyboardInterrupt escaped
    assert state.interrupted
    assert json.loads((tmp_path / "run" / runfolder.RUN_FILE).read_text())["status"] == "interrupted"


def test_disk_full_at_the_final_update_ends_interrupted_with_the_resume_hint(tmp_path, monkeypatch, capsys):
    from simplenn.cli.run import _finish

    worker = FakeWorker()
    state = fake_prepared(tmp_path, worker)

    def disk_full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "replace", disk_full)  # the write function's last step; only run.json is replaced
    state = sweep.execute(state, worker)  # before the fix: an OSError traceback, status `running`
    monkeypatch.undo()
    assert state.interrupted and "run.json: no space left" in str(state.error)
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]
    assert sweep.resume_state(tmp_path / "run").meta["status"] == "interrupted"  # `running`, nobody holds the lock
    assert _finish(state, as_json=False) == 2
    err = capsys.readouterr().err
    assert "disk full" in err and f"resume with: simplenn-bench run --resume {state.run_dir}" in err


def test_disk_full_while_appending_a_cell_keeps_what_was_measured(tmp_path, monkeypatch):
    worker = FakeWorker()
    state = fake_prepared(tmp_path, worker)
    real_write, calls = os.write, {"n": 0}

    def full_after_three(fd, data):
        calls["n"] += 1
        if calls["n"] > 5:  # two ceiling probes and three cells fit on the disk
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(files.os, "write", full_after_three)
    state = sweep.execute(state, worker)
    monkeypatch.undo()
    assert state.interrupted and "samples.jsonl: no space left" in str(state.error)
    assert len(_cells(state.run_dir)) == 3 and (state.run_dir / runfolder.SAMPLES_FILE).read_bytes().endswith(b"\n")
    assert json.loads((state.run_dir / runfolder.RUN_FILE).read_text())["status"] == "interrupted"


def test_a_new_run_has_a_run_id(tmp_path):
    state = fake_run(tmp_path, FakeWorker())
    other = fake_run(tmp_path / "b", FakeWorker())
    ids = [json.loads((s.run_dir / runfolder.RUN_FILE).read_text())["run_id"] for s in (state, other)]
    assert all(len(i) == 32 for i in ids) and ids[0] != ids[1]


@pytest.mark.parametrize("argv, words", [(["--seed", "-1"], "--seed: must be an integer ≥ 0, got -1"),
                                         (["--seed", "abc"], "--seed: must be an integer ≥ 0, got 'abc'")])
def test_bad_seed_flag_exits_2(argv, words, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["run", *argv])  # before the fix: -1 was accepted and every cell ended invalid
    assert e.value.code == 2 and words in capsys.readouterr().err


@pytest.mark.parametrize("text, words", [('seed = "abc"', "key 'seed': must be an integer ≥ 0, got 'abc'"),
                                         ("seed = -1", "key 'seed': must be an integer ≥ 0, got -1"),
                                         ('quick = "no"', "key 'quick': must be true or false"),
                                         ('min_time = "0.5"', "key 'min_time': must be a positive number of seconds"),
                                         ("rounds = 1.5", "key 'rounds': must be a positive integer, got 1.5")])
def test_bad_toml_values_are_one_line_errors(tmp_path, text, words):
    toml = tmp_path / "sweep.toml"
    toml.write_text(text + "\n")
    with pytest.raises(UsageError, match=words):  # before the fix: quick = "no" turned quick mode on
        build_config(build_parser().parse_args(["run", "--config", str(toml)]))
    toml.write_text("seed = 3\nquick = false\nmin_time = 0.4\n")  # below the default --max-time (0.5)
    config = build_config(build_parser().parse_args(["run", "--config", str(toml)]))
    assert (config.seed, config.settings.min_time_s, config.batch_sizes) == (3, 0.4, sweep.config.DEFAULT_BATCH_SIZES)


@pytest.mark.parametrize("seed", [-1, "abc", 1.0, True])
def test_sweep_config_refuses_a_bad_seed(seed):
    with pytest.raises(UsageError, match="^seed: must be an integer ≥ 0"):
        sweep.SweepConfig.from_dict({"seed": seed})


def test_run_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        state = fake_run(tmp_path, FakeWorker())  # before files.py: run.json came out 0600 (tempfile.mkstemp)
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in state.run_dir.iterdir() if p.name != "run.lock"}
    assert modes == {runfolder.RUN_FILE: 0o644, runfolder.SAMPLES_FILE: 0o644}
