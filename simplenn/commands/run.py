"""`simplenn-bench run`: measure a grid of cells into a run folder (or `--resume` one), then print a summary."""
from __future__ import annotations

import json
import platform
import signal
import sys
from datetime import datetime
from pathlib import Path

from simplenn.commands import _args
from simplenn.errors import FieldError, UsageError
from simplenn.sweep.config import CONFIG_KEYS, FIELD_FLAGS, KEYS, QUICK, SUSTAINED, ConfigKey, SweepConfig

# How each kind of configuration key is parsed, from a flag's text or a sweep.toml value written as text.
PARSERS = {"devices": lambda s: [x for x in s.split(",") if x.strip()], "ints": _args.int_list,
           "hidden": _args.widths_list, "seconds": _args.positive_float, "seconds0": _args.non_negative_float,
           "count": _args.positive_int, "int": int}
METAVARS = {"seconds": "S", "seconds0": "S", "count": "N", "int": None}
GRID_FLAGS = tuple(k.name for k in KEYS)


def _parser_for(key: ConfigKey):
    return _args.choice_list(key.choices) if key.kind == "choices" else PARSERS[key.kind]


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="measure a device × batch size × widths grid into a run folder")
    g = p.add_argument_group("grid (flags override --config, which overrides --quick/--sustained and defaults)")
    for key in KEYS:
        g.add_argument(key.flag, dest=key.name, type=_parser_for(key), metavar=METAVARS.get(key.kind, "LIST"),
                       help=key.help)
    g.add_argument("--config", type=Path, metavar="TOML", help="a sweep.toml with the same keys (batch_sizes = [...])")
    preset = g.add_mutually_exclusive_group()
    preset.add_argument("--quick", action="store_true", help="a reduced grid (about a minute on a 2-core machine)")
    preset.add_argument("--sustained", action="store_true",
                        help="for fanless laptops: 5 s cool-down between cells, 0.2 s blocks, 2 s per cell")
    p.add_argument("--out", type=Path, metavar="DIR", help="new run folder (default results/runs/<time>-<machine>)")
    p.add_argument("--resume", type=Path, metavar="DIR", help="continue an interrupted run folder")
    p.add_argument("--json", action="store_true", help="print the run folder and per-cell summaries as JSON")
    p.set_defaults(func=run)


def _load_toml(path: Path) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    if not path.is_file():
        raise UsageError(f"--config: {path} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"--config: {path} is not valid TOML ({e})") from None
    allowed = CONFIG_KEYS + ("quick", "sustained")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise UsageError(f"--config: unknown keys {unknown} in {path}; allowed: {', '.join(allowed)}")
    return _normalise_toml(data, path)


def _normalise_toml(data: dict, path: Path) -> dict:
    """TOML values in the same form the flags produce (lists of ints, hidden-size tuples, …)."""
    out = {}
    keys = {k.name: k for k in KEYS}
    for name, value in data.items():
        if name not in keys:  # quick, sustained
            out[name] = value
            continue
        try:
            if isinstance(value, bool) and name == "jit":
                value = "on" if value else "off"
            if isinstance(value, list):
                value = ",".join("x".join(map(str, v)) if isinstance(v, list) else str(v) for v in value)
            out[name] = _parser_for(keys[name])(str(value))
        except Exception as e:  # noqa: BLE001 — argparse type errors carry the message we want
            raise UsageError(f"--config: {path}: key {name!r}: {e}") from None
    return out


def build_config(args):
    """SweepConfig from defaults < preset < TOML < flags."""
    values = _load_toml(args.config) if args.config else {}
    values.update({k: getattr(args, k) for k in GRID_FLAGS if getattr(args, k, None) is not None})
    grid: dict = {}
    if args.quick or values.pop("quick", False):
        grid.update(QUICK)
    if args.sustained or values.pop("sustained", False):
        grid.update(SUSTAINED)
    for key in KEYS:
        if key.name not in values:
            continue
        value = values[key.name]
        if key.name == "widths":
            grid["wide_hidden"] = ()  # hidden sizes given: measured at every batch size, none only at wide_batch
        if key.name == "jit":
            value = [v == "on" for v in value]
        grid[key.grid_key] = tuple(value) if isinstance(value, list) else value
    try:
        return SweepConfig.from_dict(grid)
    except FieldError as e:
        raise e.as_flag(FIELD_FLAGS) from None


def _default_out(label: str) -> Path:
    slug = "".join(ch if ch.isalnum() else "-" for ch in label.lower()).strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    return Path("results") / "runs" / f"{datetime.now():%Y%m%d-%H%M%S}-{slug[:40]}"


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def run(args) -> int:
    from tqdm import tqdm

    from simplenn import compat, machine, preflight, sweep

    if args.resume and (args.out or args.config or args.quick or args.sustained
                        or any(getattr(args, k, None) is not None for k in GRID_FLAGS)):
        raise UsageError("--resume continues the stored grid of a run folder; give no grid flags, --config or --out with it")
    signal.signal(signal.SIGTERM, _raise_interrupt)
    if args.resume:
        state = sweep.resume_state(args.resume)
        grid = state.meta["grid"]
        worker = sweep.Worker(grid["logical_cpus"])
        if state.meta.get("status") == "complete":
            print(f"{args.resume} is already complete; nothing to resume", file=sys.stderr)
    else:
        config = build_config(args)
        guard = preflight.preflight(compat.installed_versions(), platform.system(), platform.machine(), sys.version_info[:3])
        if guard.fatal:
            raise UsageError(guard.fatal)
        fp = machine.fingerprint(Path.cwd())
        warnings = list(guard.warnings) + machine.preflight_warnings(fp)
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
        out = args.out or _default_out(fp.get("label", "machine"))
        worker = sweep.Worker(config.logical_cpus)
        try:
            state = sweep.prepare(out, config, worker, fp, warnings)
        except FieldError as e:
            worker.stop()
            raise e.as_flag(FIELD_FLAGS) from None
        except BaseException:
            worker.stop()
            raise
        for note in state.meta["unsupported_before_run"]:
            print(f"unsupported (recorded, not run): {note}", file=sys.stderr)
    plan_total = len(state.meta["plan"])
    quiet = args.json or not sys.stderr.isatty()
    bar = tqdm(total=plan_total, unit="cell", disable=quiet, file=sys.stderr)

    def on_progress(p) -> None:
        bar.n = p.done
        bar.set_postfix_str(f"{p.record['id']} {p.record['status']}")
        bar.refresh()
        if quiet and not args.json:
            print(f"[{p.done}/{p.total}] {p.record['id']}: {p.record['status']} {p.record.get('reason', '')}".rstrip(),
                  file=sys.stderr)

    state = sweep.execute(state, worker, on_progress, thermal=machine.thermal_state)
    bar.close()
    return _finish(state, args.json)


def _finish(state, as_json: bool) -> int:
    from simplenn import results
    from simplenn.report import cell_table, n_weights_of

    # The same per-cell table as the report's, so the two never disagree.
    table = cell_table(results.load(state.run_dir))
    if as_json:
        cells = json.loads(table.to_json(orient="records"))
        json.dump({"run_dir": str(state.run_dir), "status": state.meta["status"], "warnings": state.warnings,
                   "drift": state.meta.get("drift"), "cells": cells}, sys.stdout, indent=2)
        print()
    else:
        print(f"{'cell':<32} {'status':<11} {'median ms/step':>14} {'IQR %':>6} {'samples/s':>11} {'GFLOP/s':>8} "
              f"{'% ceiling':>9}")
        table["size"] = table["widths"].map(n_weights_of)
        for row in table.sort_values(["size", "batch_size", "mode", "device"]).itertuples():
            if row.status == "ok":
                print(f"{row.cell_id:<32} {row.status:<11} {row.median_step_s * 1e3:>14.4f} {row.iqr_rel * 100:>6.1f} "
                      f"{row.samples_per_s:>11.0f} {row.gflop_per_s:>8.1f} {row.pct_of_ceiling:>9.1f}")
            else:
                print(f"{row.cell_id:<32} {row.status:<11} {row.reason}")
        print("median of timed blocks (block time / steps per block); IQR % = IQR / median; GFLOP/s uses "
              "6 × batch × weight entries; % ceiling = of the device's tf.matmul GFLOP/s measured in this run")
        if state.meta.get("gpu_missing_reason"):
            print(f"GPU: absent, not measured — {state.meta['gpu_missing_reason']}")
        for w in state.warnings:
            print(f"warning: {w}")
        print(f"results: {state.run_dir}")
    if state.interrupted:
        print(f"interrupted: what was measured is saved; resume with: simplenn-bench run --resume {state.run_dir}",
              file=sys.stderr)
        return 130
    return 0
