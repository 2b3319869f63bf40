"""`simplenn-bench info`: versions, the devices TensorFlow sees, and each device's measured matmul ceiling."""
from __future__ import annotations

import json
import sys

from simplenn.cli import _args
from simplenn.measure.runners import PACKAGES

FIELD_FLAGS = {"logical_cpus": "--logical-cpus"}  # fields named below the CLI (FieldError) -> this command's flags


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="versions, devices and their measured ceilings")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument("--logical-cpus", type=_args.positive_int, default=1, metavar="N",
                   help="split the CPU into N logical devices (how the two-device path is exercised without a GPU)")
    p.add_argument("--no-ceiling", action="store_true", help="skip the matmul ceiling probe (about 1 s per device)")
    p.set_defaults(func=run)


def collect(logical_cpus: int = 1, ceiling: bool = True) -> dict:
    """Versions, machine, devices and (optionally) each device's measured ceiling as a JSON-ready dict."""
    from simplenn.system import devices, machine
    from simplenn.measure.ceiling import probe_ceiling

    devices.setup_logical_cpus(logical_cpus)
    present = devices.list_devices()
    fp = machine.fingerprint(packages=PACKAGES)
    out = {
        "machine": fp,
        "setup_warnings": machine.setup_warnings(fp, sys.version_info[:3]),
        "devices": [d.to_dict() for d in present],
        "gpu_missing_reason": None if any(d.kind == "gpu" for d in present) else devices.gpu_missing_reason(),
    }
    if ceiling:
        out["ceilings"] = [probe_ceiling(d.name).to_record().to_json() for d in present]
    return out


def run(args) -> int:
    from simplenn.system.preflight import require_loadable_tensorflow

    # Before TensorFlow is imported here: a mismatched Metal plugin is a one-line reason and fix, not a traceback.
    warnings = require_loadable_tensorflow()
    info = collect(args.logical_cpus, ceiling=not args.no_ceiling)
    info["setup_warnings"] = list(dict.fromkeys([*warnings, *info["setup_warnings"]]))
    if args.json:
        json.dump(info, sys.stdout, indent=2, default=str)
        print()
        return 0
    fp = info["machine"]
    print(f"machine          {fp.get('label')}  ({fp.get('os')} {fp.get('os_version')}, {fp.get('arch')})")
    print(f"python           {fp.get('python')}")
    for pkg in ("tensorflow", "keras", "tensorflow-metal"):
        print(f"{pkg:<16} {fp['versions'].get(pkg) or 'not installed'}")
    if fp.get("os") == "macOS":
        print(format_mac(fp))
    for warning in info["setup_warnings"]:
        print(f"warning: {warning}")
    ceilings = {c["device"]: c for c in info.get("ceilings", [])}
    print("devices (TensorFlow's view; ceiling = tf.matmul float32 GFLOP/s, median of timed blocks; a run also probes "
          "its steps' own matmuls):")
    for d in info["devices"]:
        c = ceilings.get(d["name"])
        ceiling = f"ceiling {c['gflops']:.1f} GFLOP/s (matmul {c['matmul']})" if c else ""
        print(f"  {d['name']:<7} kind={d['kind']:<4} backend={d['backend']:<6} {d['description']:<8} {ceiling}")
    if info["gpu_missing_reason"]:
        print(f"  no GPU: {info['gpu_missing_reason']}")
    return 0


def format_mac(fp: dict) -> str:
    """The Mac lines of `info`: chip and model, CPU clusters by macOS's names, power and thermal pressure."""
    clusters = " + ".join(f"{n} {name}" for name, n in (fp.get("cpu_clusters") or {}).items()) or "unknown"
    lpm = {True: "on", False: "off"}.get(fp.get("low_power_mode"), "unknown")
    return (f"chip             {fp.get('chip') or 'unknown'} ({fp.get('model') or 'model unknown'}), "
            f"CPU {clusters}, GPU {fp.get('gpu_cores') or '?'} cores\n"
            f"power            {fp.get('power_source')}, Low Power Mode {lpm}, "
            f"thermal pressure {fp.get('thermal')} (notifyutil)")
