"""placement_reason turns TensorFlow's no-kernel errors into a reason naming the op, the mode and what still works.

The texts are the ones users reported (tests/fixtures/placement/errors.json, each with its source) and errors made
here for real with soft placement off.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from simplenn.nn.model import Network, make_train_loop, make_train_step, tf
from simplenn.system.placement import IN_GRAPH_ONLY, PER_CALL_ONLY, is_placement_error, missing_ops, placement_reason

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "placement" / "errors.json").read_text())


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f["id"] for f in FIXTURES])
def test_reported_texts_name_the_op_the_device_and_the_mode(fixture):
    text, device, mode = fixture["text"], fixture["device"], fixture["mode"]
    assert missing_ops(text) == tuple(fixture["ops"])
    assert is_placement_error(text)
    reason = placement_reason(text, device, mode)
    assert device in reason and "\n" not in reason
    for op in fixture["ops"]:
        assert f"`{op}`" in reason and reason.startswith(f"{mode} needs")
    if fixture.get("xla"):
        assert "--jit off" in reason


def test_rng_read_and_skip_reason_reads_in_full():
    text = next(f["text"] for f in FIXTURES if "53505" in f["source"])
    assert placement_reason(text, "GPU:0", "per-call") == (
        "per-call needs `RngReadAndSkip` on GPU:0, which has no kernel for it; both modes need it, so every cell on "
        "GPU:0 fails the same way; other devices are unaffected")


def test_an_op_only_the_loop_adds_points_to_the_other_mode():
    text = "No registered 'While' OpKernel for 'GPU' devices compatible with node {{node while}}"
    assert placement_reason(text, "GPU:0", "in-graph") == (
        "in-graph needs `While` on GPU:0, which has no kernel for it; per-call cells are unaffected: "
        "run `--modes per-call`")
    text = "No OpKernel was registered to support Op 'AssignSubVariableOp' used by {{node AssignSubVariableOp}}"
    assert placement_reason(text, "GPU:0", "per-call").endswith("in-graph cells are unaffected: run `--modes in-graph`")


def test_other_errors_are_not_placement_errors_and_keep_their_first_line():
    text = "Matrix size-incompatible: In[0]: [8,20], In[1]: [16,4]\n\t [[MatMul]]"
    assert not is_placement_error(text)
    assert missing_ops(text) == ()
    assert placement_reason(text, "GPU:0", "per-call").endswith("(Matrix size-incompatible: In[0]: [8,20], In[1]: [16,4])")


def _op_types(concrete) -> set[str]:
    graph_def = concrete.graph.as_graph_def()
    return {n.op for n in graph_def.node} | {n.op for f in graph_def.library.function for n in f.node_def}


def test_mode_specific_op_sets_match_the_real_graphs():
    # IN_GRAPH_ONLY must never name an op the per-call step has (and vice versa), or the advice would be wrong.
    net = Network([20, 16, 4], seed=0)
    x, y = tf.TensorSpec((None, 20), tf.float32), tf.TensorSpec((None, 4), tf.float32)
    step = _op_types(make_train_step(net).get_concrete_function(x, y))
    loop = _op_types(make_train_loop(net).get_concrete_function(x, y, tf.TensorSpec((), tf.int32)))
    assert not IN_GRAPH_ONLY & step and IN_GRAPH_ONLY & loop
    assert not PER_CALL_ONLY & loop and PER_CALL_ONLY <= step


def test_a_real_no_kernel_error_made_here():
    # No op of the network lacks a CPU kernel, so a GPU-only op (cuDNN's) stands in: inside a tf.function under
    # CPU:1 with soft placement off, TensorFlow raises the same kind of error a Metal GPU gives for a missing kernel.
    @tf.function
    def gpu_only():
        return tf.raw_ops.CudnnRNNParamsSize(num_layers=1, num_units=4, input_size=4, T=tf.float32, S=tf.int32)

    soft = tf.config.get_soft_device_placement()
    tf.config.set_soft_device_placement(False)
    try:
        with tf.device("/CPU:1"), pytest.raises((tf.errors.InvalidArgumentError, tf.errors.NotFoundError)) as caught:
            gpu_only()
    finally:
        tf.config.set_soft_device_placement(soft)
    text = caught.value.message
    assert missing_ops(text) == ("CudnnRNNParamsSize",)
    assert placement_reason(text, "CPU:1", "in-graph").startswith("in-graph needs `CudnnRNNParamsSize` on CPU:1")


def test_an_unreadable_placement_failure_is_still_unsupported_with_tensorflows_line():
    text = "Cannot assign a device for operation x: Could not satisfy explicit device specification '/device:GPU:0'"
    assert is_placement_error(text) and missing_ops(text) == ()
    assert placement_reason(text, "GPU:0", "per-call") == f"per-call on GPU:0: an op has no kernel there ({text})"


def test_measure_turns_a_real_no_kernel_error_into_an_unsupported_cell_naming_the_op():
    from simplenn.core.cases import Case
    from simplenn.measure.cell import Settings, measure

    class GpuOnlyOp:
        """A runner whose step needs an op with no kernel on the device (cuDNN's, on a CPU)."""

        def __init__(self, case, seed):
            @tf.function
            def step():
                return tf.raw_ops.CudnnRNNParamsSize(num_layers=1, num_units=4, input_size=4, T=tf.float32, S=tf.int32)
            self.step = step

        def run(self, n):
            self.step()

    soft = tf.config.get_soft_device_placement()
    try:
        cell = measure(Case("CPU:1", 8, (4, 4, 2), mode="in-graph"), Settings(), make_runner=GpuOnlyOp)
    finally:
        tf.config.set_soft_device_placement(soft)
    assert cell.status == "unsupported"
    assert cell.reason.startswith("in-graph needs `CudnnRNNParamsSize` on CPU:1")
