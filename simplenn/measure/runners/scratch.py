"""The from-scratch Network's compiled step on one device, in 'per-call' or 'in-graph' mode."""
from __future__ import annotations

import numpy as np

from simplenn.core.cases import Case
from simplenn.measure.runners.base import Impl

IMPL = Impl("scratch", 0, packages=("tensorflow",), tf_allocator=True)


class ScratchRunner:
    """The from-scratch Network's compiled step on one device, in 'per-call' or 'in-graph' mode."""

    def __init__(self, case: Case, seed: int = 0):
        from simplenn.nn.data import synthetic_batch
        from simplenn.nn.model import Network, make_train_loop, make_train_step, tf

        self.tf = tf
        self.case = case
        sizes = case.layer_sizes
        with tf.device(case.device):
            self.network = Network(sizes, seed=seed, loss=case.loss, dtype=case.dtype)
            x, y = synthetic_batch(case.batch_size, sizes[0], sizes[-1], seed=seed)
            # Copied to the device once, outside the timed region.
            self.x = tf.identity(tf.constant(x, dtype=case.dtype))
            self.y = tf.identity(tf.constant(y, dtype=case.dtype))
        if case.mode == "in-graph":
            self.fn = make_train_loop(self.network, jit_compile=case.jit)
        else:
            self.fn = make_train_step(self.network, jit_compile=case.jit)
        params = self.network.params

        @tf.function
        def read_back():
            # The first element of every parameter, as the step's own update wrote it. Only op types the step's
            # graph already has (ReadVariableOp, Reshape, GatherV2): no AddN/Cast/StridedSlice a device may lack.
            return [tf.gather(tf.reshape(p, [-1]), [0]) for p in params]

        self.read_back = read_back
        self.loss = None

    def run(self, n: int) -> None:
        if self.case.mode == "in-graph":
            self.loss = self.fn(self.x, self.y, self.tf.constant(n, self.tf.int32))
        else:
            for _ in range(n):
                self.loss = self.fn(self.x, self.y)

    def sync(self) -> float:
        # Summed on the host: waits for every parameter's last update, and is non-finite if any parameter is.
        return float(sum(float(v.numpy()[0]) for v in self.read_back()))

    def n_traces(self) -> int | None:
        return self.fn.experimental_get_tracing_count()

    def last_loss(self) -> float:
        return float(self.loss.numpy())

    def placement(self) -> dict:
        return {"variables": self.network.weights[0].device, "output": self.loss.device}

    def params(self) -> list[np.ndarray]:
        return [p.numpy() for p in self.network.params]


RUNNER = ScratchRunner
