"""The machine fingerprint recorded in every run's run.json.

Every probe is a small command whose text output goes through a pure ``parse_*`` function, so the
parsers are tested on captured macOS output from a Linux box. Probes never raise: a missing command,
a non-zero exit or a 2 s timeout reads as "unknown" (None). macOS commands are not even started
elsewhere. The fingerprint never contains the hostname: run.json files get shared.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

from simplenn.compat import installed_versions

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


def parse_sysctl(text: str | None) -> dict[str, str]:
    """Return the ``name: value`` pairs of ``sysctl name ...`` output."""
    pairs: dict[str, str] = {}
    for line in (text or "").splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() and " " not in name.strip():
            pairs[name.strip()] = value.strip()
    return pairs


def parse_sysctl_brand(text: str | None) -> str | None:
    """Return the CPU brand from ``sysctl -n machdep.cpu.brand_string`` (or its ``name: value`` form)."""
    if not text or not text.strip():
        return None
    value = parse_sysctl(text).get("machdep.cpu.brand_string", text.strip().splitlines()[0])
    return " ".join(value.split()) or None


def chip_from_brand(brand: str | None) -> str | None:
    """Return the Apple chip name ("Apple M2 Pro") or None for Intel and Rosetta's "VirtualApple"."""
    # Any "Apple ..." brand counts, so a chip newer than this code is still reported by its name.
    if brand and re.match(r"Apple\s+\S", brand):
        return brand
    return None


def parse_perflevels(text: str | None) -> tuple[int | None, int | None]:
    """Return (performance, efficiency) core counts from
    ``sysctl hw.perflevel0.physicalcpu hw.perflevel1.physicalcpu``."""
    pairs = parse_sysctl(text)
    if not pairs and text:
        # `sysctl -n` prints bare values, one a line, in the order asked.
        values = text.split()
        pairs = {f"hw.perflevel{i}.physicalcpu": v for i, v in enumerate(values[:2])}
    return (
        _int_or_none(pairs.get("hw.perflevel0.physicalcpu")),
        _int_or_none(pairs.get("hw.perflevel1.physicalcpu")),
    )


def parse_gpu_cores(json_text: str | None) -> int | None:
    """Return the GPU core count from ``system_profiler SPDisplaysDataType -json`` (key sppci_cores)."""
    try:
        entries = json.loads(json_text or "")["SPDisplaysDataType"]
    except (ValueError, KeyError, TypeError):
        return None
    for entry in entries if isinstance(entries, list) else []:
        cores = _int_or_none(entry.get("sppci_cores")) if isinstance(entry, dict) else None
        if cores is not None:
            return cores
    return None


def parse_pmset_batt(text: str | None) -> tuple[str, int | None]:
    """Return (power source "ac" / "battery" / "unknown", battery percent or None) from ``pmset -g batt``."""
    if not text:
        return "unknown", None
    source_match = re.search(r"Now drawing from '([^']+)'", text)
    source = source_match.group(1).lower() if source_match else ""
    if "ac" in source.split():
        power = "ac"
    elif "battery" in source or "ups" in source:
        # A desktop drawing from its UPS has lost mains power: as unsteady as a laptop on battery.
        power = "battery"
    else:
        power = "unknown"
    # Desktops (Mac mini/Studio) print no battery line, so no percent.
    percent_match = re.search(r"^\s*-.*?(\d{1,3})%;", text, flags=re.MULTILINE)
    return power, int(percent_match.group(1)) if percent_match else None


def parse_pmset_therm(text: str | None) -> str:
    """Return "nominal", a short description of thermal pressure, or "unknown" from ``pmset -g therm``."""
    if not text or not text.strip():
        return "unknown"
    pressure = []
    for name, value in re.findall(r"(CPU_Speed_Limit|CPU_Scheduler_Limit)\s*=\s*(\d+)", text):
        if int(value) < 100:
            pressure.append(f"{name}={value}")
    for kind, level in re.findall(r"(Thermal|Performance)\s+Warning\s+Level\s*[:=]?\s*(?:set to\s*)?(\d+)",
                                  text, flags=re.IGNORECASE):
        if int(level) > 0:
            pressure.append(f"{kind.lower()} warning level {level}")
    if pressure:
        return "pressure: " + ", ".join(pressure)
    recognised = (
        "No thermal warning level has been recorded" in text
        or re.search(r"CPU_Speed_Limit\s*=", text)
        or re.search(r"Warning\s+Level\s*[:=]?\s*(?:set to\s*)?0\b", text, flags=re.IGNORECASE)
    )
    # Unrecognised output never reads as healthy.
    return "nominal" if recognised else "unknown"


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
    """Return reasons a sweep on this machine may give unsteady times (empty when none)."""
    warnings = []
    if fp.get("power_source") == "battery":
        percent = fp.get("battery_percent")
        charge = f" ({percent} %)" if percent is not None else ""
        warnings.append(
            f"Running on battery{charge}: macOS may lower clocks to save power; plug in for stable times."
        )
    thermal = fp.get("thermal", "unknown")
    if thermal not in ("nominal", "unknown"):
        warnings.append(
            f"Thermal {thermal}: the machine is already throttled; let it cool down before measuring."
        )
    return warnings


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- probes (impure, never raise)


def thermal_state() -> str:
    """Return "nominal", a description of thermal pressure, or "unknown" (cheap: one pmset call)."""
    return parse_pmset_therm(_run(["pmset", "-g", "therm"])) if _is_mac() else "unknown"


def _power() -> tuple[str, int | None]:
    if _is_mac():
        return parse_pmset_batt(_run(["pmset", "-g", "batt"]))
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


def _mac_facts() -> dict[str, Any]:
    brand = parse_sysctl_brand(_run(["sysctl", "-n", "machdep.cpu.brand_string"]))
    perf, eff = parse_perflevels(_run(["sysctl", "hw.perflevel0.physicalcpu", "hw.perflevel1.physicalcpu"]))
    version = (_run(["sw_vers", "-productVersion"]) or "").strip() or platform.mac_ver()[0] or None
    # 1 when this (x86_64) Python runs under Rosetta 2 on Apple Silicon: no Metal GPU then.
    translated = _run(["sysctl", "-n", "sysctl.proc_translated"])
    return {
        "cpu_model": brand,
        "chip": chip_from_brand(brand),
        "cores_performance": perf,
        "cores_efficiency": eff,
        "gpu_cores": parse_gpu_cores(_run(["system_profiler", "SPDisplaysDataType", "-json"])),
        "os": "macOS",
        "os_version": version,
        "rosetta": translated.strip() == "1" if translated is not None else None,
    }


def _other_facts() -> dict[str, Any]:
    cpu_model = parse_proc_cpuinfo(_read_text("/proc/cpuinfo")) or platform.processor() or None
    system = platform.system()
    distro = parse_os_release(_read_text("/etc/os-release")) if system == "Linux" else None
    release = platform.release()
    return {
        "cpu_model": cpu_model,
        "chip": None,
        "cores_performance": None,
        "cores_efficiency": None,
        "gpu_cores": None,
        "os": system,
        "os_version": f"{distro} (kernel {release})" if distro else release or None,
        "rosetta": None,
    }


def fingerprint(project_dir: Path | None = None) -> dict[str, Any]:
    """Return a JSON-serialisable description of this machine and its software (no hostname)."""
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
        "versions": installed_versions(),
        "threads": {name: os.environ.get(name) for name in THREAD_VARS},
        "tf_env": tf_environment(os.environ),
        "power_source": power,
        "battery_percent": percent,
        "thermal": thermal_state(),
        "git_commit": commit,
        "git_dirty": dirty,
    }
