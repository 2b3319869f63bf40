"""The machine fingerprint recorded in every run's run.json.

Every probe is a small command whose text output goes through a pure ``parse_*`` function, so the
parsers are tested on captured macOS output from a Linux box. Probes never raise: a missing command,
a non-zero exit or a 2 s timeout reads as "unknown" (None). macOS commands are not even started
elsewhere. The fingerprint never contains the hostname: run.json files get shared.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

from simplenn.system.compat import PACKAGES, installed_versions
from simplenn.system.macos import (  # noqa: F401  (the parsers are part of this module's interface)
    MAC_TOOLS,
    THERMAL_KEY,
    UNKNOWN_APPLE_CHIP,
    chip_from_brand,
    int_or_none,
    parse_clusters,
    parse_gpu_cores,
    parse_hardware_chip,
    parse_ioreg_gpu_cores,
    parse_low_power_mode,
    parse_pmset_batt,
    parse_sysctl,
    parse_sysctl_brand,
    parse_thermal_pressure,
)

PROBE_TIMEOUT_S = 2.0
THREAD_VARS = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
# Terraform shares the TF_ prefix and keeps credentials in it (TF_TOKEN_*, TF_VAR_*): run.json gets shared.
_TERRAFORM_PREFIXES = ("TF_VAR_", "TF_TOKEN_", "TF_CLI_", "TF_CLOUD_", "TF_REGISTRY_", "TF_LOG",
                       "TF_WORKSPACE", "TF_DATA_DIR", "TF_INPUT", "TF_IN_AUTOMATION", "TF_PLUGIN_CACHE_DIR",
                       "TF_IGNORE", "TF_STATE_")
_SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "API_KEY", "AUTH")
# The project checkout, for git_commit: this file lives in <project>/simplenn/.
_DEFAULT_PROJECT_DIR = Path(__file__).resolve().parents[1]


def _run(cmd: Sequence[str], cwd: Path | None = None, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """Return the command's stdout, or None if it is missing, fails or times out."""
    try:
        done = subprocess.run(
            list(cmd), cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return done.stdout if done.returncode == 0 else None


def _is_mac() -> bool:
    return sys.platform == "darwin"


# ---------------------------------------------------------------- parsers (pure)


def parse_proc_cpuinfo(text: str | None) -> str | None:
    """Return the CPU model from /proc/cpuinfo (``model name``; ARM boards have ``Model``/``Hardware``)."""
    fields: dict[str, str] = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            fields.setdefault(key.strip().lower(), value.strip())
    for key in ("model name", "model", "hardware", "cpu model"):
        # x86's "model" is a bare family number; only a name is useful.
        if key in fields and not fields[key].isdigit():
            return " ".join(fields[key].split())
    return None


def parse_os_release(text: str | None) -> str | None:
    """Return PRETTY_NAME from /etc/os-release."""
    match = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', text or "", flags=re.MULTILINE)
    return (match.group(1).strip() or None) if match else None


def tf_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """Return the TensorFlow ``TF_*`` variables of ``environ``, without Terraform's and with secrets redacted."""
    chosen = {}
    for name in sorted(environ):
        if not name.startswith("TF_") or name.startswith(_TERRAFORM_PREFIXES):
            continue
        secret = any(word in name.upper() for word in _SECRET_WORDS)
        chosen[name] = "<redacted>" if secret else environ[name]
    return chosen


def make_label(cpu_model: str | None, chip: str | None, system: str, machine: str) -> str:
    """Return a short human label: the Apple chip, else the CPU model and "(OS arch)"."""
    if chip:
        return chip
    os_name = "macOS" if system == "Darwin" else system
    return f"{cpu_model or 'unknown CPU'} ({os_name} {machine})"


def preflight_warnings(fp: Mapping[str, Any]) -> list[str]:
    """Return reasons a sweep on this machine may give unsteady times (empty when none), one line each."""
    warnings = []
    if fp.get("power_source") == "battery":
        percent = fp.get("battery_percent")
        charge = f" ({percent} %)" if percent is not None else ""
        warnings.append(
            f"Running on battery{charge}: macOS may lower clocks to save power; plug in for stable times."
        )
    if fp.get("low_power_mode"):
        warnings.append("Low Power Mode is on: it caps CPU and GPU clocks. Turn it off (System Settings > Battery, "
                        "or `sudo pmset -a lowpowermode 0`) before measuring.")
    thermal = fp.get("thermal", "unknown")
    if thermal not in ("nominal", "unknown"):
        warnings.append(
            f"Thermal pressure {thermal}: the machine is already throttling or close to it; "
            "let it cool down before measuring."
        )
    return warnings


def setup_warnings(fp: Mapping[str, Any], python: tuple[int, ...]) -> list[str]:
    """Return one line per setup that silently loses the Metal GPU or steady clocks, each with its fix (pure).

    ``fp`` is a fingerprint (its os, rosetta, versions, power_source, low_power_mode); ``python`` the version.
    """
    warnings = []
    on_mac = fp.get("os") == "macOS"
    if on_mac and fp.get("rosetta"):
        warnings.append("This Python is x86_64 under Rosetta 2 on an Apple Silicon Mac (sysctl.proc_translated=1): "
                        "no Metal GPU. Fix: install an arm64 Python (python.org, or Homebrew in /opt/homebrew) and "
                        "recreate the venv.")
    if on_mac and tuple(python[:2]) >= (3, 13):
        warnings.append(f"Python {'.'.join(map(str, python[:2]))}: tensorflow-metal has no wheel for it "
                        "(CPython 3.9-3.12 only), so no Metal GPU. Fix: `python3.12 -m venv .venv`.")
    versions = fp.get("versions") or {}
    if versions.get("tensorflow-macos") and versions.get("tensorflow"):
        warnings.append(f"Both tensorflow-macos {versions['tensorflow-macos']} and tensorflow "
                        f"{versions['tensorflow']} are installed: they share one package directory and can pin an "
                        "old TensorFlow. Fix: `pip uninstall -y tensorflow-macos tensorflow` then `pip install -e .`")
    return warnings + preflight_warnings(fp)


# ---------------------------------------------------------------- probes (impure, never raise)


def thermal_state() -> str:
    """Return the thermal pressure level ("nominal" ... "sleeping", an unknown number as text) or "unknown".

    One ``notifyutil`` call (milliseconds, no sudo). ``pmset -g therm`` is not used: on Apple Silicon it prints
    only its notes, even while the chip throttles (exelban/stats#749, macmade/Hot#80). Caveat: notifyutil prints
    0 for a key nobody publishes, so a Mac whose thermald never posted the key reads "nominal".
    """
    return parse_thermal_pressure(_run([MAC_TOOLS["notifyutil"], "-g", THERMAL_KEY])) if _is_mac() else "unknown"


def low_power_mode() -> bool | None:
    """Return whether macOS Low Power Mode is on (``pmset -g``); None off the Mac or when pmset says nothing."""
    return parse_low_power_mode(_run([MAC_TOOLS["pmset"], "-g"])) if _is_mac() else None


def _power() -> tuple[str, int | None]:
    if _is_mac():
        return parse_pmset_batt(_run([MAC_TOOLS["pmset"], "-g", "batt"]))
    try:
        battery = psutil.sensors_battery()
    except (AttributeError, NotImplementedError, OSError, RuntimeError):
        battery = None
    if battery is None:
        # No battery seen: a desktop, a VM or a container; none of them tells us about mains power.
        return "unknown", None
    source = "ac" if battery.power_plugged else "battery" if battery.power_plugged is False else "unknown"
    return source, round(battery.percent)


def power_source() -> str:
    """Return "ac", "battery" or "unknown"."""
    return _power()[0]


def _git(project_dir: Path) -> tuple[str | None, bool | None]:
    commit = _run(["git", "rev-parse", "HEAD"], cwd=project_dir)
    if not commit:
        return None, None
    # --no-optional-locks: never take the index lock from under someone committing at the same time.
    # Untracked files (fresh results) do not make the code dirty.
    status = _run(
        ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"], cwd=project_dir
    )
    return commit.strip(), (bool(status.strip()) if status is not None else None)


def _read_text(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return None


def _sysctl(*args: str) -> str | None:
    return _run([MAC_TOOLS["sysctl"], *args])


def _clusters() -> dict[str, int]:
    levels = int_or_none(_sysctl("-n", "hw.nperflevels")) or 0
    names = [f"hw.perflevel{i}.{key}" for i in range(levels) for key in ("name", "physicalcpu")]
    # -i: skip unknown names instead of failing the whole query. macOS 12 has hw.perflevelN.physicalcpu but no
    # hw.perflevelN.name (Dr-Noob/cpufetch#139); without -i sysctl exits non-zero and no cluster is read
    # (archspec/archspec#233 uses -i for the same reason).
    return parse_clusters(_sysctl("-i", *names)) if names else {}


def _gpu_cores() -> int | None:
    # system_profiler's sppci_cores is empty when it is slow or on a virtual Mac (modular/rules_mojo#56); the GPU
    # driver's IORegistry entry carries the count too (sbryngelson/ANEForge#151 reads it first).
    cores = parse_gpu_cores(_run([MAC_TOOLS["system_profiler"], "SPDisplaysDataType", "-json"], timeout_s=15))
    if cores is None:
        cores = parse_ioreg_gpu_cores(_run([MAC_TOOLS["ioreg"], "-r", "-d", "1", "-c", "AGXAccelerator"]))
    return cores


def _mac_facts() -> dict[str, Any]:
    brand = parse_sysctl_brand(_sysctl("-n", "machdep.cpu.brand_string"))
    chip = chip_from_brand(brand)
    # 1 when this (x86_64) Python runs under Rosetta 2 on Apple Silicon: no Metal GPU then.
    translated = _sysctl("-n", "sysctl.proc_translated")
    rosetta = translated.strip() == "1" if translated is not None else None
    apple_silicon = platform.machine() == "arm64" or rosetta
    if chip is None and apple_silicon:
        # Launch-era M1 says "Apple processor" (archspec/archspec#38); system_profiler names the chip.
        hardware = _run([MAC_TOOLS["system_profiler"], "SPHardwareDataType"], timeout_s=15)
        chip = parse_hardware_chip(hardware) or UNKNOWN_APPLE_CHIP
    clusters = _clusters()
    version = (_run([MAC_TOOLS["sw_vers"], "-productVersion"]) or "").strip() or platform.mac_ver()[0] or None
    return {
        "cpu_model": brand,
        "chip": chip,
        "model": (_sysctl("-n", "hw.model") or "").strip() or None,
        "cpu_clusters": clusters,
        "cores_performance": clusters.get("Performance"),
        "cores_efficiency": clusters.get("Efficiency"),
        "gpu_cores": _gpu_cores(),
        "os": "macOS",
        "os_version": version,
        "rosetta": rosetta,
        "low_power_mode": low_power_mode(),
    }


def _other_facts() -> dict[str, Any]:
    cpu_model = parse_proc_cpuinfo(_read_text("/proc/cpuinfo")) or platform.processor() or None
    system = platform.system()
    distro = parse_os_release(_read_text("/etc/os-release")) if system == "Linux" else None
    release = platform.release()
    return {
        "cpu_model": cpu_model,
        "chip": None,
        "model": None,
        "cpu_clusters": {},
        "cores_performance": None,
        "cores_efficiency": None,
        "gpu_cores": None,
        "os": system,
        "os_version": f"{distro} (kernel {release})" if distro else release or None,
        "rosetta": None,
        "low_power_mode": None,
    }


def fingerprint(project_dir: Path | None = None, packages: tuple[str, ...] = ()) -> dict[str, Any]:
    """This machine and its software, JSON-ready (no hostname); `packages`: more versions to record (runners.PACKAGES)."""
    facts = _mac_facts() if _is_mac() else _other_facts()
    machine = platform.machine()
    power, percent = _power()
    commit, dirty = _git(project_dir or _DEFAULT_PROJECT_DIR)
    return {
        "label": make_label(facts["cpu_model"], facts["chip"], platform.system(), machine),
        **facts,
        "cores_logical": psutil.cpu_count(logical=True),
        "cores_physical": psutil.cpu_count(logical=False),
        "ram_bytes": psutil.virtual_memory().total,
        "arch": machine,
        "python": platform.python_version(),
        "versions": installed_versions(tuple(dict.fromkeys(PACKAGES + tuple(packages)))),
        "threads": {name: os.environ.get(name) for name in THREAD_VARS},
        "tf_env": tf_environment(os.environ),
        "power_source": power,
        "battery_percent": percent,
        "thermal": thermal_state(),
        "git_commit": commit,
        "git_dirty": dirty,
    }
