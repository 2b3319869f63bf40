"""Parsers for macOS commands' output: chip, CPU clusters, GPU cores, power source, Low Power Mode, thermal pressure.

Every function is pure (text in, value out), so each is tested on captured or reconstructed output on Linux;
``machine`` runs the commands. Unknown or unreadable output is None / "unknown", never a healthy-looking value.
"""

from __future__ import annotations

import json
import re

# The Darwin notification thermald publishes; `notifyutil -g KEY` prints "KEY <level>" and needs no sudo
# (angristan/MacThrottle reads the same key with notify_get_state; stanislas.blog/2025/12/macos-thermal-throttling-app).
THERMAL_KEY = "com.apple.system.thermalpressurelevel"
# OSThermalNotification.h (Apple Libc), the TARGET_OS_OSX branch of OSThermalPressureLevel:
# kOSThermalPressureLevelNominal = 0, Moderate, Heavy, Trapping, Sleeping -> 0..4. (The iOS branch uses
# 0/10/20/30/40/50 with an extra "Light" level; such a number on a Mac is recorded as it is.)
THERMAL_LEVELS = {0: "nominal", 1: "moderate", 2: "heavy", 3: "trapping", 4: "sleeping"}
# What each recorded thermal value means, for docs/mac-first-run.md and the report.
THERMAL_MEANING = {
    "nominal": "no thermal pressure",
    "moderate": "elevated thermal pressure; clocks may start to drop",
    "heavy": "the system is throttling",
    "trapping": "severe throttling",
    "sleeping": "the system is about to sleep to cool down",
    "unknown": "no source answered (not a Mac, or notifyutil missing); not the same as nominal",
}
# Every macOS tool by its absolute path: launchd jobs and self-hosted runner shells start with a short PATH
# (often /usr/bin:/bin only), where `sysctl` (/usr/sbin) is not found and the probe would read "unknown".
MAC_TOOLS = {
    "sysctl": "/usr/sbin/sysctl",
    "system_profiler": "/usr/sbin/system_profiler",
    "ioreg": "/usr/sbin/ioreg",
    "notifyutil": "/usr/bin/notifyutil",
    "pmset": "/usr/bin/pmset",
    "sw_vers": "/usr/bin/sw_vers",
}
# The brand launch-era M1 Macs report in machdep.cpu.brand_string (archspec/archspec#38): names no chip.
GENERIC_BRANDS = ("Apple processor",)
UNKNOWN_APPLE_CHIP = "unknown Apple chip"


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
    """Return the Apple chip name ("Apple M2 Pro"), or None for Intel, Rosetta's "VirtualApple" and the generic
    "Apple processor" of launch-era M1 Macs (archspec/archspec#38), whose chip must come from elsewhere."""
    # Any other "Apple ..." brand counts, so a chip newer than this code is still reported by its name.
    if brand and re.match(r"Apple\s+\S", brand) and brand.strip() not in GENERIC_BRANDS:
        return brand
    return None


def parse_hardware_chip(text: str | None) -> str | None:
    """Return the "Chip:" line of ``system_profiler SPHardwareDataType`` ("Apple M1 Pro"), or None."""
    match = re.search(r"^\s*Chip:\s*(.+?)\s*$", text or "", flags=re.MULTILINE)
    return chip_from_brand(match.group(1)) if match else None


def parse_clusters(text: str | None) -> dict[str, int]:
    """Return {cluster name: physical cores}, fastest first, from
    ``sysctl hw.perflevel0.name hw.perflevel0.physicalcpu hw.perflevel1.name ...``.

    Names are macOS's own: "Performance"/"Efficiency" up to M4, "Super"/"Efficiency" on M5 and
    "Super"/"Performance" on M5 Pro/Max, which have no efficiency cores (pytorch/cpuinfo#424). A level
    without a name (older macOS) is called "perflevelN".
    """
    pairs = parse_sysctl(text)
    clusters: dict[str, int] = {}
    for level in range(16):
        cores = int_or_none(pairs.get(f"hw.perflevel{level}.physicalcpu"))
        if cores is None:
            break
        clusters[pairs.get(f"hw.perflevel{level}.name") or f"perflevel{level}"] = cores
    return clusters


def parse_gpu_cores(json_text: str | None) -> int | None:
    """Return the GPU core count from ``system_profiler SPDisplaysDataType -json`` (key sppci_cores)."""
    try:
        entries = json.loads(json_text or "")["SPDisplaysDataType"]
    except (ValueError, KeyError, TypeError):
        return None
    for entry in entries if isinstance(entries, list) else []:
        cores = int_or_none(entry.get("sppci_cores")) if isinstance(entry, dict) else None
        if cores is not None:
            return cores
    return None


def parse_ioreg_gpu_cores(text: str | None) -> int | None:
    """Return the GPU core count from ``ioreg -r -d 1 -c AGXAccelerator`` (its ``"gpu-core-count" = N`` line)."""
    match = re.search(r'"gpu-core-count"\s*=\s*(\d+)', text or "")
    return int(match.group(1)) if match else None


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


def parse_low_power_mode(text: str | None) -> bool | None:
    """Return True when ``pmset -g`` shows Low Power Mode on, False when off, None when it says nothing.

    Most Macs print ``lowpowermode 1``; Macs that also have High Power Mode print ``powermode N`` instead
    (0 automatic, 1 low power, 2 high power: alfredapp/low-power-mode-workflow#4, jordibruin/cooldown#4).
    """
    match = re.search(r"^\s*(lowpowermode|powermode)\s+(\d+)", text or "", flags=re.MULTILINE)
    return None if match is None else match.group(2) == "1"


def parse_thermal_pressure(text: str | None) -> str:
    """Return the thermal pressure level from ``notifyutil -g com.apple.system.thermalpressurelevel``:
    "nominal", "moderate", "heavy", "trapping", "sleeping", an unknown number as text, or "unknown"."""
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == THERMAL_KEY and re.fullmatch(r"-?\d+", parts[1]):
            return THERMAL_LEVELS.get(int(parts[1]), parts[1])
    return "unknown"


def int_or_none(value: object) -> int | None:
    """Return the value as an int, or None when it is not one."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
