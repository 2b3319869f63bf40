"""A profiler trace (`*.xplane.pb`, written by TensorFlow's and JAX's profilers) → a tidy table of timed events.

The protobuf classes come from the `xplane_pb2.py` that the TensorFlow wheel ships (`tensorflow/tsl/profiler/
protobuf/`). It needs only `google.protobuf`, so it is loaded from its file: importing it as `tensorflow.tsl…` would
run `tensorflow/__init__.py` (4–5 s) and this module must stay free of TensorFlow.

An XSpace holds planes (`/host:CPU`; `/device:GPU:0` where a device plugin or CUDA reports one); a plane holds
lines (one per thread, or per GPU stream); a line holds events: a name (through the plane's event metadata), an
offset from the line's start and a duration, in picoseconds, and stats. Read here: the timing, and the `tf_op`
stat a device plane's kernels carry (the TensorFlow op that launched them, `node:Type`); what an event means is
for `simplenn.store.opclasses`.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd

from simplenn.core.errors import UsageError

# The tidy table: one row per event with a duration (instant markers are dropped). Times in seconds from the
# earliest event of the trace.
EVENT_COLUMNS = ["plane", "line", "name", "tf_op", "start_s", "end_s", "dur_s"]
PB_MODULE = "tsl/profiler/protobuf/xplane_pb2.py"
_loaded: list[ModuleType] = []


class TraceError(UsageError):
    """A trace file that cannot be read (missing, not an XSpace, or no protobuf classes to read it with)."""


def xplane_pb2() -> ModuleType:
    """The XSpace protobuf classes, from TensorFlow's wheel, without importing TensorFlow."""
    for name in ("tensorflow.tsl.profiler.protobuf.xplane_pb2", "tsl.profiler.protobuf.xplane_pb2"):
        if name in sys.modules:  # already imported (TensorFlow is loaded): the same descriptors, reuse them
            return sys.modules[name]
    if _loaded:
        return _loaded[0]
    spec = importlib.util.find_spec("tensorflow")  # finds the package without running its __init__
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        path = Path(root) / PB_MODULE
        if path.is_file():
            module_spec = importlib.util.spec_from_file_location("simplenn_xplane_pb2", path)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
            _loaded.append(module)
            return module
    raise TraceError(f"cannot read profiler traces: no {PB_MODULE} in an installed tensorflow package "
                     "(pip install tensorflow)")


def find_traces(logdir: Path | str) -> list[Path]:
    """Every `*.xplane.pb` under a profiler log directory (`<logdir>/plugins/profile/<run>/<host>.xplane.pb`)."""
    return sorted(Path(logdir).rglob("*.xplane.pb"))


def read_space(path: Path | str):
    """The XSpace message of one trace file."""
    path = Path(path)
    if not path.is_file():
        raise TraceError(f"{path}: no such trace file")
    space = xplane_pb2().XSpace()
    try:
        space.ParseFromString(path.read_bytes())
    except Exception as e:  # noqa: BLE001 — protobuf raises DecodeError or RuntimeError by build
        raise TraceError(f"{path}: not a profiler trace (XSpace): {e}") from None
    if not space.planes:
        raise TraceError(f"{path}: the trace has no planes")
    return space


def events(path: Path | str) -> pd.DataFrame:
    """One row per timed event of the trace: plane, line (thread), name, start, end and duration in seconds."""
    space = read_space(path)
    rows = []
    for plane in space.planes:
        names = {k: m.name for k, m in plane.event_metadata.items()}
        stat_names = {k: m.name for k, m in plane.stat_metadata.items()}
        tf_op_ids = {k for k, name in stat_names.items() if name == "tf_op"}
        for line in plane.lines:
            thread = line.display_name or line.name or str(line.id)
            origin_ps = line.timestamp_ns * 1000
            for e in line.events:
                if e.duration_ps <= 0:
                    continue  # instant markers (thread-pool bookkeeping) take no time
                start_ps = origin_ps + e.offset_ps
                tf_op = _stat(e, tf_op_ids, stat_names) if tf_op_ids else ""
                rows.append((plane.name, thread, names.get(e.metadata_id, ""), tf_op, start_ps, e.duration_ps))
    table = pd.DataFrame(rows, columns=["plane", "line", "name", "tf_op", "start_ps", "dur_ps"])
    if table.empty:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    start_ps = table["start_ps"] - table["start_ps"].min()
    table["start_s"] = start_ps / 1e12
    table["dur_s"] = table["dur_ps"] / 1e12
    table["end_s"] = (start_ps + table["dur_ps"]) / 1e12
    return table[EVENT_COLUMNS].sort_values(["start_s", "end_s"], ignore_index=True)


def _stat(event, ids: set[int], stat_names: dict[int, str]) -> str:
    """A string stat of an event: its own value, or the name of the stat metadata it refers to."""
    for stat in event.stats:
        if stat.metadata_id in ids:
            return str(_value(stat, stat_names) or "")
    return ""


def event_stats(path: Path | str, name: str) -> list[dict]:
    """The stats of every event called `name` (e.g. a marker's metadata: {'n_steps': 20}), in trace order."""
    found = []
    for plane in read_space(path).planes:
        ids = {k for k, m in plane.event_metadata.items() if m.name == name}
        if not ids:
            continue
        stat_names = {k: m.name for k, m in plane.stat_metadata.items()}
        for line in plane.lines:
            for e in line.events:
                if e.metadata_id in ids:
                    found.append({stat_names.get(s.metadata_id, str(s.metadata_id)): _value(s, stat_names)
                                  for s in e.stats})
    return found


def _value(stat, stat_names: dict[int, str]):
    """A stat's value, whichever of its fields is set (a ref is the name of the stat metadata it points to)."""
    kind = stat.WhichOneof("value")
    if kind == "ref_value":
        return stat_names.get(stat.ref_value, "")
    return getattr(stat, kind) if kind else None


def plane_names(path: Path | str) -> list[str]:
    """The names of the trace's planes (`/host:CPU`, `/device:GPU:0`, …): which devices reported their own events."""
    return [p.name for p in read_space(path).planes]
