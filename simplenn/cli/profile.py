"""`simplenn-bench profile`: trace chosen cells under the profiler and print where the step's time goes, op class
by op class; the raw traces and profile.json stay in a folder (TensorBoard's profile plugin or Perfetto read them)."""
from __future__ import annotations

import itertools
import json
import sys
from datetime import datetime
from pathlib import Path

from simplenn.cli import _args
from simplenn.core.cases import DEFAULT_WIDTHS, MODES
from simplenn.measure.runners import IMPLS

DEFAULT_BATCH_SIZES = (32, 2048)


def add_parser(sub) -> None:
    p = sub.add_parser("profile", help="trace cells under the profiler: where the step's time goes, op class by class")
    p.add_argument("--devices", default="all", type=lambda s: [x for x in s.split(",") if x.strip()],
                   metavar="LIST", help="cpu, gpu, all (default) or TensorFlow names: CPU:0,GPU:0")
    p.add_argument("--batch-sizes", dest="batch_sizes", type=_args.int_list, default=list(DEFAULT_BATCH_SIZES),
                   metavar="LIST", help="default 32,2048")
    p.add_argument("--widths", type=_args.widths_list, default=[DEFAULT_WIDTHS[1:-1]], metavar="LIST",
                   help="hidden sizes between input 784 and output 10, e.g. 100x30 (default)")
    p.add_argument("--modes", type=_args.choice_list(MODES), default=list(MODES), metavar="LIST",
                   help="per-call and/or in-graph (default: both)")
    p.add_argument("--impl", type=_args.choice_list(IMPLS), default=["scratch"], metavar="LIST",
                   help="scratch (default), keras; jax, torch and mlx are reported unsupported (why: docs/profiling.md)")
    p.add_argument("--steps", type=_args.positive_int, metavar="N",
                   help="steps traced per cell (default: one harness block of ≥ 50 ms, 10 to 200 steps)")
    p.add_argument("--all-ops", action="store_true", dest="fresh",
                   help="trace a freshly built step, in which TensorFlow still traces every kernel (in the steady "
                        "state, kernels under ~3 µs run inline untraced and count as executor time)")
    p.add_argument("--no-ceiling", action="store_true", help="skip the matmul ceiling probe (no efficiency figures)")
    p.add_argument("--logical-cpus", type=_args.positive_int, default=1, metavar="N",
                   help="split the CPU into N logical devices")
    p.add_argument("--out", type=Path, metavar="DIR", help="folder for the traces and profile.json "
                   "(default results/profiles/<time>)")
    p.add_argument("--json", action="store_true", help="print profile.json's records as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from simplenn.core import files
    from simplenn.core.cases import Case
    from simplenn.core.errors import FieldError, UsageError
    from simplenn.store import profiles
    from simplenn.sweep.ask import now
    from simplenn.sweep.run import resolve_devices
    from simplenn.sweep.worker import Worker, WorkerError
    from simplenn.system import machine

    out = Path(args.out or Path("results") / "profiles" / f"{datetime.now():%Y%m%d-%H%M%S}")
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"--out: {out} already exists and is not empty; choose a new folder")
    worker = Worker(args.logical_cpus)
    try:
        worker.start()
        try:
            devices = resolve_devices(args.devices, worker.devices, worker.gpu_missing_reason)
        except FieldError as e:
            raise UsageError(f"--devices: {e.detail}") from None
        cases = [Case(d["name"], b, (DEFAULT_WIDTHS[0], *w, DEFAULT_WIDTHS[-1]), impl=impl, mode=mode)
                 for d, w, b, impl, mode in itertools.product(devices, args.widths, args.batch_sizes, args.impl,
                                                              args.modes)]
        files.ensure_dir(out, "--out")
        # Probed before and after the traces, like a run: the ceiling is an upper bound, so the faster probe counts
        # (on a shared machine one probe can land in a busy moment).
        ceilings = {} if args.no_ceiling else _ceilings(worker, devices, cases)
        records = []
        for case in cases:
            options = {"logdir": str(out / profiles.TRACES_DIR / case.id), "n_steps": args.steps, "fresh": args.fresh}
            try:
                msg = worker.request(("profile", case.to_dict(), options, str(out), ceilings.get(case.device)), 600)
            except WorkerError as e:
                msg = ("error", f"{e.status}: {e.reason}")
            record = msg[1] if msg[0] == "result" else {"id": case.id, "case": case.to_dict(), "status": "crashed",
                                                        "reason": msg[1].splitlines()[0]}
            records.append(record)
            print(f"traced {case.id}: {record['status']} {record.get('reason', '')}".rstrip(), file=sys.stderr)
        if not args.no_ceiling:
            after = _ceilings(worker, devices, cases)
            for record in records:
                best = max(ceilings.get(record["case"]["device"], 0.0), after.get(record["case"]["device"], 0.0))
                record["ceiling_gflops"] = best or None
    finally:
        worker.stop()
    meta = {"tool": "simplenn-bench", "created": now(), "machine": machine.fingerprint(Path.cwd()),
            profiles.RUN_KEY: {"steps": args.steps, "fresh": args.fresh, "cells": records}}
    files.write_json(out / profiles.PROFILE_FILE, meta, "--out")
    if args.json:
        json.dump(records, sys.stdout, indent=2, default=str)
        print()
    else:
        print_tables(profiles.table({out.name: meta}), out)
    return 0 if all(r["status"] in ("ok", "unsupported") for r in records) else 1


def _ceilings(worker, devices: list[dict], cases: list) -> dict[str, float]:
    from simplenn.measure.ceiling import ceiling_shapes
    from simplenn.sweep.worker import WorkerError

    found = {}
    for d in devices:
        try:
            msg = worker.request(("ceiling", d["name"], ceiling_shapes([c for c in cases if c.device == d["name"]])),
                                 300)
        except WorkerError as e:
            msg = ("error", e.reason)
        if msg[0] == "result":
            found[d["name"]] = msg[1]["gflops"]
        else:
            print(f"warning: ceiling probe on {d['name']} failed: {msg[1].splitlines()[0]}", file=sys.stderr)
    return found


def print_tables(prof, out: Path) -> None:
    """Each cell's class table, its witness and efficiencies, then one line per cell."""
    from simplenn.analyse.report import inside_step

    summary = inside_step.cell_summary(prof)
    for row in summary.itertuples():
        print(f"\n{row.cell_id}: traced step {row.traced_step_s * 1e3:.3f} ms over {row.n_steps} steps; harness "
              f"{row.harness_step_s * 1e3:.3f} ms; unattributed {100 * row.unattributed_share:+.1f} % "
              f"({'within' if row.agrees else 'OUTSIDE'} ±{100 * inside_step.TRACE_AGREEMENT:.0f} %)")
        print(f"  {'class':<34} {'µs/step':>10} {'share':>7}")
        for c in inside_step.class_table(prof, row.cell_id).itertuples():
            print(f"  {c.label:<34} {c.us_per_step:>10.1f} {100 * c.share:>6.1f} %")
        ceiling = (f" ({row.matmul_pct_ceiling:.0f} % of the ceiling {row.ceiling_gflops:.1f} GFLOP/s)",
                   f" ({row.step_pct_ceiling:.0f} %)") if row.ceiling_gflops > 0 else (" (no ceiling measured)", "")
        print(f"  matmul only {row.matmul_gflops:.1f} GFLOP/s{ceiling[0]} over the {100 * row.matmul_flops_traced_share:.0f} "
              f"% of matmul FLOPs traced; whole step {row.step_gflops:.1f} GFLOP/s{ceiling[1]}")
        print(f"  trace: {out / row.trace}\n  Perfetto: {out / row.trace.replace('.xplane.pb', '.trace.json')}")
    skipped = prof[prof["status"] != "ok"].drop_duplicates("cell_id")
    for row in skipped.itertuples():
        print(f"\n{row.cell_id}: {row.status} {row.reason}".rstrip())
    print()
    for row in summary.itertuples():
        print(inside_step.sentence(summary.loc[row.Index]))
    for note in inside_step.witness_notes(summary):
        print(f"warning: {note}")
    print(f"\n{inside_step.FORMULA_NOTE}")
    print(f"profile: {out / 'profile.json'}; a .xplane.pb opens in TensorBoard's profile plugin (pip install "
          f"tensorboard tensorboard-plugin-profile; tensorboard --logdir {out / 'traces' / '<cell id>'}), a "
          ".trace.json at ui.perfetto.dev (docs/profiling.md)")
