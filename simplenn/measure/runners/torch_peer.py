"""Peer: the same MLP in PyTorch eager mode (one Python call per step, torch.optim.SGD)."""
from __future__ import annotations

import sys

import numpy as np

from simplenn.core.cases import Case
from simplenn.measure.runners.base import Impl, Unsupported, device_kind_index, initial_state, require

IMPL = Impl("torch", 2, packages=("torch",), limits={
    ("mode", "in-graph"): "torch runs eagerly, one Python call per step; in-graph mode is not available for it",
    ("jit", True): "torch.compile is not benchmarked; --jit applies to TensorFlow's XLA only"})


def torch_device(name: str, torch=None) -> str:
    """The torch device for a TF device name: CPU:* -> 'cpu'; GPU:0 -> 'mps' (macOS) or 'cuda:0'; else Unsupported."""
    torch = torch or require("torch")
    kind, index = device_kind_index(name)
    if kind == "CPU":
        return "cpu"  # torch has one CPU device; TF's logical CPU:1 is the same physical CPU
    if kind == "GPU":
        mps = getattr(torch.backends, "mps", None)
        if sys.platform == "darwin" and mps is not None and mps.is_available():
            if index != 0:
                raise Unsupported(f"torch's MPS backend has one device; {name} has no torch counterpart")
            return "mps"
        if torch.cuda.is_available() and index < torch.cuda.device_count():
            return f"cuda:{index}"
        raise Unsupported(f"torch sees no GPU for {name} (no MPS, no CUDA) — torch {torch.__version__}")
    raise Unsupported(f"no torch device for {name}")


class TorchRunner:
    """The same MLP in PyTorch eager mode: one Python call per step, torch.optim.SGD."""

    def __init__(self, case: Case, seed: int = 0):
        torch = require("torch")
        self.torch = torch
        self.case = case
        self.device = torch_device(case.device, torch)
        dtype = getattr(torch, case.dtype)
        if self.device == "mps" and case.dtype == "float64":
            raise Unsupported("float64 is not supported on MPS (Metal has no double type)")
        params, x, y, lr = initial_state(case, seed)
        self.params_t = [torch.tensor(p, dtype=dtype, device=self.device, requires_grad=True) for p in params]
        self.x = torch.tensor(x, dtype=dtype, device=self.device)
        self.y = torch.tensor(y, dtype=dtype, device=self.device)
        self.optimizer = torch.optim.SGD(self.params_t, lr=lr)
        f = torch.nn.functional
        # Same loss as Network.loss: mean over batch × classes (sigmoid) or over the batch (softmax, one-hot).
        self.loss_fn = f.binary_cross_entropy_with_logits if case.loss == "sigmoid" else f.cross_entropy
        self.loss = None
        if self.device.startswith("cuda"):
            self._wait = torch.cuda.synchronize
        elif self.device == "mps":
            self._wait = torch.mps.synchronize
        else:
            self._wait = lambda: None

    def _forward(self, x):
        h = x
        pairs = list(zip(self.params_t[0::2], self.params_t[1::2]))
        for i, (w, b) in enumerate(pairs):
            h = h @ w + b
            if i < len(pairs) - 1:
                h = self.torch.relu(h)
        return h

    def run(self, n: int) -> None:
        for _ in range(n):
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self._forward(self.x), self.y)
            loss.backward()
            self.optimizer.step()
            self.loss = loss

    def sync(self) -> float:
        self._wait()
        with self.torch.no_grad():
            return float(sum(p.reshape(-1)[0].float() for p in self.params_t).item())

    def n_traces(self) -> int | None:
        return None

    def last_loss(self) -> float:
        return float(self.loss.item())

    def placement(self) -> dict:
        return {}  # torch devices have no TF name; the mapping is fixed by torch_device()

    def params(self) -> list[np.ndarray]:
        return [p.detach().cpu().numpy().copy() for p in self.params_t]


RUNNER = TorchRunner
