"""The scratch runner's sync read adds no op type the step itself lacks, and it sees the step's update."""
from __future__ import annotations

import math

import pytest

from simplenn.core.cases import Case
from simplenn.nn.model import tf
from simplenn.measure.runners.scratch import ScratchRunner


def _op_types(concrete) -> set[str]:
    graph_def = concrete.graph.as_graph_def()
    return {n.op for n in graph_def.node} | {n.op for f in graph_def.library.function for n in f.node_def}


@pytest.mark.parametrize("mode", ["per-call", "in-graph"])
@pytest.mark.parametrize("loss", ["sigmoid", "softmax"])
def test_sync_read_uses_only_op_types_of_the_step(mode, loss):
    runner = ScratchRunner(Case(device="CPU:1", batch_size=8, layer_sizes=(20, 16, 4), loss=loss, mode=mode))
    runner.run(1)
    step_types = _op_types(runner.fn.get_concrete_function(*runner.fn.input_signature))
    assert _op_types(runner.read_back.get_concrete_function()) <= step_types | {"Placeholder", "NoOp"}


def test_sync_read_changes_with_the_update_and_sees_nan():
    runner = ScratchRunner(Case(device="CPU:1", batch_size=8, layer_sizes=(20, 16, 4)))
    before = runner.sync()
    runner.run(3)
    assert runner.sync() != before
    runner.network.biases[-1].assign(tf.fill(runner.network.biases[-1].shape, float("nan")))
    assert not math.isfinite(runner.sync())
