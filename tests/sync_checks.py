"""Checks of a runner's sync() against an independent reference (float64 numpy SGD), and two broken syncs.

Not a test module: test_sync.py and test_standin_gpu.py import it.
"""
from __future__ import annotations

import numpy as np
import pytest

from simplenn.core.cases import Case
from simplenn.measure.runners.base import initial_state as _initial_state
from tiny import TINY

K = 3


def params_of(runner) -> list[np.ndarray]:
    if hasattr(runner, "params"):
        return runner.params()
    return [p.numpy() for p in runner.network.params]


def reference(loss: str, n_steps: int) -> list[np.ndarray]:
    """[W1, b1, …] after n_steps of plain SGD, in float64 numpy: forward, backprop and update written out here."""
    params, x, y, lr = _initial_state(Case("CPU:0", 8, TINY, loss=loss), seed=0)
    params = [p.astype(np.float64) for p in params]
    x, y = x.astype(np.float64), y.astype(np.float64)
    for _ in range(n_steps):
        activations, h = [x], x
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i < len(params) - 2:
                h = np.maximum(h, 0)
            activations.append(h)
        if loss == "sigmoid":  # d mean(BCE with logits) / d logits over batch × classes
            grad = (1 / (1 + np.exp(-h)) - y) / y.size
        else:
            e = np.exp(h - h.max(axis=1, keepdims=True))
            grad = (e / e.sum(axis=1, keepdims=True) - y) / len(y)
        grads = []
        for i in range(len(params) // 2 - 1, -1, -1):
            grads[:0] = [activations[i].T @ grad, grad.sum(axis=0)]
            if i:
                grad = (grad @ params[2 * i].T) * (activations[i] > 0)
        params = [p - lr * g for p, g in zip(params, grads)]
    return params


def checksum(params) -> float:
    return float(sum(np.asarray(p).reshape(-1)[0] for p in params))


def check_value(runner, loss: str = "sigmoid") -> None:
    """run(K) + sync() returns the checksum after exactly K steps, and params() are those of the reference."""
    runner.run(K)
    value = runner.sync()
    want, before = checksum(reference(loss, K)), checksum(reference(loss, K - 1))
    assert abs(want - before) > 1e-4, "the last step must move the checksum, or the check proves nothing"
    assert isinstance(value, float), f"sync() returned {value!r}, not the host-read checksum"
    assert value == pytest.approx(want, rel=1e-5, abs=1e-6), f"sync() read {value}, want {want} (before: {before})"
    for got, ref in zip(params_of(runner), reference(loss, K), strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)


class NoWait:
    """A runner whose sync() returns at once without reading anything back: it waits for nothing."""

    def __init__(self, inner):
        object.__setattr__(self, "inner", inner)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __setattr__(self, name, value):  # the checks swap parameters (the jax gate): on the real runner
        setattr(self.inner, name, value)

    def sync(self):
        return None


class ReadsLoss(NoWait):
    """A runner whose sync() reads the last loss back, as a careless harness does: the loss is computed before the
    last update, so on a lazy or asynchronous device the update may still be pending."""

    def sync(self):
        return float(self.inner.last_loss())
