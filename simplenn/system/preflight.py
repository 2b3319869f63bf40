"""The pre-sweep guard: import TensorFlow in a child process (the Metal plugin probe) and weigh it with the version table.

TensorFlow is only ever imported in a child process here: a plugin that does not match TensorFlow breaks
``import tensorflow`` itself, and the sweep must be able to say so instead of dying.
"""
from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from simplenn.core.errors import UsageError
from simplenn.system import compat
from simplenn.system.compat import (KNOWN_GOOD_METAL, MAC_FIX, check_versions, is_arm, loads_with, os_kind,
                                    why_no_gpu)


@dataclass(frozen=True)
class ProbeResult:
    """What a child process saw when it imported TensorFlow and listed GPUs."""

    status: Literal["gpu", "no-gpu", "plugin-mismatch", "import-failed", "crashed", "timeout"]
    message: str
    fix: str | None = None
    tf_version: str | None = None
    gpus: tuple[str, ...] = ()
    detail: str = ""  # the last lines of the child's stderr, for the curious

    @property
    def has_gpu(self) -> bool:
        return self.status == "gpu"


# ---------------------------------------------------------------- the plugin probe

_PROBE_MARK = "SIMPLENN_PROBE "
_METAL_MARK = "SIMPLENN_METAL "
# The child says which tensorflow-metal it has before importing TensorFlow, so a failed import still names it.
_PROBE_CODE = (
    "import json\n"
    "from importlib import metadata\n"
    "try:\n    metal = metadata.version('tensorflow-metal')\nexcept metadata.PackageNotFoundError:\n    metal = None\n"
    f"print({_METAL_MARK!r} + json.dumps(metal), flush=True)\n"
    "import tensorflow as tf\n"
    "gpus = [d.name for d in tf.config.list_physical_devices('GPU')]\n"
    f"print({_PROBE_MARK!r} + json.dumps({{'tf': tf.__version__, 'gpus': gpus}}))\n"
)


def _tail(text: str, n_lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-n_lines:])


def _metal_of(stdout: str) -> str | None:
    for line in stdout.splitlines():
        if line.startswith(_METAL_MARK):
            try:
                return json.loads(line[len(_METAL_MARK):])
            except ValueError:
                return None
    return None


def interpret_probe(returncode: int | None, stdout: str, stderr: str, timeout_s: float | None = None,
                    metal: str | None = None) -> ProbeResult:
    """Turn the probe child's exit status and output into a ProbeResult (pure; None returncode = timed out).

    ``metal`` is the installed tensorflow-metal version; by default the one the child printed before its import.
    """
    detail = _tail(stderr)
    metal = metal or _metal_of(stdout)
    if returncode is None:
        after = f" after {timeout_s:g} s" if timeout_s else ""
        return ProbeResult("timeout", f"Importing TensorFlow did not finish{after}.", None, detail=detail)
    for line in stdout.splitlines():
        if line.startswith(_PROBE_MARK):
            try:
                seen = json.loads(line[len(_PROBE_MARK):])
            except ValueError:
                break
            gpus = tuple(seen.get("gpus", ()))
            if gpus:
                return ProbeResult("gpu", f"TensorFlow {seen.get('tf')} sees {len(gpus)} GPU(s).", None,
                                   seen.get("tf"), gpus, detail)
            return ProbeResult("no-gpu", f"TensorFlow {seen.get('tf')} imports but sees no GPU.", None,
                               seen.get("tf"), (), detail)
    text = stdout + "\n" + stderr
    symbol = re.search(r"[Ss]ymbol not found(?: in flat namespace)?:?\s*'?([\w$.]+)'?", text)
    library = re.search(r"Library not loaded:\s*(\S+)", text)
    plugin_load_failed = "NotFoundError" in text and ("metal_plugin" in text or "tensorflow-plugins" in text)
    if symbol or library or plugin_load_failed:
        if symbol:
            why = f"the Metal plugin needs symbol {symbol.group(1)}, which this TensorFlow does not export"
        elif library and "_pywrap_tensorflow_internal" in library.group(1):
            # The plugin binds TensorFlow's symbols through _pywrap_tensorflow_internal.so. The 2.20 and 2.21 wheels
            # still ship that file, but 2.20 moved the symbols into lib_pywrap_tensorflow_common, so the plugin
            # fails to load (tensorflow/tensorflow PRs #126360, #126254, #126384).
            lib = library.group(1).rsplit("/", 1)[-1]
            plugin = f"tensorflow-metal {metal}" if metal else "the installed tensorflow-metal"
            latest = (f"tensorflow-metal {KNOWN_GOOD_METAL}, its last release, loads with TensorFlow "
                      f"{loads_with(KNOWN_GOOD_METAL)}")
            if metal and metal != KNOWN_GOOD_METAL:
                latest = f"{plugin} loads with TensorFlow {loads_with(metal)}; {latest}"
            why = (f"TensorFlow 2.20 changed its ABI: the symbols {plugin} binds through {lib} moved into "
                   f"lib_pywrap_tensorflow_common; {latest}")
        elif library:
            why = f"a library the plugin links against is missing ({library.group(1)})"
        else:
            why = "TensorFlow could not load the Metal plugin"
        return ProbeResult(
            "plugin-mismatch",
            f"tensorflow-metal does not match the installed TensorFlow: {why}. "
            "`import tensorflow` fails while the plugin is installed.",
            MAC_FIX, detail=detail)
    if re.search(r"No module named '?tensorflow'?", text):
        return ProbeResult("import-failed", "TensorFlow is not installed in this Python.", "pip install -e .",
                           detail=detail)
    if returncode < 0:
        return ProbeResult("crashed", f"Importing TensorFlow killed the process (signal {-returncode}).", None,
                           detail=detail)
    last = detail.splitlines()[-1] if detail else f"exit status {returncode}"
    return ProbeResult("import-failed", f"Importing TensorFlow failed: {last}", None, detail=detail)


def probe_metal_plugin(python: str = sys.executable, timeout: float = 60) -> ProbeResult:
    """Import TensorFlow in a child process and list its GPUs; never raises for a broken install."""
    try:
        done = subprocess.run([python, "-c", _PROBE_CODE], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        return interpret_probe(None, _text(exc.stdout), _text(exc.stderr), timeout)
    except OSError as exc:
        return ProbeResult("import-failed", f"Could not start {python}: {exc}")
    return interpret_probe(done.returncode, done.stdout, done.stderr)


def _text(data: str | bytes | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else data or ""


@dataclass(frozen=True)
class Preflight:
    """The version guard's verdict before a sweep: warnings to show and record, or a fatal message with the fix."""

    warnings: tuple[str, ...]
    fatal: str | None = None


def preflight(
    versions: Mapping[str, str | None], system: str, machine: str, python: tuple[int, ...],
    probe: Callable[[], ProbeResult] | None = None,
) -> Preflight:
    """Check versions against the table; on an arm64 Mac also import TensorFlow in a child process first, so a
    plugin that breaks `import tensorflow` ("Symbol not found") is a clear message instead of a dead sweep."""
    notes = [f"{f.message}" + (f" Fix: {f.fix}" if f.fix else "") for f in check_versions(versions, system, machine, python)
             if f.level != "ok"]
    if not (os_kind(system) == "mac" and is_arm(machine)) or versions.get("tensorflow") is None:
        return Preflight(tuple(notes))
    result = (probe or probe_metal_plugin)()  # looked up now, so a test can stand a fake probe in
    if result.status == "timeout":
        # A first import can take minutes (endpoint security scanning a fresh 2 GB install): not proof of a broken
        # plugin. Say so and go on; a real failure then shows in the import itself.
        notes.append(f"{result.message} Going on: a first import after installing can be this slow; if it fails, "
                     f"reinstall the known-good pair: {MAC_FIX}")
        return Preflight(tuple(dict.fromkeys(notes)))
    if result.status in ("plugin-mismatch", "import-failed", "crashed"):
        return Preflight(tuple(notes), f"{result.message}" + (f" Fix: {result.fix}" if result.fix else ""))
    if not result.has_gpu:
        notes.append("no Metal GPU visible: " + why_no_gpu(versions, system, machine, python))
    return Preflight(tuple(dict.fromkeys(notes)))


def require_loadable_tensorflow() -> tuple[str, ...]:
    """Run the preflight for this interpreter on this machine before anything imports TensorFlow in-process.

    Raises UsageError with the one-line reason and fix when TensorFlow cannot load here (a mismatched Metal plugin);
    returns the warnings otherwise. `run`, `info` and `train` call it first.
    """
    guard = preflight(compat.installed_versions(), platform.system(), platform.machine(), sys.version_info[:3])
    if guard.fatal:
        raise UsageError(guard.fatal)
    return guard.warnings
