"""Run metadata, typed: `RunMeta` (run.json, or a pytest-benchmark file's equivalent) and its `Drift`, each checking
and serialising itself (`from_json` / `to_json`, like pyperf's Run and Benchmark), and `can_combine`: the one rule
of which runs may be put together.

A key `RunMeta` does not name is kept as read (`extra`) and written back, so an older or newer run.json survives a
round trip; a key it names with a value of the wrong type is refused (`MetaError`, naming the key).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

STATUSES = ("running", "complete", "interrupted")
# The fingerprint fields that tell one kind of machine from another (the label is derived from some of them).
HARDWARE_FIELDS = ("chip", "gpu_cores", "cpu_model", "cores_performance", "cores_efficiency", "cores_logical",
                   "ram_bytes", "arch", "os")
# Overrides of a preset that change how every cell is timed: such a run is not the preset's grid any more.
TIMING_OVERRIDES = ("cooldown", "min_block_time", "min_time")


class MetaError(ValueError):
    """Run metadata that cannot be right; the message names the key."""


@dataclass(frozen=True)
class Drift:
    """The sentinel cell's drift over a run (simplenn.sweep.plan.drift): last / first median step time."""

    cell: str
    first_median_s: float
    last_median_s: float
    ratio: float
    n: int
    warning: bool  # the verdict the run recorded against its DRIFT_WARN: the report quotes it, never re-judges
    max_over_min: float | None = None

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def from_json(cls, d: Any) -> "Drift":
        if not isinstance(d, Mapping):
            raise MetaError(f"key 'drift' must be an object, got {d!r}")
        try:
            drift = cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})
        except TypeError as e:
            raise MetaError(f"key 'drift' is incomplete ({e})") from None
        if not (isinstance(drift.ratio, (int, float)) and math.isfinite(drift.ratio) and drift.ratio > 0):
            raise MetaError(f"key 'drift.ratio' must be a positive number, got {drift.ratio!r}")
        return drift

    def figures(self) -> dict[str, float]:
        """The measured figures by name (cell and verdict left out), in name order."""
        return {k: v for k, v in sorted(self.to_json().items()) if k not in ("cell", "warning")}


def _frozen(value: Any) -> Any:
    return MappingProxyType(dict(value)) if isinstance(value, Mapping) else value


@dataclass(frozen=True)
class RunMeta:
    """What is known about one run besides its samples: its grid, machine fingerprint, drift, parities, preset, status."""

    status: str | None = None  # running, complete, interrupted (None: not a run folder, e.g. pytest-benchmark)
    grid: Mapping[str, Any] = field(default_factory=dict)
    machine: Mapping[str, Any] = field(default_factory=dict)
    preset: Mapping[str, Any] | None = None
    drift: Drift | None = None
    device_parity: Mapping[str, Any] | None = None
    impl_parity: Mapping[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    run_id: str | None = None
    gpu_missing_reason: str | None = None
    source: str | None = None  # "pytest-benchmark" for a pytest-benchmark file; None for a run folder
    extra: Mapping[str, Any] = field(default_factory=dict)  # every other key, as read

    def __post_init__(self) -> None:
        for name in ("grid", "machine", "preset", "device_parity", "impl_parity", "extra"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        object.__setattr__(self, "warnings", tuple(self.warnings))
        if self.status is not None and self.status not in STATUSES:
            raise MetaError(f"key 'status' must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if not all(isinstance(w, str) for w in self.warnings):
            raise MetaError(f"key 'warnings' must be a list of strings, got {list(self.warnings)!r}")

    # ----------------------------------------------------------------------------------------------- JSON

    @classmethod
    def from_json(cls, d: Any) -> "RunMeta":
        """Run metadata from run.json's object (MetaError naming the key when a known key has a wrong type)."""
        if not isinstance(d, Mapping):
            raise MetaError(f"run metadata must be an object, got {type(d).__name__}")
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: v for k, v in d.items() if k in known and v is not None}
        for key in ("grid", "machine", "preset", "device_parity", "impl_parity"):
            if key in values and not isinstance(values[key], Mapping):
                raise MetaError(f"key {key!r} must be an object, got {values[key]!r}")
        for key in ("status", "run_id", "gpu_missing_reason", "source"):
            if key in values and not isinstance(values[key], str):
                raise MetaError(f"key {key!r} must be a string, got {values[key]!r}")
        if not isinstance(values.get("warnings", []), list | tuple):
            raise MetaError(f"key 'warnings' must be a list, got {values['warnings']!r}")
        if "drift" in values:
            values["drift"] = Drift.from_json(values["drift"])
        return cls(**values, extra={k: v for k, v in d.items() if k not in known})

    def to_json(self) -> dict:
        """run.json's object: the known keys (None left out) and every other key as read."""
        out = {**self.extra}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "extra" or value is None:
                continue
            out[f.name] = (value.to_json() if isinstance(value, Drift) else list(value) if isinstance(value, tuple)
                           else _plain(value))
        return out

    def get(self, key: str, default: Any = None) -> Any:
        """A key of run.json that RunMeta does not name (e.g. `created`, `plan`), as read."""
        return self.extra.get(key, default)

    # ---------------------------------------------------------------------------------- what the report reads

    @property
    def label(self) -> str:
        """The machine's label ('unknown machine' when the run recorded none)."""
        return self.machine.get("label") or "unknown machine"

    @property
    def versions(self) -> dict[str, str]:
        """Software versions of the machine, tolerant of flat keys or a `versions` sub-dict."""
        versions = dict(self.machine.get("versions") or {})
        pick = {
            "python": self.machine.get("python"),
            "tensorflow": versions.get("tensorflow") or self.machine.get("tensorflow"),
            "keras": versions.get("keras") or self.machine.get("keras"),
            "tensorflow-metal": versions.get("tensorflow-metal") or self.machine.get("tensorflow_metal"),
        }
        return {k: str(v) for k, v in pick.items() if v}

    @property
    def hardware(self) -> tuple:
        """The hardware fields of the fingerprint, in HARDWARE_FIELDS order (None where absent)."""
        return tuple(self.machine.get(k) for k in HARDWARE_FIELDS)

    @property
    def chip_or_cpu(self) -> str:
        """The chip (Apple) or CPU model ('' when unknown)."""
        return str(self.machine.get("chip") or self.machine.get("cpu_model") or "")

    @property
    def grid_identity(self) -> str:
        """What the run's cells are comparable by: 'standard v1', 'standard v1, min_time overridden', or 'no preset'."""
        preset = self.preset or {}
        if not preset:
            return "no preset (its own grid)"
        timing = sorted(set(preset.get("overrides") or ()) & set(TIMING_OVERRIDES))
        ident = f"{preset.get('name')} v{preset.get('version')}"
        return f"{ident} with {', '.join(timing)} overridden" if timing else ident


def _plain(value: Any) -> Any:
    """A value with its read-only mappings turned back into dicts, for JSON."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def as_meta(value: RunMeta | Mapping | None) -> RunMeta:
    """`value` itself, or run metadata read from a run.json-like dict (an empty one for None)."""
    return value if isinstance(value, RunMeta) else RunMeta.from_json(value or {})


def can_combine(runs: Mapping[str, RunMeta], rank: bool = False) -> str | None:
    """Why these runs may not be put together, or None: the one rule of which runs combine.

    Never the same run twice (one run id under two labels: its samples would count twice). To rank them side by
    side (`rank`), also one grid identity: a preset's version changes when its cells or their timing change, and
    a run without a preset (or with its timing overridden) times its cells its own way.
    """
    seen: dict[str, str] = {}
    for label, meta in runs.items():
        if meta.run_id and meta.run_id in seen:
            return (f"{seen[meta.run_id]} and {label} hold the same run (run id {meta.run_id}): one is a copy of the "
                    "other; give it once")
        if meta.run_id:
            seen[meta.run_id] = label
    if not rank:
        return None
    idents: dict[str, list[str]] = {}
    for label, meta in runs.items():
        idents.setdefault(meta.grid_identity, []).append(label)
    if len(idents) < 2:
        return None
    listing = "; ".join(f"{ident}: {', '.join(rs)}" for ident, rs in idents.items())
    return ("refusing to rank machines measured with different grids (" + listing + "). A preset's version "
            "changes when its cells or their timing change, and a run without a preset (or with min_time, "
            "min_block_time or cooldown overridden) times its cells its own way, so their figures do not compare. "
            "Report runs of one preset version together (simplenn-bench run --preset standard on every machine).")
