"""Initial values come from the host: bit-identical on every device, and no random op runs on the measured one.

The session splits the CPU into CPU:0 and CPU:1 (conftest.py); CPU:1 stands for the measured device. A random op
placed on CPU:1 would run there without complaint (the CPU has every kernel), so the eager check logs where each op
is placed instead: TensorFlow's log_device_placement, which must be switched on before its devices initialise,
hence a fresh process.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simplenn.nn.model import Network, make_train_loop, make_train_step, tf

ROOT = Path(__file__).resolve().parents[1]
# Random*, Rng*, Stateless* draws (StatelessRandomUniformV2, StatelessTruncatedNormal, …); StatelessWhile/If/Case
# are control flow.
RANDOM_FAMILY = re.compile(r"Random|Rng|^Stateless(?!(While|If|Case)$)")


def _values(net: Network) -> list[np.ndarray]:
    return [p.numpy() for p in net.params]


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64"])
def test_initial_weights_are_bit_identical_on_cpu0_and_cpu1(dtype):
    with tf.device("/CPU:0"):
        on_0 = Network([20, 16, 8, 4], seed=3, dtype=dtype)
    with tf.device("/CPU:1"):
        on_1 = Network([20, 16, 8, 4], seed=3, dtype=dtype)
    assert on_1.weights[0].device.endswith("CPU:1") and on_0.weights[0].device.endswith("CPU:0")
    for a, b in zip(_values(on_0), _values(on_1)):
        assert a.dtype == b.dtype == np.dtype(dtype)
        assert a.tobytes() == b.tobytes()


def test_initial_weights_are_numpys_draw_for_the_seed():
    # The reference is numpy alone: the start no longer depends on any TensorFlow random kernel, on any device.
    with tf.device("/CPU:1"):
        net = Network([12, 6, 3], seed=7)
    rng = np.random.default_rng(7)
    for w, (n_in, n_out) in zip(net.weights, [(12, 6), (6, 3)]):
        assert w.numpy().tobytes() == rng.normal(0.0, 0.1, (n_in, n_out)).astype(np.float32).tobytes()
    assert all(not b.numpy().any() for b in net.biases)
    assert not np.array_equal(Network([12, 6, 3], seed=8).weights[0].numpy(), net.weights[0].numpy())


def _op_types(graph_def) -> set[str]:
    """Every op type in a graph, nested functions (the while loop's body and condition) included."""
    types = {node.op for node in graph_def.node}
    for function in graph_def.library.function:
        types |= {node.op for node in function.node_def}
    return types


def test_compiled_step_and_loop_hold_no_random_op():
    net = Network([20, 16, 4], seed=0)
    x, y = tf.TensorSpec((None, 20), tf.float32), tf.TensorSpec((None, 4), tf.float32)
    step = make_train_step(net).get_concrete_function(x, y)
    loop = make_train_loop(net).get_concrete_function(x, y, tf.TensorSpec((), tf.int32))
    for graph in (step.graph, loop.graph):
        types = _op_types(graph.as_graph_def())
        assert "MatMul" in types  # the walk does see the step's ops
        assert not {t for t in types if RANDOM_FAMILY.search(t)}
    assert {"While", "StatelessWhile"} & _op_types(loop.graph.as_graph_def())
    assert RANDOM_FAMILY.search("StatelessRandomUniformV2") and RANDOM_FAMILY.search("RngReadAndSkip")


# Run in a fresh process: builds a Network, runs one per-call step and one in-graph loop, and probes the matmul
# ceiling, all under /CPU:1 with soft placement off, as measure() does on a GPU.
_ON_CPU1 = """
import tensorflow as tf
from simplenn.system.devices import setup_logical_cpus
setup_logical_cpus(2)
tf.debugging.set_log_device_placement(True)
tf.config.set_soft_device_placement(False)
from simplenn.core.cases import MatMul
from simplenn.measure.ceiling import probe_ceiling
from simplenn.measure.cell import Settings
from simplenn.nn.model import Network, make_train_loop, make_train_step
with tf.device('/CPU:1'):
    net = Network([20, 16, 4], seed=0)
    x, y = tf.ones((8, 20)), tf.one_hot(tf.zeros(8, tf.int32), 4)
    make_train_step(net)(x, y)
    make_train_loop(net)(x, y, tf.constant(2))
probe_ceiling('/CPU:1', [MatMul(32, 32, 32), MatMul(32, 16, 8, transpose_a=True)], settings=Settings(min_block_s=0.001, min_blocks=1, min_time_s=0.001, max_blocks=1))
print('DONE', flush=True)
"""
# log_device_placement prints one line per placed node: "name: (OpType): /job:localhost/…/device:CPU:1".
_PLACED = re.compile(r"^\S+: \((\w+)\): \S*device:(\w+:\d+)$", re.MULTILINE)


@pytest.mark.slow
def test_no_random_op_is_placed_on_the_measured_device():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", _ON_CPU1], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert "DONE" in done.stdout, done.stderr[-2000:]
    placed = _PLACED.findall(done.stdout)
    on_cpu1 = {op for op, device in placed if device == "CPU:1"}
    assert {"VarHandleOp", "AssignVariableOp", "MatMul"} <= on_cpu1  # the log does show what ran on CPU:1
    assert not {op for op in on_cpu1 if RANDOM_FAMILY.search(op)}
