"""A device's matmul ceiling: the best GFLOP/s over the training step's own matmuls, timed as the step runs them.

A step's GFLOP/s (simplenn.core.cases.flops_per_step over its time) is a time-weighted mean of its matmuls' rates, slowed
further by the element-wise work it also does, so it cannot beat the fastest of its matmuls. The probe therefore
times the matmuls the step runs, one at a time and as the step runs them: each network's matmuls that carry at
least MIN_SHARE of its step's FLOPs, at the largest batch the sweep runs it at, with their transposes (the weight
gradient is x^T @ δ, `transpose_a`; the input gradient δ @ W^T, `transpose_b`), plus a 1024³ square matmul as a
yardstick across machines. The ceiling is the fastest. The probe runs in the process that times the cells (the
sweep's worker), so under the same TensorFlow thread pools; the intra-/inter-op settings are recorded with it.
Every matmul is timed with the same block protocol as a step (measure.time_blocks).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from simplenn.core.cases import Case, MatMul, flops_per_step, step_matmuls
from simplenn.core.records import CeilingRecord
from simplenn.measure.cell import Settings, time_blocks

SQUARE = MatMul(1024, 1024, 1024, role="square")
# A matmul below this share of its step's FLOPs is left out: the step's rate is dominated by its big matmuls,
# and each probe costs a trace and ≥ 6 blocks. That keeps the first layer's forward and weight-gradient matmuls of
# 784-100-30-10 (47 % each) and 784-256-256-10 (33 % each), and five of 784-1024-1024-10's (17–22 % each).
MIN_SHARE = 0.15
# Short: the probe runs at the start and the end of every run, for several matmuls; the fastest median counts.
PROBE_SETTINGS = Settings(min_block_s=0.03, min_time_s=0.1, max_time_s=0.3, precision=0.02)
FORMULA = ("GFLOP/s = 2·m·k·n per matmul (operands as the step stores them, transposed where it transposes them) "
           "× matmuls per block / median block s / 1e9")


@dataclass(frozen=True)
class Probe:
    """One matmul's timing: matmuls per block and every timed block."""

    matmul: MatMul
    n_steps: int
    block_s: tuple[float, ...]

    @property
    def gflops(self) -> float:
        """2·m·k·n FLOPs per matmul × matmuls per block / median block seconds / 1e9."""
        return self.matmul.flops * self.n_steps / float(np.median(self.block_s)) / 1e9

    def to_dict(self) -> dict:
        mm = self.matmul
        return {"shape": [mm.m, mm.k, mm.n], "transpose_a": mm.transpose_a, "transpose_b": mm.transpose_b,
                "matmul": mm.label, "role": mm.role, "n_steps": self.n_steps, "block_s": list(self.block_s),
                "gflops": self.gflops}


@dataclass(frozen=True)
class Ceiling:
    """A device's measured matmul throughput: the fastest of its probes, which a step's GFLOP/s is compared with."""

    device: str
    dtype: str
    probes: tuple[Probe, ...]
    threads: tuple[tuple[str, int], ...] = ()  # TensorFlow's (name, value) thread settings where the probe ran

    @property
    def best(self) -> Probe:
        return max(self.probes, key=lambda p: p.gflops)

    @property
    def gflops(self) -> float:
        return self.best.gflops

    def to_record(self) -> CeilingRecord:
        """The samples.jsonl record of this probe: its best matmul, every probe, the TF thread settings."""
        best = self.best.to_dict()
        return CeilingRecord(
            self.device, best["gflops"], self.dtype, tuple(best["shape"]), best["n_steps"], tuple(best["block_s"]),
            tuple(p.to_dict() for p in self.probes), FORMULA, transpose_a=best["transpose_a"],
            transpose_b=best["transpose_b"], matmul=best["matmul"], tf_threads=dict(self.threads))


def step_shapes(cases: Iterable[Case], min_share: float = MIN_SHARE) -> list[MatMul]:
    """Each network's step matmuls carrying ≥ min_share of its FLOPs, at the largest batch it runs at; largest first."""
    largest: dict[tuple[int, ...], int] = {}
    for c in cases:
        largest[c.layer_sizes] = max(largest.get(c.layer_sizes, 0), c.batch_size)
    chosen: dict[tuple, MatMul] = {}
    for sizes, batch in largest.items():
        total = flops_per_step(batch, sizes)
        for mm in step_matmuls(batch, sizes):
            if mm.flops >= min_share * total:
                chosen.setdefault(mm.key(), mm)
    return sorted(chosen.values(), key=lambda mm: (-mm.flops, mm.key()))


def ceiling_shapes(cases: Iterable[Case]) -> list[MatMul]:
    """What a sweep's ceiling probe times: the 1024³ square and the step's own big matmuls."""
    return list({mm.key(): mm for mm in [SQUARE, *step_shapes(cases)]}.values())


def probe_ceiling(device: str, matmuls: Iterable[MatMul] = (SQUARE,), dtype: str = "float32",
                  settings: Settings = PROBE_SETTINGS) -> Ceiling:
    """Time each of `matmuls` on `device` (duplicates once); the ceiling is the fastest."""
    from simplenn.system.tfimport import tensorflow

    tf = tensorflow()
    unique = list({mm.key(): mm for mm in matmuls}.values())
    threads = (("intra_op", tf.config.threading.get_intra_op_parallelism_threads()),
               ("inter_op", tf.config.threading.get_inter_op_parallelism_threads()))
    return Ceiling(device, dtype, tuple(_probe(device, mm, dtype, settings) for mm in unique), threads)


def matmul_loop(device: str, mm: MatMul, dtype: str = "float32"):
    """`loop(steps) -> a scalar`: `steps` times the matmul on `device`, each after the last, as one tf.function."""
    from simplenn.system.tfimport import tensorflow

    from simplenn.system.hostinit import host_uniform

    tf = tensorflow()
    (a_shape, b_shape) = mm.shapes
    with tf.device(device):  # drawn on the host and copied once: no random op runs on the measured device
        # Variables, not constants: a matmul of two constants could be folded away by the graph optimiser.
        a = tf.Variable(host_uniform(1, a_shape, dtype))
        b = tf.Variable(host_uniform(2, b_shape, dtype))
        first = tf.zeros((mm.m, mm.n), dtype)

    @tf.function(input_signature=[tf.TensorSpec((), tf.int32)])
    def loop(steps):
        def body(i, previous):
            # One matmul at a time, as in the step: each waits for the last (a control edge, no extra arithmetic).
            with tf.control_dependencies([previous]):
                return i + 1, tf.matmul(a, b, transpose_a=mm.transpose_a, transpose_b=mm.transpose_b)

        _, out = tf.while_loop(lambda i, _: i < steps, body, (tf.constant(0), first))
        return out[0, 0]

    return loop


def _probe(device: str, mm: MatMul, dtype: str, settings: Settings) -> Probe:
    from simplenn.system.tfimport import tensorflow

    tf = tensorflow()
    loop = matmul_loop(device, mm, dtype)
    state = {}

    def run(steps: int) -> None:
        with tf.device(device):
            state["out"] = loop(tf.constant(steps, tf.int32))

    def sync() -> float:
        return float(state["out"].numpy())

    run(1)
    sync()
    steps, blocks, _ = time_blocks(run, sync, settings)
    return Probe(mm, steps, tuple(blocks))


def merge_ceilings(parts: list[dict]) -> dict:
    """One ceiling record from the records of probes made one matmul at a time: the fastest counts, all are kept."""
    best = max(parts, key=lambda p: p["gflops"])
    probes = [probe for p in parts for probe in (p.get("probes") or [{k: p[k] for k in ("shape", "n_steps", "block_s",
                                                                                      "gflops") if k in p}])]
    return {**best, "probes": probes}
