"""Runners that misbehave on purpose, for the checks that must catch them.

Not a test module: test_measure.py and test_standin_gpu.py import it.
"""
from __future__ import annotations

from simplenn.measure.runners.scratch import ScratchRunner
from simplenn.nn.model import sgd_step, tf


class RetracingRunner(ScratchRunner):
    """The step takes a new Python int on every call, so tf.function traces it again each time."""

    def __init__(self, case, seed):
        super().__init__(case, seed)
        network = self.network

        @tf.function
        def step(x, y, call_number):
            return sgd_step(network, x, y)

        self.fn = step
        self.calls = 0

    def run(self, n):
        for _ in range(n):
            self.calls += 1
            self.loss = self.fn(self.x, self.y, self.calls)
