"""`simplenn-bench run`: measure a grid of cells into a run folder (or `--resume` one), then print a summary."""
from __future__ import annotations

import json
import shlex
import signal
import sys
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

from simplenn.core import files, validate
from simplenn.measure.runners import PACKAGES
from simplenn.core.errors import FieldError, UsageError
from simplenn.sweep import config as sweep_config
from simplenn.sweep.config import KEYS, ConfigKey
from simplenn.sweep.presets import available

GRID_FLAGS = tuple(k.name for k in KEYS if k.flag)
# A key's flag is its name in kebab case, but for these (kept for existing scripts).
FLAG_NAMES = {"impls": "--impl"}
# Fields that only the CLI sets: a file the run writes, the files its configuration comes from.
OWN_FLAGS = {"run_dir": "--out", "resume": "--resume", "config": "--config", "preset": "--preset", "quick": "--quick",
             "sustained": "--sustained"}


def flag_of(key: ConfigKey) -> str:
    return FLAG_NAMES.get(key.name, "--" + key.name.replace("_", "-"))


# Field or key name (as FieldError names it below the CLI) -> the `run` flag that sets it.
FIELD_FLAGS = {**{field: flag_of(sweep_config.BY_NAME[key]) for field, key in sweep_config.FIELD_KEYS.items()},
               **{k.name: flag_of(k) for k in KEYS}, **OWN_FLAGS}


def as_flag(e: FieldError) -> UsageError:
    """A FieldError from below the CLI, naming the flag that sets its field."""
    return e.as_flag(FIELD_FLAGS)


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="measure a device × batch size × widths grid into a run folder")
    g = p.add_argument_group("grid (flags override --config, which overrides --preset/--quick/--sustained and defaults)")
    for key in KEYS:
        if key.flag:
            g.add_argument(flag_of(key), dest=key.name, type=validate.flag(key.check), metavar=key.metavar,
                           help=key.help_text)
    g.add_argument("--config", type=Path, metavar="TOML", help="a sweep.toml with the same keys (batch_sizes = [...])")
    # Not an argparse mutually exclusive group: sweep.toml can pick a base grid too, and one rule
    # (sweep.config.check_one_base) refuses two, whichever way they were asked for.
    g.add_argument("--quick", action="store_true", help="the quick preset: a reduced grid (about a minute on a "
                   "2-core machine)")
    g.add_argument("--preset", metavar="NAME", choices=available(),
                   help="a named, versioned grid: standard (the grid every machine runs for results/machines/, see "
                        "results/README.md), quick, sustained; --config and flags still override it, and run.json "
                        "says which")
    g.add_argument("--sustained", action="store_true",
                   help="the sustained preset, for fanless laptops: 5 s cool-down between cells, 0.2 s blocks, "
                        "2-6 s per cell")
    p.add_argument("--out", type=Path, metavar="DIR", help="new run folder (default results/runs/<time>-<machine>)")
    p.add_argument("--resume", type=Path, metavar="DIR", help="continue an interrupted run folder")
    p.add_argument("--json", action="store_true", help="print the run folder and per-cell summaries as JSON")
    p.set_defaults(func=run)


def config_sources(args) -> tuple[str | None, Path | None, dict]:
    """(preset, sweep.toml, overrides) for sweep.config.load_config, from the parsed `run` flags: --quick and
    --sustained are the preset switches of the overrides, as `quick = true` is one of a sweep.toml."""
    switches = {name: True for name in sweep_config.PRESET_SWITCHES if getattr(args, name, False)}
    return args.preset, args.config, {**{k: getattr(args, k, None) for k in GRID_FLAGS}, **switches}


def build_config(args):
    """The SweepConfig the `run` flags ask for (sweep.config.load_config), errors naming their flags."""
    try:
        return sweep_config.load_config(*config_sources(args))
    except FieldError as e:
        raise as_flag(e) from None


def preset_meta(args) -> dict | None:
    """run.json's `preset` (sweep.config.preset_meta), errors naming their flags."""
    try:
        return sweep_config.preset_meta(*config_sources(args))
    except FieldError as e:
        raise as_flag(e) from None


def _default_out(label: str) -> Path:
    slug = "".join(ch if ch.isalnum() else "-" for ch in label.lower()).strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    return Path("results") / "runs" / f"{datetime.now():%Y%m%d-%H%M%S}-{slug[:40]}"


def run(args) -> int:
    from simplenn import sweep

    if args.resume and (args.out or args.config or args.quick or args.sustained or args.preset
                        or any(getattr(args, k, None) is not None for k in GRID_FLAGS)):
        raise UsageError("--resume continues the stored grid of a run folder; give no grid flags, --config, --preset "
                         "or --out with it")
    with ExitStack() as held:  # the run folder's lock, held until the final summary is printed
        if args.resume:
            state = _resume(args.resume, held)
            if state.meta["status"] == "complete":
                return _finish(state, args.json)  # never modified: no probe, no new `finished`
            from simplenn.system.preflight import require_loadable_tensorflow

            for warning in require_loadable_tensorflow():  # the worker imports TensorFlow: the same guard first
                print(f"warning: {warning}", file=sys.stderr)
            worker = sweep.Worker(state.meta["grid"]["logical_cpus"])
        else:
            state, worker = _start(args, held)
        return _measure(state, worker, args.json)


def _resume(run_dir: Path, held: ExitStack):
    """The stored state of `run_dir`, locked for this process; say what a resume will measure before it starts."""
    from simplenn.store import lock, runfolder
    from simplenn import sweep

    sweep.resume_state(run_dir)  # a missing or foreign folder is refused before anything is locked
    held.enter_context(lock.run_lock(run_dir, "--resume"))
    state = sweep.resume_state(run_dir)
    left, total = sweep.cells_left(state)
    if state.meta["status"] == "complete":
        if left:
            raise UsageError(f"--resume: {run_dir}/{runfolder.RUN_FILE} says complete but {runfolder.SAMPLES_FILE} lacks "
                             f"{left} of its {total} cells (emptied or cut short?); nothing was changed. Measure again "
                             "into a new folder")
        print(f"{run_dir}: complete ({total} of {total} cells); nothing to measure, the run is left unchanged",
              file=sys.stderr)
        return state
    torn = runfolder.RunWriter(run_dir).drop_torn_tail()
    if torn:
        print(f"warning: {torn}", file=sys.stderr)
    empty = f" ({runfolder.SAMPLES_FILE} holds no cell yet: every cell is measured)" if left == total else ""
    print(f"{run_dir}: {left} of {total} cells left to measure{empty}", file=sys.stderr)
    return state


def _start(args, held: ExitStack):
    """A new run folder, created and locked for this process, with its plan written; and the worker it started."""
    from simplenn.system import machine, preflight
    from simplenn.store import lock
    from simplenn import sweep

    config = build_config(args)
    guard_warnings = preflight.require_loadable_tensorflow()
    fp = machine.fingerprint(Path.cwd(), PACKAGES)
    warnings = list(guard_warnings) + machine.preflight_warnings(fp)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    out = Path(args.out or _default_out(fp.get("label", "machine")))
    created = not out.exists()
    held.enter_context(lock.run_lock(files.ensure_dir(out, "--out"), "--out"))
    worker = sweep.Worker(config.logical_cpus)
    try:
        state = sweep.prepare(out, config, worker, fp, warnings, preset=preset_meta(args))
    except BaseException as e:
        worker.stop()
        if created and [p.name for p in out.iterdir()] == [lock.LOCK_FILE]:  # leave no empty folder behind
            (out / lock.LOCK_FILE).unlink()
            out.rmdir()
        if isinstance(e, FieldError):
            raise as_flag(e) from None
        raise
    for note in state.meta["unsupported_before_run"]:
        print(f"unsupported (recorded, not run): {note}", file=sys.stderr)
    notice = sweep.long_plan_notice(state.meta, config, state.run_dir)  # before measuring: how long, and how to stop
    if notice:
        print(notice, file=sys.stderr)
    return state, worker


def _measure(state, worker, as_json: bool) -> int:
    """Measure what is left of the plan with a progress bar and an ETA, then print the summary."""
    from simplenn.system import machine

    from simplenn import sweep
    from simplenn.cli import _summary

    left, total = sweep.cells_left(state)
    with _summary.progress(total - left, total, as_json) as on_progress:
        state = sweep.execute(state, worker, on_progress, thermal=machine.thermal_state)
    return _finish(state, as_json)


def _finish(state, as_json: bool) -> int:
    from simplenn.store import results
    from simplenn.cli import _summary

    # The same per-cell table and answer as the report's, so the two never disagree.
    table, answers = _summary.cells_and_answers(results.load(state.run_dir))
    if as_json:
        cells = json.loads(table.to_json(orient="records"))
        json.dump({"run_dir": str(state.run_dir), "status": state.meta["status"], "warnings": state.warnings,
                   "drift": state.meta.get("drift"), "cells": cells,
                   "answer": [{"machine": a.machine, "sentences": list(a.sentences)} for a in answers]},
                  sys.stdout, indent=2)
        print()
    else:
        _summary.print_summary(state, table, answers)
    hint = f"what was measured is saved; resume with: simplenn-bench run --resume {shlex.quote(str(state.run_dir))}"
    if state.error:  # a write failed (disk full, read-only): exit 2 like any other bad-environment error
        error = as_flag(state.error) if isinstance(state.error, FieldError) else state.error
        print(f"simplenn-bench run: error: {error}; {hint}", file=sys.stderr)
        return 2
    if state.interrupted:
        signum = state.stopped_by or signal.SIGINT
        print(f"{'terminated' if signum == signal.SIGTERM else 'interrupted'}: {hint}", file=sys.stderr)
        return 128 + signum  # 130 after Ctrl-C, 143 after SIGTERM, as shells and supervisors expect
    return 0
