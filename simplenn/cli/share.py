"""`simplenn-bench share RUN`: check a finished run and copy it to results/machines/<machine>-<date>/ for a pull request."""
from __future__ import annotations

import getpass
import re
import socket
import sys
from pathlib import Path

from simplenn.core.errors import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("share", help="check a finished run (complete, nothing private) and copy it into results/machines/")
    p.add_argument("run_dir", type=Path, metavar="RUN", help="the run folder to contribute")
    p.add_argument("--dest", type=Path, default=Path("results"), metavar="DIR",
                   help="results root of your checkout; the run goes to DIR/machines/<name>/ (default results)")
    p.add_argument("--name", metavar="NAME",
                   help="folder name under machines/ (default <chip>-<gpu cores>c-<date> or <os>-<arch>-<n>cpu-<date>)")
    p.set_defaults(func=run)


def _who() -> tuple[str | None, str | None]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = None
    return socket.gethostname().split(".")[0] or None, user


def run(args) -> int:
    from simplenn.store import share

    meta = share.check_complete(args.run_dir)
    share.check_private(args.run_dir, meta, *_who())
    if args.name is not None and not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", args.name):
        raise UsageError(f"--name: {args.name!r} is not allowed; use lower-case letters, digits, '.', '_' and '-'")
    dest = args.dest / share.MACHINES_DIR / (args.name or share.folder_name(meta))
    share.copy_run(args.run_dir, dest)
    if not meta.get("preset"):
        print("note: this run was not made with --preset standard; a cross-machine report compares only the cells "
              "all runs share", file=sys.stderr)
    print(f"copied {args.run_dir} to {dest}")
    print("to submit it:")
    for line in share.git_commands(dest, meta):
        print(f"  {line}")
    return 0
