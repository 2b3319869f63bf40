"""An exclusive lock on a run folder, held by the one process that writes it (`fcntl.flock` on `run.lock`).

The kernel drops a flock when its holder exits, however it exits, so a killed run never blocks the next one.
The holder writes its PID and command line into the lock file, so a refused writer can say who holds it.
The file itself stays in the folder (removing it would let two processes lock two different files).
"""
from __future__ import annotations

import fcntl
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from simplenn.core.errors import UsageError
from simplenn.core.files import write_error

LOCK_FILE = "run.lock"


class LockedError(UsageError):
    """Another live process is writing the run folder."""


def holder(run_dir: Path | str) -> str:
    """Who holds (or last held) the lock of `run_dir`, e.g. 'PID 4242 (simplenn-bench run --resume r)'."""
    try:
        info = json.loads((Path(run_dir) / LOCK_FILE).read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "another process"
    argv = " ".join(info.get("argv") or [])
    return f"PID {info['pid']}" + (f" ({argv})" if argv else "") + (f", since {info['since']}" if info.get("since") else "")


def is_locked(run_dir: Path | str) -> bool:
    """True when a live process holds the lock of `run_dir` (a `running` status without one was interrupted)."""
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we took
    return False


@contextmanager
def run_lock(run_dir: Path | str, flag: str | None = None) -> Iterator[Path]:
    """Hold the exclusive lock of the existing folder `run_dir`; refuse at once if another process holds it."""
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise write_error(path, e, flag, "cannot lock") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            prefix = f"{flag}: " if flag else ""
            raise LockedError(f"{prefix}{run_dir} is being written by {holder(run_dir)}; wait for it to end "
                              "or stop it, then try again") from None
        info = {"pid": os.getpid(), "argv": [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else [],
                "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        except OSError:
            pass  # the lock holds without the note; a refused writer then says "another process"
        yield path
    finally:
        os.close(fd)  # releases the flock
