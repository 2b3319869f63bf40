"""A device's matmul ceiling: the best GFLOP/s over several matmul shapes, the training step's own largest among them.

A single square matmul is not a ceiling for a step whose matmuls have other shapes: the reference run's step
reached 104 % of a 2048² chain. So the probe times a 1024³ square chain and the largest matmul of each network
of the sweep, at the largest batch it runs at ((batch × 784) @ (784 × 100) for the default network), and the
ceiling is the fastest of them. Every shape is timed with the same block protocol as a step (measure.time_blocks).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from simplenn.core.cases import Case
from simplenn.measure.cell import Settings, time_blocks

Shape = tuple[int, int, int]  # (m, k, n): (m × k) @ (k × n), then (m × n) @ (n × k) back to m × k

SQUARE: Shape = (1024, 1024, 1024)
MAX_STEP_SHAPES = 3
# Short: the probe runs at the start and the end of every run, for several shapes; the fastest median counts.
PROBE_SETTINGS = Settings(min_block_s=0.03, min_time_s=0.1, max_time_s=0.3, precision=0.02)
FORMULA = "GFLOP/s = 4·m·k·n per step (two chained matmuls (m×k)@(k×n), (m×n)@(n×k)) × steps per block / median block s / 1e9"


@dataclass(frozen=True)
class Probe:
    """One shape's timing: steps per block and every timed block."""

    shape: Shape
    n_steps: int
    block_s: tuple[float, ...]

    @property
    def gflops(self) -> float:
        """4·m·k·n FLOPs per step × steps per block / median block seconds / 1e9."""
        m, k, n = self.shape
        return 4.0 * m * k * n * self.n_steps / float(np.median(self.block_s)) / 1e9

    def to_dict(self) -> dict:
        return {"shape": list(self.shape), "n_steps": self.n_steps, "block_s": list(self.block_s), "gflops": self.gflops}


@dataclass(frozen=True)
class Ceiling:
    """A device's measured matmul throughput: the fastest of its probes, which a step's GFLOP/s is compared with."""

    device: str
    dtype: str
    probes: tuple[Probe, ...]

    @property
    def best(self) -> Probe:
        return max(self.probes, key=lambda p: p.gflops)

    @property
    def gflops(self) -> float:
        return self.best.gflops

    def to_dict(self) -> dict:
        best = self.best
        return {"kind": "ceiling", "device": self.device, "dtype": self.dtype, "shape": list(best.shape),
                "n_steps": best.n_steps, "block_s": list(best.block_s), "gflops": best.gflops,
                "probes": [p.to_dict() for p in self.probes], "formula": FORMULA}


def step_shapes(cases: Iterable[Case], limit: int = MAX_STEP_SHAPES) -> list[Shape]:
    """The largest matmul of each network at the largest batch it runs at, largest first (at most `limit`)."""
    largest: dict[tuple[int, ...], int] = {}
    for c in cases:
        largest[c.layer_sizes] = max(largest.get(c.layer_sizes, 0), c.batch_size)
    shapes = {(batch, *max(zip(sizes[:-1], sizes[1:]), key=lambda io: io[0] * io[1]))
              for sizes, batch in largest.items() if len(sizes) >= 2}
    return sorted(shapes, key=lambda s: (-s[0] * s[1] * s[2], s))[:limit]


def ceiling_shapes(cases: Iterable[Case]) -> list[Shape]:
    """What a sweep's ceiling probe times: the 1024³ square chain and the step's own largest matmuls."""
    return list(dict.fromkeys([SQUARE, *step_shapes(cases)]))


def probe_ceiling(device: str, shapes: Iterable[Shape] = (SQUARE,), dtype: str = "float32",
                  settings: Settings = PROBE_SETTINGS) -> Ceiling:
    """Time the chain of each of `shapes` on `device`; the ceiling is the fastest."""
    unique = list(dict.fromkeys(tuple(int(d) for d in s) for s in shapes))
    return Ceiling(device, dtype, tuple(_probe(device, s, dtype, settings) for s in unique))


def _probe(device: str, shape: Shape, dtype: str, settings: Settings) -> Probe:
    from simplenn.system.tfimport import tensorflow

    from simplenn.system.hostinit import host_uniform, on_host

    tf = tensorflow()
    m, k, n = shape
    with tf.device(device):  # drawn on the host and copied once: no random op runs on the measured device
        x = tf.Variable(host_uniform(1, (m, k), dtype) + 1)
        # Every entry 1/k (1/n): each product is a row mean, so values neither grow nor decay into denormals.
        w = tf.Variable(on_host(np.full((k, n), 1 / k, np.float32), dtype))
        w_back = tf.Variable(on_host(np.full((n, k), 1 / n, np.float32), dtype))

    @tf.function(input_signature=[tf.TensorSpec((), tf.int32)])
    def chain(steps):
        for _ in tf.range(steps):
            x.assign(tf.matmul(tf.matmul(x, w), w_back))  # each step depends on the last
        return x[0, 0]

    state = {}

    def run(steps: int) -> None:
        with tf.device(device):
            state["out"] = chain(tf.constant(steps, tf.int32))

    def sync() -> float:
        return float(state["out"].numpy())

    run(1)
    sync()
    steps, blocks, _ = time_blocks(run, sync, settings)
    return Probe(shape, steps, tuple(blocks))
