"""`simplenn-bench`: argument parsing and dispatch only. Each subcommand lives in simplenn/cli/<name>.py
with `add_parser(subparsers)` and `run(args) -> int`; the list follows the user's workflow."""
from __future__ import annotations

import argparse
import importlib
import signal
import sys

from simplenn.core.errors import FieldError, UsageError
from simplenn.system import plugins

COMMANDS = ("info", "train", "run", "profile", "report", "compare", "share")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simplenn-bench",
        description="Benchmark a from-scratch TensorFlow MLP training step on CPU and GPU.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"simplenn.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from simplenn.cli._console import safe_streams, stop_signals, user_warnings

    safe_streams()  # before argparse prints anything: its help and errors go through the same streams
    parser = build_parser()
    args = parser.parse_args(argv)
    with user_warnings(), stop_signals():
        try:
            plugins.plugin_paths()  # a bad SIMPLENN_PLUGIN fails here, before any worker starts
            return int(args.func(args) or 0)
        except FieldError as e:  # raised below the CLI naming a field: say the flag that sets it
            flags = getattr(importlib.import_module(f"simplenn.cli.{args.command}"), "FIELD_FLAGS", {})
            print(f"simplenn-bench {args.command}: error: {e.as_flag(flags)}", file=sys.stderr)
            return 2
        except UsageError as e:
            print(f"simplenn-bench {args.command}: error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as e:
            signum = getattr(e, "signum", signal.SIGINT)
            print(f"simplenn-bench {args.command}: {'terminated' if signum == signal.SIGTERM else 'interrupted'}",
                  file=sys.stderr)
            return 128 + signum

