"""`simplenn-bench share RUN`: check a finished run and publish it to results/machines/<machine>-<date>/ for a pull
request: run.json and samples.jsonl, and the report regenerated from them; every published file is scanned."""
from __future__ import annotations

import getpass
import re
import socket
import sys
from pathlib import Path

from simplenn.core.errors import UsageError

FIELD_FLAGS = {"dest": "--dest", "name": "--name"}  # fields named below the CLI (FieldError) -> flags


def add_parser(sub) -> None:
    p = sub.add_parser("share", help="check a finished run (complete, nothing private) and publish it into results/machines/")
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
    from simplenn.analyse.report import write_report
    from simplenn.store import share

    run_dir = args.run_dir.resolve()  # `share .` names the folder, not "."
    meta = share.check_complete(run_dir)
    host, user = _who()
    share.check_private(run_dir, meta, host, user)  # the run's own files first: fail before anything is written
    if args.name is not None and not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", args.name):
        raise UsageError(f"--name: {args.name!r} is not allowed; use lower-case letters, digits, '.', '_' and '-'")
    share.check_dest(run_dir, args.dest)
    machines = args.dest / share.MACHINES_DIR
    share.check_not_shared(machines, meta)
    dest = machines / (args.name or share.folder_name(meta))
    with share.staging(dest) as stage:
        share.copy_published(run_dir, stage)
        # Regenerated from the published files in a folder named like the destination: no trace of the local path.
        write_report([stage], stage)
        share.check_private_folder(stage, meta, host, user)  # every file that would be published
    if not meta.get("preset"):
        print("note: this run was not made with --preset standard; a cross-machine report compares only the cells "
              "all runs share", file=sys.stderr)
    print(f"published {run_dir} to {dest} (run.json, samples.jsonl and the report regenerated from them)")
    print("to submit it:")
    for line in share.git_commands(dest, meta):
        print(f"  {line}")
    return 0
