"""Where a traced training step spends its time: trace events → op classes → seconds per step for each class.

Classes (`CLASSES`, in the order they are stacked):
  matmul_fwd / matmul_wgrad / matmul_igrad  the forward, weight-gradient (h^T @ δ) and input-gradient (δ @ W^T)
                  matmuls. oneDNN fuses a forward MatMul with its bias add and ReLU into one kernel
                  (`Relu:_MklNativeFusedMatMul`); the whole fused kernel counts as matmul_fwd: the bias and ReLU
                  add B·out operations to the matmul's 2·B·in·out (≤ 1/in of it) and run on the output tile while
                  it is in cache, so a split by FLOPs would move < 1 % and a split by time cannot be measured.
  elementwise_fwd  bias adds and activations that are not fused (Relu, BiasAdd, AddV2)
  elementwise_bwd  their gradients (ReluGrad, the bias gradients' Sum)
  loss             the loss and its gradient (logistic_loss/…, softmax_cross_entropy…, Mean and its gradient, the
                   AddN that sums the loss's gradient paths)
  update           the SGD update (lr × g and p − lr × g; AssignSubVariableOp/AssignVariableOp)
  copy             variable reads, copies and transfers (ReadVariableOp, Identity, _Send/_Recv, memcpy), and the
                   sync's read-back of the parameters
  other_op         an op no rule knows: shown, never hidden in a neighbour (the tests require none for our step)
  executor         a compiled graph is running but no traced kernel is: scheduling ops, thread hand-offs, loop
                   control (while/cond, the loop counter), and kernels too cheap to be traced (TensorFlow stops
                   tracing kernels under ~3 µs after ~90 runs: see simplenn.measure.profile)
  host             the calling thread outside any graph run: Python, the tf.function call, the eager runtime
                   (argument checks, handle bookkeeping), with no kernel and no executor work running
  idle             traced time in which no event runs at all (the Python loop between calls, the profiler's gaps)
The issue's "host/dispatch" is executor + host.

Attribution is by wall time: the traced window is cut where any event starts or ends; in each slice, kernels
running take it (split evenly when several run at once, on several threads or streams), else the executor, else
the host, else it is idle. The classes therefore add up to the traced window exactly; divided by the steps traced
they give seconds per step. When the trace has a device plane (CUDA, or a PluggableDevice that implements the
profiler C API) its kernels are the kernels, classified by their `tf_op`, and the host's op events count as
dispatch (they are launches); otherwise (a CPU device) the host's op events are the kernels.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simplenn.core.cases import step_matmuls
from simplenn.measure.profile import WINDOW_EVENT
from simplenn.store import xplane

MATMUL_CLASSES = ("matmul_fwd", "matmul_wgrad", "matmul_igrad")
OP_CLASSES = MATMUL_CLASSES + ("elementwise_fwd", "elementwise_bwd", "loss", "update", "copy", "other_op")
CLASSES = OP_CLASSES + ("executor", "host", "idle")
LABELS = {"matmul_fwd": "matmul forward", "matmul_wgrad": "matmul weight gradient",
          "matmul_igrad": "matmul input gradient", "elementwise_fwd": "element-wise forward",
          "elementwise_bwd": "element-wise backward", "loss": "loss and its gradient", "update": "parameter update",
          "copy": "copies, transfers, reads", "other_op": "other ops", "executor": "executor (no kernel running)",
          "host": "host (Python, eager runtime)", "idle": "idle (nothing traced)"}

MATMUL_TYPES = {"MatMul", "_MklMatMul", "_MklNativeMatMul", "_FusedMatMul", "_MklFusedMatMul", "_MklNativeFusedMatMul",
                "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "_MklBatchMatMul", "_MklBatchMatMulV2", "Einsum"}
UPDATE_TYPES = {"AssignSubVariableOp", "AssignVariableOp", "AssignAddVariableOp", "ResourceApplyGradientDescent"}
COPY_TYPES = {"ReadVariableOp", "Identity", "_Send", "_Recv", "_HostSend", "_HostRecv", "Const", "_Arg", "_Retval",
              "MemcpyHtoD", "MemcpyDtoH", "MemcpyDtoD", "_CopyFromGpuToHost", "_CopyFromHostToGpu"}
CONTROL_TYPES = {"Less", "LoopCond", "Enter", "Exit", "Merge", "Switch", "NextIteration", "StatelessWhile", "While"}
ELEMENTWISE_FWD_TYPES = {"Relu", "BiasAdd", "AddV2", "Add", "_MklAdd", "_MklRelu", "Sigmoid", "Tanh"}
LOSS_MARKS = ("logistic_loss", "softmax_cross_entropy", "SoftmaxCrossEntropy", "SigmoidCrossEntropy")
# Runtime events that are not a kernel (no ':Type' suffix): the executor threads' own work, and on the calling
# thread the span in which a compiled function runs (TensorFlow's KernelAndDeviceFunc::Run, XLA's
# ThunkExecutor::Execute): the caller is waiting for the graph then, not doing host work.
EXECUTOR_EVENTS = re.compile(r"^(ExecutorState::|ExecutorDoneCallback|ParallelFor|MemoryAllocation|MemoryDeallocation|"
                             r"ThreadpoolListener::|KernelAndDeviceFunc::Run|ThunkExecutor::Execute)")
_OP = re.compile(r"^(?P<node>[^\s:](?:[^:\s]*[^:\s])?):(?P<type>[A-Za-z_]\w*)$")
_WHILE = re.compile(r"(?<![^/])while/(?:(?:body|cond)/_\d+/)?")  # a `while/` scope, at the start or after a '/' 
_SUFFIX = re.compile(r"_\d+$")


def split_op(name: str) -> tuple[str, str] | None:
    """'gradient_tape/MatMul/MatMul:_MklMatMul' -> (node, type); None for a runtime event ('ExecutorState::Process')."""
    m = _OP.match(name)
    return (m["node"], m["type"]) if m else None


def scope_path(node: str) -> str:
    """The node's path with TensorFlow's loop scopes removed: 'while/body/_1/gradient_tape/while/MatMul/MatMul'
    -> 'gradient_tape/MatMul/MatMul', so in-graph and per-call steps read alike."""
    return _WHILE.sub("", node)


def op_class(node: str, op_type: str, n_layers: int | None = None) -> str:
    """The class of one op (MATMUL roles of gradient matmuls are settled by `matmul_roles`, here 'matmul_grad')."""
    path = scope_path(node)
    parts = path.split("/")
    last = parts[-1]
    if node.startswith("while/cond/") or "/while/cond/" in node:
        return "executor"  # the loop's condition
    if op_type in MATMUL_TYPES:
        return "matmul_grad" if parts[0] == "gradient_tape" else "matmul_fwd"
    if op_type in UPDATE_TYPES:
        return "update"
    if any(mark in path for mark in LOSS_MARKS) or op_type == "AddN" or parts[0] == "Mean":
        return "loss"
    if op_type in CONTROL_TYPES:
        return "executor"
    if parts[0] == "gradient_tape":
        if op_type == "ReluGrad" or len(parts) > 2:
            return "elementwise_bwd"  # ReluGrad; the bias gradients (gradient_tape/add_k/Sum, …/Reshape)
        return "loss"  # gradient_tape/<op> directly: the Mean's gradient (Tile, Prod, GatherV2, truediv, Cast, …)
    if len(parts) == 1 and _SUFFIX.sub("", last) in ("mul", "sub") and op_type in ("Mul", "Sub"):
        return "update"  # lr × g and p − lr × g: the only unscoped Mul/Sub of the step
    if len(parts) == 1 and _SUFFIX.sub("", last) == "add" and op_type in ("AddV2", "Add"):
        index = int(last.rpartition("_")[2]) if "_" in last else 0
        # add … add_{L-1} are the layers' bias adds; an in-graph loop's own counters come after them.
        return "executor" if n_layers is not None and index >= n_layers else "elementwise_fwd"
    if op_type in ELEMENTWISE_FWD_TYPES:
        return "elementwise_fwd"
    if op_type in COPY_TYPES or op_type in ("GatherV2", "Reshape"):
        return "copy"  # unscoped GatherV2/Reshape: the sync's read-back of one element per parameter
    return "other_op"


def matmul_roles(nodes: pd.Series) -> pd.Series:
    """Weight or input gradient for each gradient matmul node (scope paths), from TensorFlow's MatMul gradient.

    TensorFlow's `_MatMulGrad` for `h @ W` builds `δ @ W^T` (input gradient) and then `h^T @ δ` (weight gradient),
    named `gradient_tape/<MatMul>/MatMul` and `…/MatMul_1`. When the input needs no gradient (the first layer: its
    input is the batch) only the weight gradient is built, under the first name. So a lone gradient matmul is the
    weight gradient. (tests/test_profile_trace.py checks this against the graph's transpose attributes.)
    """
    parent = nodes.str.rpartition("/")[0]
    counts = parent.groupby(parent).transform("size") if len(nodes) else parent
    last = nodes.str.rpartition("/")[2]
    return pd.Series(np.where((last == "MatMul") & (counts > 1), "matmul_igrad", "matmul_wgrad"), index=nodes.index)


def matmul_layer(path: str) -> int | None:
    """The 1-based layer of a matmul node's scope path: MatMul_k, Relu_k or add_k (a forward kernel fused under its
    last op's name) and gradient_tape/MatMul_k/… belong to layer k + 1; None when the name says nothing."""
    name = path.split("/")[1] if path.startswith("gradient_tape/") and "/" in path else path
    found = re.fullmatch(r"(?:MatMul|Relu|add)(?:_(\d+))?", name)
    return int(found[1] or 0) + 1 if found else None


ROLE_OF = {"matmul_fwd": "forward", "matmul_wgrad": "weight gradient", "matmul_igrad": "input gradient"}


def traced_matmul_flops(classified: pd.DataFrame, n_steps: int, batch_size: int, layer_sizes: tuple[int, ...],
                        window: tuple[float, float] | None = None) -> float:
    """FLOPs per step of the matmul kernels the trace shows (from each one's role, layer and the step's shapes).

    In the steady state TensorFlow leaves kernels under ~3 µs untraced (small matmuls at small batches among them);
    their FLOPs must not be divided by the traced matmuls' time, or the matmuls would seem faster than they are.
    """
    flops = {(ROLE_OF[c], i): mm.flops for c in ROLE_OF for i in range(1, len(layer_sizes))
             for mm in step_matmuls(batch_size, layer_sizes) if mm.role == f"{ROLE_OF[c]} {i}"}
    mm = classified[(classified["layer"] == "kernel") & classified["cls"].isin(MATMUL_CLASSES)]
    if window:
        mm = mm[(mm["start_s"] >= window[0]) & (mm["end_s"] <= window[1])]
    layers = mm["node"].map(scope_path).map(matmul_layer)
    total = sum(flops.get((ROLE_OF[c], layer), 0) for c, layer in zip(mm["cls"], layers))
    return total / n_steps


def classify(events: pd.DataFrame, n_layers: int | None = None) -> pd.DataFrame:
    """The events table with `layer` (kernel, executor, host; `window` for the marker), `node`, `op_type` and `cls`."""
    out = events.copy()
    marker = out["name"] == WINDOW_EVENT
    device_planes = out["plane"].str.startswith("/device:") & (out["plane"] != "/device:CPU:0")
    has_device = bool(device_planes.any())
    op_name = out["name"].where(~device_planes | (out["tf_op"] == ""), out["tf_op"])
    parsed = op_name.map(split_op)
    is_op = parsed.notna()
    out["node"] = parsed.map(lambda p: p[0] if p else "")
    out["op_type"] = parsed.map(lambda p: p[1] if p else "")
    out["cls"] = [op_class(n, t, n_layers) if ok else "" for n, t, ok in zip(out["node"], out["op_type"], is_op)]
    grads = out["cls"] == "matmul_grad"
    if grads.any():
        paths = out.loc[grads, "node"].map(scope_path)
        unique = pd.Series(paths.unique())
        roles = dict(zip(unique, matmul_roles(unique)))
        out.loc[grads, "cls"] = paths.map(roles)
    # Loop-control kernels (while/cond, the loop counter) are the runtime's work: they join the executor layer.
    kernel = is_op & (device_planes if has_device else ~device_planes) & (out["cls"] != "executor")
    executor = ~kernel & (is_op | out["name"].str.match(EXECUTOR_EVENTS) | device_planes)
    out["layer"] = np.select([marker, kernel, executor], ["window", "kernel", "executor"], "host")
    out.loc[~kernel, "cls"] = np.where(executor[~kernel], "executor", "host")
    out.loc[marker, "cls"] = ""
    return out


def traced_window(events: pd.DataFrame) -> tuple[float, float] | None:
    """(start s, end s) of the marker the tracer puts around the traced block, or None."""
    marks = events[events["name"] == WINDOW_EVENT]
    if marks.empty:
        return None
    return float(marks["start_s"].iloc[-1]), float(marks["end_s"].iloc[-1])


@dataclass(frozen=True)
class Attribution:
    """Seconds per step of each class over a traced window of `n_steps` steps.

    `table`: one row per class (cls, label, s_per_step, share of the traced step); s_per_step sums to
    `traced_step_s` = window / n_steps exactly. `matmul_busy_s`: wall seconds per step in which at least one
    matmul kernel runs — what the matmuls' FLOPs are divided by (a matmul sharing a slice with another kernel
    gets only part of it in `table`, but the device was doing matmul work through all of it).
    """

    table: pd.DataFrame
    traced_step_s: float
    matmul_busy_s: float
    n_steps: int

    def seconds(self) -> dict[str, float]:
        """{class: seconds per step}."""
        return dict(zip(self.table["cls"], self.table["s_per_step"]))


def attribute(classified: pd.DataFrame, n_steps: int, window: tuple[float, float] | None = None) -> Attribution:
    """Attribute the traced window (default: first event start to last event end) to the classes, per step."""
    if n_steps <= 0:
        raise ValueError(f"n_steps must be positive, got {n_steps}")
    ev = classified[(classified["dur_s"] > 0) & (classified["layer"] != "window")]
    t0, t1 = window or (float(ev["start_s"].min()), float(ev["end_s"].max()))
    ev = ev[(ev["end_s"] > t0) & (ev["start_s"] < t1)]
    start, end = ev["start_s"].clip(t0, t1).to_numpy(), ev["end_s"].clip(t0, t1).to_numpy()
    bounds = np.unique(np.concatenate([[t0, t1], start, end]))
    length = np.diff(bounds)
    lo, hi = np.searchsorted(bounds, start), np.searchsorted(bounds, end)

    def active(mask: np.ndarray) -> np.ndarray:
        """How many of the masked events run in each slice between bounds."""
        diff = np.zeros(len(bounds) + 1)
        np.add.at(diff, lo[mask], 1)
        np.add.at(diff, hi[mask], -1)
        return np.cumsum(diff)[: len(length)]

    cls, layer = ev["cls"].to_numpy(), ev["layer"].to_numpy()
    counts = {c: active((layer == "kernel") & (cls == c)) for c in OP_CLASSES}
    kernels = sum(counts.values())
    executor, host = active(layer == "executor"), active(layer == "host")
    seconds = {c: float(np.sum(length * np.divide(n, kernels, out=np.zeros_like(n), where=kernels > 0)))
               for c, n in counts.items()}
    free = kernels == 0
    seconds["executor"] = float(length[free & (executor > 0)].sum())
    seconds["host"] = float(length[free & (executor == 0) & (host > 0)].sum())
    seconds["idle"] = float(length[free & (executor == 0) & (host == 0)].sum())
    matmul_busy = float(length[sum(counts[c] for c in MATMUL_CLASSES) > 0].sum())
    total = float(t1 - t0)
    table = pd.DataFrame({"cls": list(CLASSES), "label": [LABELS[c] for c in CLASSES],
                          "s_per_step": [seconds[c] / n_steps for c in CLASSES],
                          "share": [seconds[c] / total if total > 0 else np.nan for c in CLASSES]})
    return Attribution(table, total / n_steps, matmul_busy / n_steps, n_steps)


def profile_trace(path, n_layers: int | None = None, n_steps: int | None = None) -> tuple[pd.DataFrame, Attribution]:
    """Read, classify and attribute one trace: (classified events, attribution over the marked window).

    Without the tracer's marker the whole trace is the window and `n_steps` must be given.
    """
    classified = classify(xplane.events(path), n_layers)
    window = traced_window(classified)
    marked = [s.get("n_steps") for s in xplane.event_stats(path, WINDOW_EVENT)]
    n_steps = n_steps or (int(marked[-1]) if marked and marked[-1] else None)
    if not n_steps:
        raise xplane.TraceError(f"{path}: no {WINDOW_EVENT} marker with its step count in the trace; give the "
                                "number of steps it holds")
    return classified, attribute(classified, n_steps, window)


def chrome_trace(classified: pd.DataFrame) -> dict:
    """The classified events in the Chrome trace-event format (Perfetto's ui.perfetto.dev and chrome://tracing open
    it): one complete event per event, µs from the trace's start, its op class as the category."""
    threads = {name: i for i, name in enumerate(dict.fromkeys(classified["plane"] + " " + classified["line"]))}
    events = [{"name": r.name, "cat": r.cls or r.layer, "ph": "X", "ts": r.start_s * 1e6, "dur": r.dur_s * 1e6,
               "pid": 0, "tid": threads[f"{r.plane} {r.line}"]} for r in classified.itertuples()]
    names = [{"name": "thread_name", "ph": "M", "pid": 0, "tid": i, "args": {"name": n}} for n, i in threads.items()]
    return {"traceEvents": names + events, "displayTimeUnit": "ns"}
