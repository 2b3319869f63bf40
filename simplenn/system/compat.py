"""The version guard: which tensorflow-metal works with which TensorFlow, and why a GPU is missing.

Everything here is pure over a table of installed versions (``installed_versions()`` reads the real one),
so it is tested with faked tables on Linux. The child-process import probe and the pre-sweep verdict that uses
this table live in simplenn.system.preflight.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Literal

Level = Literal["ok", "warning", "error"]

# Distributions whose versions matter for a run; None in the table means "not installed".
PACKAGES = ("tensorflow", "tensorflow-macos", "tensorflow-metal", "keras", "numpy", "nvidia-cudnn-cu12")

# The install pin (pyproject.toml holds the same specifier; a test keeps them equal): tensorflow-metal 1.2.0 is
# reported to work on 2.18.1 and 2.19 (PR #126360) and 2.20 broke it, so the pin is the 2.18.1-2.19.x window; a
# resolver picks its newest release, 2.19.x (KNOWN_GOOD_TF: the minor a Mac installs, which CI's Linux leg pins).
MAC_TF_SPEC = ">=2.18.1,<2.20"
KNOWN_GOOD_TF = "2.19"
KNOWN_GOOD_METAL = "1.2.0"
MAC_FIX = f'pip install "tensorflow{MAC_TF_SPEC}" tensorflow-metal=={KNOWN_GOOD_METAL}'
# tensorflow-metal publishes wheels for CPython 3.9-3.12 only (1.2.0 is its last release).
METAL_PYTHONS = ((3, 9), (3, 12))


@dataclass(frozen=True)
class MetalPairing:
    """One row of the compatibility table: a tensorflow-metal release, one TensorFlow minor, and what is known."""

    metal: str  # "1.2.0", or a prefix ending in ".*" ("1.0.*")
    tf: str  # one TensorFlow minor version, "2.18"
    status: Literal["good", "broken"]
    source: str  # the public report this row rests on


_PR_126360 = "tensorflow/tensorflow PR #126360"
_ABI_220 = ('TF 2.20 changed its ABI: import fails with "Library not loaded: @rpath/_pywrap_tensorflow_internal.so"'
            " ({})")
_WORKS_110 = "reported working from TF 2.13 to 2.17 (tensorflow/tensorflow#84167 runs it with 2.17)"
_SYMBOL = 'import fails with "Symbol not found: __ZN3tsl8internal10LogMessageC1EPKcii"'

# The one compatibility table, one row per (tensorflow-metal, TensorFlow minor), each from a public report.
# tensorflow-metal 1.2.0 (2025-01-31) is its last release. Apple's own table in the 1.2.0 setup.py has typos
# ("v2.14-v2.18 -> v1.1.0"), so no row rests on it. A pair without a row is "not in the table" (a warning).
METAL_TABLE: tuple[MetalPairing, ...] = (
    MetalPairing("1.2.0", "2.16", "good", f"loads with TF 2.16.2 ({_PR_126360})"),
    MetalPairing("1.2.0", "2.18", "good", f'"works on 2.18.1 and 2.19" ({_PR_126360})'),
    MetalPairing("1.2.0", "2.19", "good", f'"works on 2.18.1 and 2.19" ({_PR_126360}); what the pin installs'),
    MetalPairing("1.2.0", "2.20", "broken", _ABI_220.format(f"{_PR_126360}, PR #126254")),
    MetalPairing("1.2.0", "2.21", "broken", _ABI_220.format("tensorflow/tensorflow PR #126384")),
    *(MetalPairing("1.1.0", tf, "good", _WORKS_110) for tf in ("2.13", "2.14", "2.15", "2.16")),
    MetalPairing("1.1.0", "2.17", "good", "works with TF 2.17 (tensorflow/tensorflow#84167)"),
    MetalPairing("1.1.0", "2.18", "broken", f"{_SYMBOL} (tensorflow/tensorflow#81987, #84167)"),
    MetalPairing("1.1.0", "2.19", "broken", f"{_SYMBOL}, as with 2.18 (tensorflow/tensorflow#81987, #84167)"),
    MetalPairing("1.1.0", "2.20", "broken", _ABI_220.format(f"{_PR_126360}, PR #126254")),
    MetalPairing("1.1.0", "2.21", "broken", _ABI_220.format("tensorflow/tensorflow PR #126384")),
    MetalPairing("1.0.*", "2.13", "good", "Apple's plugin page: tensorflow-metal 1.0.0 with TF 2.13"),
)


@dataclass(frozen=True)
class Finding:
    """One verdict of the version guard; ``fix`` is a command or an instruction, None when nothing to do."""

    level: Level
    message: str
    fix: str | None = None


# ---------------------------------------------------------------- pure helpers


def minor(version: str | None) -> str | None:
    """Return "2.18" for "2.18.1" / "2.18.0rc1"; None when absent or unparsable."""
    match = re.match(r"(\d+)\.(\d+)", version or "")
    return f"{match.group(1)}.{match.group(2)}" if match else None


def _metal_matches(pattern: str, metal: str) -> bool:
    if pattern.endswith(".*"):
        return metal == pattern[:-2] or metal.startswith(pattern[:-1])
    return metal == pattern


def lookup_pairing(metal: str, tf: str, table: tuple[MetalPairing, ...] = METAL_TABLE) -> MetalPairing | None:
    """Return the first table row for this tensorflow-metal version and TensorFlow version, or None."""
    tf_minor = minor(tf)
    for row in table:
        if tf_minor == row.tf and _metal_matches(row.metal, metal):
            return row
    return None


def loads_with(metal: str, table: tuple[MetalPairing, ...] = METAL_TABLE) -> str:
    """The TensorFlow minors this tensorflow-metal release is known to load with, in words ("2.16, 2.18 or 2.19")."""
    minors = sorted({row.tf for row in table if row.status == "good" and _metal_matches(row.metal, metal)},
                    key=lambda v: tuple(map(int, v.split("."))))
    if not minors:
        return "no TensorFlow release in the compatibility table"
    return minors[0] if len(minors) == 1 else f"{', '.join(minors[:-1])} or {minors[-1]}"


def os_kind(system: str) -> str:
    # Accept both platform.system() ("Darwin") and sys.platform ("darwin", "linux").
    system = system.lower()
    return "mac" if system == "darwin" else "linux" if system.startswith("linux") else system


def is_arm(machine: str) -> bool:
    return machine.lower() in ("arm64", "aarch64")


def _metal_has_wheel(python: tuple[int, ...]) -> bool:
    return METAL_PYTHONS[0] <= tuple(python[:2]) <= METAL_PYTHONS[1]


def check_versions(
    versions: Mapping[str, str | None], system: str, machine: str, python: tuple[int, ...]
) -> list[Finding]:
    """Return the guard's findings for these installed versions on this platform (pure)."""
    os_name, py = os_kind(system), tuple(python[:2])
    tf, metal = versions.get("tensorflow"), versions.get("tensorflow-metal")
    py_text = ".".join(map(str, py))
    findings: list[Finding] = []

    if not (3, 10) <= py <= (3, 12):
        if os_name == "mac" and is_arm(machine) and not _metal_has_wheel(py):
            findings.append(Finding(
                "error",
                f"Python {py_text}: tensorflow-metal has no wheel for it (CPython 3.9-3.12 only), so no Metal GPU.",
                "create the venv with Python 3.12, e.g. `python3.12 -m venv .venv`",
            ))
        else:
            findings.append(Finding("warning", f"Python {py_text} is outside the tested range 3.10-3.12.",
                                    "use Python 3.10, 3.11 or 3.12"))

    if versions.get("tensorflow-macos"):
        findings.append(Finding(
            "warning",
            f"tensorflow-macos {versions['tensorflow-macos']} is installed: a legacy name that only pulls in "
            "`tensorflow`; it can pin an old TensorFlow.",
            "pip uninstall tensorflow-macos",
        ))

    if tf is None:
        fix = MAC_FIX if os_name == "mac" and is_arm(machine) else "pip install -e ."
        findings.append(Finding("error", "TensorFlow is not installed.", fix))
        return findings

    if os_name == "mac" and is_arm(machine):
        findings.append(_check_mac_pair(tf, metal))
    elif metal is not None:
        where = "an Intel Mac" if os_name == "mac" else f"{system} {machine}"
        findings.append(Finding(
            "warning",
            f"tensorflow-metal {metal} is installed on {where}, where it cannot provide a GPU.",
            "pip uninstall tensorflow-metal",
        ))
    elif os_name == "linux" and minor(tf) not in ("2.18", "2.19", "2.20", "2.21"):
        findings.append(Finding("warning", f"TensorFlow {tf} is outside the tested range 2.18-2.21.",
                                'pip install "tensorflow>=2.18,<2.22"'))
    if not findings:
        findings.append(Finding("ok", f"TensorFlow {tf}" + (f" with tensorflow-metal {metal}" if metal else "")
                                + " is a known-good combination here."))
    return findings


def _check_mac_pair(tf: str, metal: str | None) -> Finding:
    if metal is None:
        return Finding("warning",
                       f"tensorflow-metal is not installed: TensorFlow {tf} will run on the CPU only.", MAC_FIX)
    row = lookup_pairing(metal, tf)
    if row is None:
        return Finding("warning",
                       f"tensorflow-metal {metal} with TensorFlow {tf} is not in the compatibility table; "
                       "it may fail to load.", MAC_FIX)
    if row.status == "good":
        return Finding("ok", f"tensorflow-metal {metal} with TensorFlow {tf}: known-good ({row.source}).")
    return Finding("error", f"tensorflow-metal {metal} with TensorFlow {tf}: known to fail ({row.source}).", MAC_FIX)


def why_no_gpu(
    versions: Mapping[str, str | None],
    system: str,
    machine: str,
    python: tuple[int, ...],
    *,
    translated: bool | None = None,
    has_nvidia_smi: bool | None = None,
) -> str:
    """Return one or two sentences explaining why TensorFlow sees no GPU here, with the fix.

    ``translated`` is True when an x86_64 Python runs under Rosetta 2 (machine.fingerprint()["rosetta"]);
    ``has_nvidia_smi`` defaults to looking nvidia-smi up on PATH.
    """
    os_name, py = os_kind(system), tuple(python[:2])
    tf, metal = versions.get("tensorflow"), versions.get("tensorflow-metal")
    if os_name == "mac" and is_arm(machine):
        if not _metal_has_wheel(py):
            return (f"Python {'.'.join(map(str, py))} has no tensorflow-metal wheel (CPython 3.9-3.12 only). "
                    f"Recreate the venv with Python 3.12, then: {MAC_FIX}")
        if tf is None:
            return f"TensorFlow is not installed. Install the known-good pair: {MAC_FIX}"
        if metal is None:
            return (f"The Metal plugin (tensorflow-metal) is not installed, so TensorFlow {tf} is CPU-only. "
                    f"Fix: {MAC_FIX}")
        row = lookup_pairing(metal, tf)
        if row is None or row.status != "good":
            reason = row.source if row else "not in the compatibility table"
            return f"tensorflow-metal {metal} does not match TensorFlow {tf} ({reason}). Fix: {MAC_FIX}"
        return (f"tensorflow-metal {metal} and TensorFlow {tf} are a known-good pair, yet no GPU is visible: "
                "cause unknown. Run the plugin probe (`simplenn.system.preflight.probe_metal_plugin()`) to see the load error.")
    if os_name == "mac":
        if translated:
            return ("This Python is x86_64 running under Rosetta 2 on an Apple Silicon Mac: the Metal GPU needs "
                    "an arm64 Python (e.g. from python.org or Homebrew in /opt/homebrew) and a fresh venv.")
        return ("Intel Mac: TensorFlow has no GPU support here (2.16 is its last x86_64 macOS release and "
                "tensorflow-metal 1.1+ ships arm64 wheels only). The benchmark runs on the CPU.")
    if os_name == "linux":
        if machine.lower() not in ("x86_64", "amd64"):
            return f"TensorFlow's Linux {machine} wheels are CPU-only. The benchmark runs on the CPU."
        if has_nvidia_smi is None:
            has_nvidia_smi = shutil.which("nvidia-smi") is not None
        if not has_nvidia_smi:
            return ("CPU-only environment: no NVIDIA driver found (nvidia-smi is missing). That is expected on a "
                    "machine without an NVIDIA GPU; the benchmark runs on the CPU.")
        if versions.get("nvidia-cudnn-cu12") is None:
            return ("An NVIDIA driver is present but TensorFlow's CUDA libraries are not installed. "
                    "Fix: pip install '.[cuda]'")
        return ("An NVIDIA driver and the CUDA libraries are installed, yet TensorFlow sees no GPU: "
                "check that the driver supports CUDA 12 (`nvidia-smi`) and that CUDA_VISIBLE_DEVICES is not empty.")
    return f"No GPU support is set up for {system} {machine} in this project; the benchmark runs on the CPU."


def installed_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Return {distribution: version or None} from importlib.metadata, without importing anything."""
    versions: dict[str, str | None] = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
