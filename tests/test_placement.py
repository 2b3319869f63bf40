"""placement_reason turns TensorFlow's no-kernel errors into a reason naming the op, the mode and what still works.

The texts are the ones users reported (tests/fixtures/placement/errors.json, each with its source) and errors made
here for real with soft placement off.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from simplenn.nn.model import Network, make_train_loop, make_train_step, tf
from simplenn.system.placement import (IN_GRAPH_ONLY, PER_CALL_ONLY, PlacedNode, fallback_reason, is_placement_error,
                                       kernel_op, missing_ops, off_device_ops, placement_reason)

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


# ------------------------------------------------------------------ ops a tf.function moved off the device (audit)

def test_eager_no_kernel_error_of_tf_2_21_names_the_op():
    # Seen on the stand-in GPU: an eager op pinned to a device without its kernel, soft placement off.
    text = ("Could not satisfy device specification '/job:localhost/replica:0/task:0/device:SIMGPU:0'. "
            "enable_soft_placement=0. Supported device types [CPU]. All available devices "
            "[/job:localhost/replica:0/task:0/device:SIMGPU:0, /job:localhost/replica:0/task:0/device:CPU:0]. "
            "[Op:MatMul] name: ")
    assert is_placement_error(text) and missing_ops(text) == ("MatMul",)


@pytest.mark.parametrize("op, kernel", [("_MklNativeFusedMatMul", "MatMul"), ("_MklMatMul", "MatMul"),
                                        ("_FusedMatMul", "MatMul"), ("Relu", "Relu"), ("_MklRelu", "Relu")])
def test_kernel_op_names_onednn_rewrites_by_the_op_they_replace(op, kernel):
    assert kernel_op(op) == kernel


GPU = "/job:localhost/replica:0/task:0/device:SIMGPU:0"
CPU0_NAME = "/job:localhost/replica:0/task:0/device:CPU:0"
PLACED = [PlacedNode("MatMul", CPU0_NAME, "float64"), PlacedNode("_MklNativeFusedMatMul", CPU0_NAME, "float64"),
          PlacedNode("Prod", CPU0_NAME, "int32"), PlacedNode("_Recv", CPU0_NAME, "float64"), PlacedNode("Identity", CPU0_NAME, "float64"),
          PlacedNode("ReadVariableOp", GPU, "float64"), PlacedNode("Relu", CPU0_NAME, "float64")]


def test_off_device_ops_are_the_dtypes_arithmetic_on_another_device_type():
    assert off_device_ops(PLACED, "SIMGPU:0", "float64") == {"MatMul": "CPU:0", "Relu": "CPU:0"}
    assert off_device_ops(PLACED, "SIMGPU:0", "float32") == {}  # int32 shape arithmetic on the host is normal
    # A CPU cell: every op has a CPU kernel, and a CPU:0 op in a CPU:1 cell is a wrong placement (validate's job).
    assert off_device_ops(PLACED, "CPU:1", "float64") == {}


def test_fallback_reason_names_ops_device_dtype_and_what_still_works():
    reason = fallback_reason({"MatMul": "CPU:0", "Relu": "CPU:0"}, "SIMGPU:0", "per-call", "float64")
    assert reason.startswith("per-call runs `MatMul`, `Relu` on CPU:0, not on SIMGPU:0, which has no float64 kernel")
    assert reason.endswith("both modes need them, so every float64 cell on SIMGPU:0 is affected")
    only_loop = fallback_reason({"Less": "CPU:0"}, "SIMGPU:0", "in-graph", "float32")
    assert only_loop.endswith("per-call cells are unaffected: run `--modes per-call`") and "\n" not in only_loop
