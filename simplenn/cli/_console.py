"""How the CLI meets the terminal: output any encoding can carry, one-line warnings, SIGTERM handled like Ctrl-C.

Everything a command prints goes through sys.stdout/sys.stderr; when their encoding cannot carry a character
(PYTHONIOENCODING=ascii, a C locale, a pipe to an old tool), it is written as its ASCII stand-in instead of ending
the command with a UnicodeEncodeError — after a run has been saved, that cost a non-zero exit status.
"""
from __future__ import annotations

import codecs
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from simplenn.core.errors import Terminated

# The non-ASCII characters the tool prints, and what stands in for them.
ASCII = {"×": "x", "µ": "u", "≥": ">=", "≤": "<=", "–": "-", "—": "-", "±": "+/-", "…": "...", "²": "^2", "³": "^3",
         "≈": "~", "→": "->", "←": "<-", "·": "*", "’": "'", "‘": "'", "“": '"', "”": '"', "−": "-", "°": " deg",
         "\u00a0": " ", "\u2009": " ", "\u202f": " ", "✓": "ok", "✗": "x", "█": "#", "▏": "|", "▎": "|", "▍": "|",
         "▌": "|", "▋": "|", "▊": "|", "▉": "|", "ᵀ": "^T"}
ERRORS = "simplenn-ascii"


def _stand_in(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    bad = error.object[error.start:error.end]
    return "".join(ASCII.get(ch, "?") for ch in bad), error.end


codecs.register_error(ERRORS, _stand_in)


def safe_streams() -> None:
    """Make stdout and stderr write a stand-in for what their encoding cannot carry, instead of raising."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure") and (stream.errors or "strict") == "strict":
            try:
                stream.reconfigure(errors=ERRORS)
            except (ValueError, OSError):  # a stream that cannot change now: leave it as it is
                pass


def _one_line(message, category, filename, lineno, file=None, line=None) -> None:
    text = str(message).strip().splitlines()[0] if str(message).strip() else category.__name__
    print(f"warning: {text}", file=file or sys.stderr)


@contextmanager
def user_warnings() -> Iterator[None]:
    """Warnings print as 'warning: <message>' on one line (no Python file and line); user notices always show."""
    from simplenn.core.errors import Notice

    with warnings.catch_warnings():
        warnings.showwarning = _one_line
        warnings.simplefilter("always", Notice)
        yield


@contextmanager
def stop_signals() -> Iterator[None]:
    """SIGTERM raises Terminated (a KeyboardInterrupt) in the main thread, so partial files are cleaned up and
    the command exits 143; the previous handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise Terminated(signum)

    old = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
