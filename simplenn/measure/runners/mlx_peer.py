"""The same training step in Apple's MLX, compiled with `mx.compile`, behind the runner protocol of simplenn.measure.runners.

It starts from the scratch `Network(case.layer_sizes, seed)`'s initial weights, trains on the same `synthetic_batch`
with the same loss (the stable sigmoid cross-entropy TF uses, or softmax cross-entropy of one-hot labels, both
averaged as `loss_from_logits` does) and plain SGD at the same learning rate.

MLX is lazy: calling the compiled step only records it; nothing runs until `mx.eval` (ml-explore/mlx#114). So
`sync()` evaluates every parameter and reads one element of each back to the host, and `run(n)` never waits.

MLX is optional (`pip install 'simplenn-bench[peers]'`, or `mlx[cpu]` on Linux, which has no GPU backend).
"""
from __future__ import annotations

import numpy as np

from simplenn.core.cases import Case
from simplenn.measure.runners.base import Impl, Unsupported, device_kind_index, initial_state, require

# mlx-metal is MLX's Metal backend (macOS), mlx-cpu its Linux CPU one. MLX's CPU exp computes float64 through its
# float32 approximation (ml-explore/mlx#3047, open): its float64 step agrees with scratch to ~4e-9 relative
# (measured), still 100× tighter than the float32 tolerance.
IMPL = Impl("mlx", 4, packages=("mlx", "mlx-metal", "mlx-cpu"), tolerance={"float64": (1e-6, 1e-9)}, limits={
    ("mode", "in-graph"): "mlx is timed one mx.compile'd call per step; in-graph mode (n steps in one graph) is not "
                          "built for it",
    ("jit", True): "--jit applies to TensorFlow's XLA only; the mlx step is always mx.compile'd"})

# run(n) schedules the parameters (mx.async_eval, which does not wait) every EVAL_EVERY steps, so a long block
# cannot grow one unbounded lazy graph (every unevaluated step stays recorded, and MLX's lazy-evaluation guide notes
# that building and walking a graph has a cost of its own). A block's only wait stays sync(). Measured here
# (bench/mlx_figures.py, batch 32, 0.5 s blocks, two runs): no difference from evaluating only in sync(),
# 0.99× [95 % CI 0.87–1.12] and 1.04× [0.53–1.37].
EVAL_EVERY = 64


def mlx_device(name: str, mx=None):
    """The MLX device for a TF device name: CPU:* -> mx.cpu; GPU:0 -> mx.gpu (Metal); anything else Unsupported."""
    mx = mx or require("mlx.core")
    kind, index = device_kind_index(name)
    if kind == "CPU":
        return mx.cpu  # MLX has one CPU device; TF's logical CPU:1 is the same physical CPU
    if kind == "GPU":
        if index != 0:
            raise Unsupported(f"MLX has one GPU device (mx.gpu); {name} has no MLX counterpart")
        if not mx.is_available(mx.gpu):
            raise Unsupported(f"MLX {mx.__version__} has no GPU backend here (Metal needs macOS on Apple Silicon; "
                              "the Linux mlx[cpu] build is CPU only)")
        return mx.gpu
    raise Unsupported(f"no MLX device for {name}")


class MlxRunner:
    """The MLP as one `mx.compile`d SGD step whose captured state is the parameter list.

    Per-call mode only, without --jit: its IMPL.limits say so before a runner is built.
    """

    def __init__(self, case: Case, seed: int = 0):
        mx = require("mlx.core")
        self.mx = mx
        self.case = case
        self.device = mlx_device(case.device, mx)
        if case.dtype == "float64" and self.device == mx.gpu:
            raise Unsupported("float64 is not supported on the Metal GPU (MLX runs float64 on the CPU only)")
        dtype = getattr(mx, case.dtype)
        params, x, y, lr = initial_state(case, seed)
        with mx.stream(self.device):
            self.state = [mx.array(p, dtype=dtype) for p in params]
            self.x = mx.array(x, dtype=dtype)
            self.y = mx.array(y, dtype=dtype)
            mx.eval(self.state, self.x, self.y)  # copied in once, outside any timed region
        self._step = _compiled_step(mx, self.state, case.loss, lr, dtype)
        self.eval_every = EVAL_EVERY
        self._since_eval = 0
        self.loss = None

    def run(self, n: int) -> None:
        with self.mx.stream(self.device):
            for _ in range(n):
                self.loss = self._step(self.x, self.y)
                self._since_eval += 1
                if self._since_eval >= self.eval_every:
                    self.mx.async_eval(self.state, self.loss)  # bounds the graph; does not wait
                    self._since_eval = 0

    def sync(self) -> float:
        mx = self.mx
        with mx.stream(self.device):
            mx.eval(self.state, [] if self.loss is None else self.loss)
            # The host read: one element of every (now evaluated) parameter.
            total = float(sum(p.reshape(-1)[0].item() for p in self.state))
        self._since_eval = 0
        return total

    def n_traces(self) -> int | None:
        return None  # mx.compile retraces on a new shape or dtype; it exposes no count

    def last_loss(self) -> float:
        return float(self.loss.item())

    def placement(self) -> dict:
        return {}  # MLX devices have no TF name; the mapping is fixed by mlx_device()

    def params(self) -> list[np.ndarray]:
        return [np.array(p) for p in self.state]


def _compiled_step(mx, state: list, loss_name: str, lr: float, dtype):
    """`step(x, y) -> loss`: forward, gradients and `p -= lr·g`, compiled with `state` as its captured input/output."""
    lr = mx.array(lr, dtype=dtype)

    def loss_fn(params, x, y):
        h = x
        n_layers = len(params) // 2
        for i in range(n_layers):
            h = h @ params[2 * i] + params[2 * i + 1]
            if i < n_layers - 1:
                h = mx.maximum(h, 0)
        if loss_name == "sigmoid":  # tf.nn.sigmoid_cross_entropy_with_logits' stable form, mean over batch × classes
            return mx.mean(mx.maximum(h, 0) - h * y + mx.log1p(mx.exp(-mx.abs(h))))
        return mx.mean(-mx.sum(y * (h - mx.logsumexp(h, axis=-1, keepdims=True)), axis=-1))

    grad = mx.value_and_grad(loss_fn)

    def step(x, y):
        loss, grads = grad(state, x, y)
        state[:] = [p - lr * g for p, g in zip(state, grads)]  # in place: mx.compile reads `state` back as output
        return loss

    return mx.compile(step, inputs=state, outputs=state)


RUNNER = MlxRunner
