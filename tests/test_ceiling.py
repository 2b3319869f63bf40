"""The matmul ceiling: GFLOP/s from the median block, the fastest probe counts, and what is probed is what the step
runs: its own big matmuls with their transposes, one per loop iteration, under the step's thread settings."""
from __future__ import annotations

import pytest

from simplenn.core.cases import Case, MatMul, step_matmuls
from simplenn.measure.ceiling import (SQUARE, Ceiling, Probe, ceiling_shapes, matmul_loop, probe_ceiling,
                              step_shapes)
from simplenn.measure.cell import Settings
from simplenn.sweep import SweepConfig, expand
from graphs import graph_matmuls

PROBE_SETTINGS = Settings(min_block_s=0.002, min_blocks=2, min_time_s=0.004, max_blocks=3, max_time_s=0.01)


@pytest.mark.parametrize("block_s, median_s", [((3.0, 1.0, 2.0), 2.0), ((4.0, 1.0, 3.0, 2.0), 2.5)])
def test_probe_gflops_uses_the_median_block(block_s, median_s):
    probe = Probe(MatMul(100, 50, 20, transpose_a=True), n_steps=10, block_s=block_s)
    assert probe.gflops == pytest.approx(2 * 100 * 50 * 20 * 10 / median_s / 1e9)


def test_the_fastest_probe_is_the_ceiling_and_every_probe_is_recorded():
    grad = MatMul(784, 8192, 100, transpose_a=True, role="weight gradient 1")
    slow, fast = Probe(SQUARE, 2, (1.0,) * 6), Probe(grad, 40, (0.5,) * 6)
    ceiling = Ceiling("CPU:0", "float32", (slow, fast), (("intra_op", 0), ("inter_op", 0)))
    assert ceiling.gflops == fast.gflops > slow.gflops
    d = ceiling.to_record().to_json()
    assert d["shape"] == [784, 8192, 100] and d["transpose_a"] and not d["transpose_b"] and d["gflops"] == fast.gflops
    assert d["matmul"] == "(8192×784)ᵀ @ (8192×100)" and d["tf_threads"] == {"intra_op": 0, "inter_op": 0}
    assert [p["shape"] for p in d["probes"]] == [[1024, 1024, 1024], [784, 8192, 100]]


def test_the_default_grid_probes_the_steps_own_matmuls_with_their_transposes():
    shapes = step_shapes(expand(SweepConfig(), ["CPU:0"]))
    labels = [mm.label for mm in shapes]
    # The default network at its largest batch: the first layer's forward and weight gradient (x^T @ δ); it has no
    # input gradient. The wide networks at batch 512: their big layers, input gradients (δ @ W^T) included.
    assert labels[:2] == ["(8192×784)ᵀ @ (8192×100)", "(8192×784) @ (784×100)"]
    assert "(512×1024) @ (1024×1024)ᵀ" in labels and "(512×1024)ᵀ @ (512×1024)" in labels
    assert "(8192×100) @ (784×100)ᵀ" not in labels  # nothing needs the input batch's gradient
    assert len(shapes) == 9
    # Every probed matmul is one the step runs (tests/test_flops.py holds step_matmuls against the graph).
    for c in expand(SweepConfig(), ["CPU:0"]):
        assert {mm.key() for mm in step_shapes([c])} <= {mm.key() for mm in step_matmuls(c.batch_size, c.layer_sizes)}
    assert ceiling_shapes([Case("CPU:0", 8, (16, 8, 4))]) == [SQUARE, *step_shapes([Case("CPU:0", 8, (16, 8, 4))])]


def test_the_probe_loop_runs_exactly_its_matmul_once_per_iteration():
    mm = MatMul(64, 48, 16, transpose_a=True)
    graph = matmul_loop("CPU:0", mm).get_concrete_function().graph
    once, per_iteration = graph_matmuls(graph, batch=0)
    assert once == [] and [m.key() for m in per_iteration] == [mm.key()]


def test_a_real_probe_times_every_matmul_on_the_device():
    grad = MatMul(64, 32, 16, transpose_a=True)
    ceiling = probe_ceiling("CPU:0", [MatMul(128, 128, 128), grad, grad], settings=PROBE_SETTINGS)
    assert [p.matmul for p in ceiling.probes] == [MatMul(128, 128, 128), grad]
    assert all(p.gflops > 0 and len(p.block_s) >= 2 for p in ceiling.probes)


def test_the_probe_records_the_thread_settings_it_ran_under(monkeypatch):
    import tensorflow as tf

    # The sweep's worker probes in the process that times the cells; what it records is read there, at probe time.
    monkeypatch.setattr(tf.config.threading, "get_intra_op_parallelism_threads", lambda: 3)
    monkeypatch.setattr(tf.config.threading, "get_inter_op_parallelism_threads", lambda: 5)
    ceiling = probe_ceiling("CPU:0", [MatMul(16, 16, 16)], settings=PROBE_SETTINGS)
    assert ceiling.to_record().tf_threads == {"intra_op": 3, "inter_op": 5}
