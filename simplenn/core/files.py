"""Every write of the tool: atomic replaces, fsynced appends and folder creation, with OSError as a one-line error.

A failed write never leaves a temporary file behind and never half a file: a reader sees the old content or the
new. Files are created with mode 0o666 filtered by the user's umask (the kernel applies it to `os.open`), so run
folders and reports can be shared like any other file the user makes.
"""
from __future__ import annotations

import errno
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from simplenn.core.errors import FieldError

_REASONS = {
    errno.ENOSPC: "no space left on the device (disk full)",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder, not a file",
    errno.EEXIST: "it exists and is not a folder",
    errno.ENOENT: "its folder does not exist",
    errno.ENAMETOOLONG: "the name is too long",
}


class WriteError(FieldError):
    """A file or folder that could not be written; the message names the path, the reason and the field if any
    (the CLI renames the field to its flag: run_dir → --out)."""


def write_error(path: Path | str, error: OSError, flag: str | None = None, verb: str = "cannot write") -> WriteError:
    """The one-line error for an OSError at `path`, e.g. 'run_dir: cannot write r/run.json: disk full'.

    `flag` names what the path is: a field below the CLI (run_dir, out_dir), or a flag when the CLI writes itself."""
    reason = _REASONS.get(error.errno or 0) or error.strerror or error.__class__.__name__
    return WriteError(flag or "", f"{verb} {path}: {reason}")


def ensure_dir(path: Path | str, flag: str | None = None) -> Path:
    """Create the folder `path` (and its parents) unless it exists; a file in the way is a one-line error."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise WriteError(flag or "", f"cannot create the folder {path}: it is a symbolic link to {os.readlink(path)}, "
                                     "which does not exist; create the target or remove the link")
    if path.exists() and not path.is_dir():
        raise write_error(path, OSError(errno.EEXIST, "exists"), flag, "cannot create the folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a parent is a file, read-only, permission, …
        raise write_error(path, e, flag, "cannot create the folder") from None
    return path


def _replace_atomically(path: Path, fill: Callable[[IO[bytes]], None], flag: str | None) -> Path:
    """Write a temporary file beside `path` with `fill`, fsync it, then os.replace it over `path`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = -1
    try:
        # 0o666 & ~umask, applied by the kernel (tempfile.mkstemp would force 0o600).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            fd = -1  # the file object owns it now
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if fd >= 0:
            os.close(fd)
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(e, OSError):
            raise write_error(path, e, flag) from None
        raise
    return path


def write_bytes(path: Path | str, data: bytes, flag: str | None = None) -> Path:
    """Replace the file at `path` with `data`, atomically."""
    return _replace_atomically(Path(path), lambda f: f.write(data), flag)


def write_text(path: Path | str, text: str, flag: str | None = None) -> Path:
    """Replace the file at `path` with `text` (UTF-8), atomically."""
    return write_bytes(path, text.encode("utf-8"), flag)


def write_json(path: Path | str, data: Any, flag: str | None = None) -> Path:
    """Replace the file at `path` with `data` as indented, key-sorted JSON, atomically."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", flag)


def save_figure(fig: Any, path: Path | str, flag: str | None = None, **savefig_kwargs: Any) -> Path:
    """Save a matplotlib figure to `path` atomically (format from the suffix unless given)."""
    path = Path(path)
    savefig_kwargs.setdefault("format", path.suffix.lstrip(".") or "png")
    return _replace_atomically(path, lambda f: fig.savefig(f, **savefig_kwargs), flag)


def append_line(path: Path | str, line: str, flag: str | None = None) -> None:
    """Append one line to `path` and fsync; on failure the file is cut back to its old length (no torn line)."""
    path = Path(path)
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as e:
        raise write_error(path, e, flag) from None
    size = -1
    try:
        size = os.fstat(fd).st_size
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError as e:
        if size >= 0:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass
        raise write_error(path, e, flag) from None
    finally:
        os.close(fd)
