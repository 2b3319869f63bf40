"""Why a cell is unsupported when an op has no kernel on its device: the op, the mode, and what still works.

Two ways to find out: TensorFlow's error for an op pinned to the device (`placement_reason`), and, for the ops
inside a tf.function that TensorFlow moved to the CPU without a word (simplenn.measure.audit records where they
ran), `off_device_ops` and `fallback_reason`.

With soft placement off (measure.py), an op without a kernel on the requested device is an error instead of a silent
CPU fallback. TensorFlow words that error several ways; `placement_reason` reads each from the error's text, so it is
a pure function that tests feed with the texts users reported (tests/fixtures/placement/).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

# Ops only the in-graph loop adds (make_train_loop: a tf.while_loop over an int32 counter). Kernels that
# construction needs in both modes (VarHandleOp, AssignVariableOp) are not here. tests/test_placement.py checks this
# against the concrete graphs of both modes.
IN_GRAPH_ONLY = frozenset({"While", "StatelessWhile", "Less", "LoopCond", "Enter", "Exit", "NextIteration", "Merge",
                           "Switch"})
# Ops only the per-call step adds (make_train_step: `assign_sub` on every parameter).
PER_CALL_ONLY = frozenset({"AssignSubVariableOp"})
OTHER_MODE = {"in-graph": "per-call", "per-call": "in-graph"}

_PATTERNS = (
    # tensorflow#53505: "No registered 'RngReadAndSkip' OpKernel for 'GPU' devices compatible with node …"
    re.compile(r"No registered '(?P<op>[\w>]+)' OpKernel for '(?P<kind>\w+)' devices"),
    # A tf.function: "No OpKernel was registered to support Op 'MatMul' used by {{node MatMul}} …"
    re.compile(r"No OpKernel was registered to support Op '(?P<op>[\w>]+)'"),
    # An eager op: "Could not find device for node: {{node MatMul}} = MatMul[T=DT_UINT8, …]"
    re.compile(r"Could not find device for node: \{\{node [^}]*\}\} = (?P<op>[\w>]+)\["),
    # An eager op pinned to a device without its kernel, soft placement off (TF 2.21, seen on the stand-in GPU):
    # "Could not satisfy device specification '/job:…/device:SIMGPU:0'. enable_soft_placement=0. Supported device
    # types [CPU]. All available devices [...]. [Op:Log] name: "
    re.compile(r"Could not satisfy device specification '[^']*'\. enable_soft_placement=0\..*?\[Op:(?P<op>[\w>]+)\]",
               re.DOTALL),
)
# tensorflow#53026: "Cannot assign a device for operation loader/GeneratorDataset: Could not satisfy explicit device
# specification '/device:GPU:0' because no supported kernel for GPU devices is available." The op types follow in
# the "Colocation Debug Info" as lines "OneShotIterator: CPU ".
_CANNOT_ASSIGN = re.compile(r"Cannot assign a device for operation '?(?P<node>[^:']+)'?: Could not satisfy explicit "
                            r"device specification '[^']*' because (?:no supported kernel for (?P<kind>\w+) devices|"
                            r".*?required incompatible device '[^']*device:(?P<colocated>\w+):)")
_COLOCATED_TYPE = re.compile(r"^(?P<op>\w+): (?P<kinds>(?:[A-Z_]+ ?)+)$", re.MULTILINE)
# Metal (NVlabs/sionna#78): "Could not find compiler for platform METAL"; a PluggableDevice XLA was not built for
# (the stand-in GPU, TF 2.21): "No JIT device registered for SIMGPU".
_XLA_MISSING = re.compile(r"(?:Could not find compiler for platform|No JIT device registered for) (?P<platform>\w+)")
# Placement failures whose op this module cannot read: still `unsupported`, with TensorFlow's first line.
_PLACEMENT_WORDS = ("Cannot assign a device for operation", "Could not satisfy explicit device specification")


def missing_ops(text: str) -> tuple[str, ...]:
    """The op types TensorFlow's error text says have no kernel on the device (empty when it is not such an error)."""
    for pattern in _PATTERNS:
        found = pattern.search(text)
        if found:
            return (found["op"],)
    found = _CANNOT_ASSIGN.search(text)
    if not found:
        return ()
    kind = (found["kind"] or found["colocated"]).upper()
    lacking = [m["op"] for m in _COLOCATED_TYPE.finditer(text) if kind not in m["kinds"].split()]
    return tuple(dict.fromkeys(lacking)) or (found["node"].rsplit("/", 1)[-1],)


def is_placement_error(text: str) -> bool:
    """True when TensorFlow's error text says an op (or XLA) is missing on the device, i.e. the cell is unsupported."""
    return bool(missing_ops(text) or _XLA_MISSING.search(text) or any(w in text for w in _PLACEMENT_WORDS))


def placement_reason(text: str, device: str, mode: str, jit: bool = False) -> str:
    """The `unsupported` reason for a cell: which op `mode` needs on `device`, and which cells still work.

    e.g. "in-graph needs `While` on GPU:0, which has no kernel for it; per-call cells are unaffected: run
    `--modes per-call`". Falls back to TensorFlow's first line when the text names no op.
    """
    xla = _XLA_MISSING.search(text)
    if xla:
        return (f"XLA (--jit on) has no compiler for {xla['platform']} on {device}; cells with --jit off are "
                f"unaffected: run `--jit off`")
    ops = missing_ops(text)
    if not ops:
        first = text.strip().splitlines()[0][:300] if text.strip() else "no message"
        return f"{mode} on {device}: an op has no kernel there ({first})"
    named = ", ".join(f"`{op}`" for op in ops)
    need = f"{mode}{' with --jit on' if jit else ''} needs {named} on {device}, which has no kernel for it"
    other = OTHER_MODE.get(mode)
    own = IN_GRAPH_ONLY if mode == "in-graph" else PER_CALL_ONLY if mode == "per-call" else frozenset()
    if other and set(ops) <= own:
        return f"{need}; {other} cells are unaffected: run `--modes {other}`"
    return f"{need}; both modes need it, so every cell on {device} fails the same way; other devices are unaffected"


class PlacedNode(NamedTuple):
    """One node of a placed graph: its op type, the device TensorFlow put it on, the dtype it computes on ('' if none)."""

    op: str
    device: str
    dtype: str


# Nodes that move or name data rather than compute on it: where TensorFlow puts them says nothing about kernels.
_PLUMBING = frozenset({"_Send", "_Recv", "_HostSend", "_HostRecv", "_Arg", "_Retval", "_DeviceArg", "_DeviceRetval",
                       "Identity", "IdentityN", "Const", "_EagerConst", "NoOp", "Enter", "Exit", "Merge", "Switch",
                       "NextIteration", "LoopCond"})
# oneDNN's rewrites of CPU nodes (_MklNativeFusedMatMul is MatMul + BiasAdd + Relu): named by the op they replace.
_REWRITE_PREFIXES = ("_MklNative", "_Mkl", "_")


def kernel_op(op: str) -> str:
    """'_MklNativeFusedMatMul' -> 'MatMul', '_MklMatMul' -> 'MatMul', 'Relu' -> 'Relu'."""
    for prefix in _REWRITE_PREFIXES:
        if op.startswith(prefix):
            op = op[len(prefix):]
            break
    return op.removeprefix("Fused") or op


def _short(device: str) -> str:
    return device.rsplit("device:", 1)[-1].lstrip("/").upper()


def _type(device: str) -> str:
    return _short(device).rpartition(":")[0] or _short(device)


def off_device_ops(nodes: Iterable[PlacedNode], device: str, dtype: str) -> dict[str, str]:
    """{op type: device it ran on} for ops computing on `dtype` that TensorFlow moved off the accelerator `device`.

    Only a device of another type counts (an op on CPU:0 for a CPU:1 cell is a wrong placement, which
    measure's validate() reports), and only for an accelerator: a CPU has a kernel for every op of the step.
    """
    if _type(device) == "CPU":
        return {}
    strays: dict[str, str] = {}
    for n in nodes:
        if n.dtype == dtype and n.op not in _PLUMBING and n.device and _type(n.device) != _type(device):
            strays.setdefault(kernel_op(n.op), _short(n.device))
    return strays


def fallback_reason(strays: dict[str, str], device: str, mode: str, dtype: str) -> str:
    """The `unsupported` reason for ops TensorFlow ran off `device` inside the step: which, where, what still works."""
    ops = list(strays)
    named = ", ".join(f"`{op}`" for op in ops[:6]) + (f" and {len(ops) - 6} more" if len(ops) > 6 else "")
    where = ", ".join(dict.fromkeys(strays.values()))
    them = "it" if len(ops) == 1 else "them"
    need = (f"{mode} runs {named} on {where}, not on {device}, which has no {dtype} kernel for {them} (TensorFlow "
            f"moves such ops out of a tf.function silently, soft placement or not)")
    other = OTHER_MODE.get(mode)
    own = IN_GRAPH_ONLY if mode == "in-graph" else PER_CALL_ONLY if mode == "per-call" else frozenset()
    if other and set(ops) <= own:
        return f"{need}; {other} cells are unaffected: run `--modes {other}`"
    return f"{need}; both modes need {them}, so every {dtype} cell on {device} is affected"
