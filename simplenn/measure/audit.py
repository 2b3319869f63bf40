"""Where TensorFlow ran the step's ops: the first call's placement, checked for arithmetic that left the device.

Soft placement off (`strict_device`) makes TensorFlow fail on an op *pinned* to a device without a kernel there. The
ops inside a tf.function are not pinned: the call's device is only their default, and an op without a kernel on it
goes to the CPU, silently, whatever soft placement says. The stand-in GPU showed it (a float64 cell, or a float32 one
with MatMul left out, came back `ok` at the CPU's speed). So the first call records where each op was placed (the
run metadata TensorFlow keeps while a function is instantiated) and the cell is `unsupported` when any op computing
on the cell's dtype ran elsewhere; simplenn.system.placement words the reason.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from simplenn.core.cases import Case
from simplenn.measure.runners.base import Unsupported
from simplenn.system.placement import PlacedNode, fallback_reason, off_device_ops

_DTYPE_ATTRS = ("T", "dtype", "DstT", "Tparams")


@contextmanager
def recorded_placement(case: Case | None) -> Iterator[list[PlacedNode]]:
    """Yields a list that holds, after the block, every (op, device, dtype) TensorFlow placed while it ran.

    Only TensorFlow runners are audited (case.impl scratch or keras); for others, or without a case, the list stays
    empty. Partition graphs are reported only when a function is instantiated, so the block must be the first call.
    """
    nodes: list[PlacedNode] = []
    if case is None or case.impl not in ("scratch", "keras"):
        yield nodes
        return
    from tensorflow.python.eager import context  # noqa: PLC0415 — the only public door to run metadata in TF2

    ctx = context.context()
    ctx.enable_run_metadata()
    # Drained first: graphs instantiated earlier (a function called outside any device scope, seen in a pytest
    # session) can still be waiting in the context and would be reported as this call's.
    ctx.export_run_metadata()
    try:
        yield nodes
        metadata = ctx.export_run_metadata()
    finally:
        ctx.disable_run_metadata()
    nodes.extend(_placed(metadata))


def check_placement(nodes: list[PlacedNode], case: Case | None) -> None:
    """Raise Unsupported when ops computing on case.dtype ran on a device other than case.device."""
    if case is None:
        return
    strays = off_device_ops(nodes, case.device, case.dtype)
    if strays:
        raise Unsupported(fallback_reason(strays, case.device, case.mode, case.dtype))


def _placed(metadata) -> Iterator[PlacedNode]:
    from tensorflow.python.framework import dtypes  # noqa: PLC0415

    # function_graphs repeats partition_graphs function by function; either one lists every placed node.
    graphs = metadata.partition_graphs or [g for fg in metadata.function_graphs for g in fg.partition_graphs]
    for graph in graphs:
        for node in graph.node:
            attr = next((node.attr[a].type for a in _DTYPE_ATTRS if a in node.attr and node.attr[a].type), None)
            dtype = dtypes.as_dtype(attr).name if attr else ""
            yield PlacedNode(node.op, node.device, dtype)
