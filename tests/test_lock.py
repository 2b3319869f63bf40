"""The run-folder lock: two real processes on one folder; a killed holder does not block the next writer."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simplenn.core.errors import UsageError
from simplenn.store.lock import LOCK_FILE, LockedError, is_locked, run_lock

ROOT = Path(__file__).resolve().parents[1]
HOLD = """
import sys, time
from simplenn.store.lock import run_lock
with run_lock(sys.argv[1], "--resume"):
    print("locked", flush=True)
    time.sleep(120)
"""


def _holder(folder: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_writer_fails_at_once_naming_the_holder(tmp_path):
    proc = _holder(tmp_path)
    try:
        assert is_locked(tmp_path)
        t0 = time.monotonic()
        with pytest.raises(LockedError) as e:
            with run_lock(tmp_path, "--resume"):
                pytest.fail("two writers held the lock of one folder")
        assert time.monotonic() - t0 < 5  # refused at once, not after waiting (generous for a loaded machine)
        message = str(e.value)
        assert isinstance(e.value, UsageError) and "\n" not in message
        assert message.startswith(f"--resume: {tmp_path} is being written by PID {proc.pid} (")
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_holder_does_not_block(tmp_path):
    proc = _holder(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (tmp_path / LOCK_FILE).exists()  # the stale file stays; the kernel dropped the lock
    assert not is_locked(tmp_path)
    with run_lock(tmp_path, "--resume"):
        assert is_locked(tmp_path)
        assert f'"pid": {os.getpid()}' in (tmp_path / LOCK_FILE).read_text()
    assert not is_locked(tmp_path)


def test_the_lock_is_released_when_the_block_raises(tmp_path):
    with pytest.raises(RuntimeError):
        with run_lock(tmp_path):
            raise RuntimeError("boom")
    with run_lock(tmp_path):
        pass


def test_a_folder_that_cannot_hold_a_lock_is_a_one_line_error(tmp_path):
    with pytest.raises(UsageError, match=r"^--out: cannot lock .*run.lock: its folder does not exist$"):
        with run_lock(tmp_path / "missing", "--out"):
            pass
