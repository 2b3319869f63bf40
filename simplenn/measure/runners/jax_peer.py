"""Peer: the same MLP as a `jax.jit` step; in-graph mode runs n steps in one jit via `lax.fori_loop`."""
from __future__ import annotations

import numpy as np

from simplenn.core.cases import Case
from simplenn.measure.runners.base import Impl, Unsupported, device_kind_index, initial_state, require

IMPL = Impl("jax", 3, packages=("jax", "jaxlib"))


def jax_device(name: str, jax=None):
    """The jax device for a TF device name: CPU:n -> jax CPU device n (else 0); GPU:n -> n-th non-CPU device."""
    jax = jax or require("jax")
    kind, index = device_kind_index(name)
    if kind == "CPU":
        cpus = jax.devices("cpu")
        return cpus[index] if index < len(cpus) else cpus[0]  # one physical CPU either way
    if kind == "GPU":
        accelerators = [d for d in jax.devices() if d.platform != "cpu"]
        if index < len(accelerators):
            return accelerators[index]
        raise Unsupported(f"jax sees no accelerator for {name} (backend {jax.default_backend()!r}); "
                          "install a GPU build of jaxlib (jax[cuda12] or jax-metal) to compare on the GPU")
    raise Unsupported(f"no jax device for {name}")


class JaxRunner:
    """The same MLP as a `jax.jit` step; in-graph mode runs n steps in one jit via `lax.fori_loop`."""

    def __init__(self, case: Case, seed: int = 0):
        jax = require("jax")
        jnp = require("jax.numpy")
        self.jax = jax
        self.case = case
        if case.dtype == "float64" and not jax.config.jax_enable_x64:
            raise Unsupported("jax computes float64 only with JAX_ENABLE_X64=1")
        device = jax_device(case.device, jax)
        params, x, y, lr = initial_state(case, seed)
        dtype = jnp.dtype(case.dtype)
        self.params_j = [jax.device_put(jnp.asarray(p, dtype), device) for p in params]
        self.x = jax.device_put(jnp.asarray(x, dtype), device)
        self.y = jax.device_put(jnp.asarray(y, dtype), device)
        self._traces = 0
        sigmoid = case.loss == "sigmoid"
        lr = jnp.asarray(lr, dtype)

        def loss_fn(params, x, y):
            h = x
            n_layers = len(params) // 2
            for i in range(n_layers):
                h = h @ params[2 * i] + params[2 * i + 1]
                if i < n_layers - 1:
                    h = jax.nn.relu(h)
            if sigmoid:  # the numerically stable form tf.nn.sigmoid_cross_entropy_with_logits uses
                return jnp.mean(jnp.maximum(h, 0) - h * y + jnp.log1p(jnp.exp(-jnp.abs(h))))
            return jnp.mean(-jnp.sum(y * jax.nn.log_softmax(h, axis=-1), axis=-1))

        def step(params, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            return [p - lr * g for p, g in zip(params, grads)], loss

        def per_call(params, x, y):
            self._traces += 1  # Python side effect: runs once per trace, never per call
            return step(params, x, y)

        def in_graph(params, x, y, n):
            self._traces += 1

            def body(_, carry):
                return step(carry[0], x, y)

            return jax.lax.fori_loop(0, n, body, (params, jnp.zeros((), dtype)))

        # Parameters are donated: the update reuses their buffers, as TF's assign_sub and torch's in-place step do.
        if case.mode == "in-graph":
            self._fn = jax.jit(in_graph, donate_argnums=0)
        else:
            self._fn = jax.jit(per_call, donate_argnums=0)
        self._checksum = jax.jit(lambda params: sum(p.reshape(-1)[0].astype(jnp.float32) for p in params))
        self.loss = None

    def run(self, n: int) -> None:
        if self.case.mode == "in-graph":
            self.params_j, self.loss = self._fn(self.params_j, self.x, self.y, n)
        else:
            for _ in range(n):
                self.params_j, self.loss = self._fn(self.params_j, self.x, self.y)

    def sync(self) -> float:
        self.jax.block_until_ready(self.params_j)
        return float(self._checksum(self.params_j))

    def n_traces(self) -> int | None:
        return self._traces

    def last_loss(self) -> float:
        return float(self.loss)

    def placement(self) -> dict:
        return {}  # jax devices have no TF name; the mapping is fixed by jax_device()

    def params(self) -> list[np.ndarray]:
        return [np.asarray(p).copy() for p in self.params_j]


RUNNER = JaxRunner
