"""The MatMul nodes of a traced TensorFlow graph, as (m, k, n) with transposes: the witness FLOP counts are held to.

Not a test module: tests/test_flops.py and tests/test_ceiling.py import it.
"""
from __future__ import annotations

from simplenn.core.cases import MatMul


def _dims(shape, batch: int) -> tuple[int, int]:
    """A rank-2 static shape with the open (batch) dimension set to `batch`."""
    dims = shape.as_list()
    assert len(dims) == 2 and dims.count(None) <= 1, f"unexpected MatMul operand shape {shape}"
    return tuple(batch if d is None else d for d in dims)


def _matmul_of(op, batch: int) -> MatMul:
    """A graph's MatMul node as (m, k, n) with TensorFlow's transpose attributes applied to the stored operands."""
    ta, tb = op.get_attr("transpose_a"), op.get_attr("transpose_b")
    a, b = (_dims(t.shape, batch) for t in op.inputs)
    m, k = (a[1], a[0]) if ta else a
    k_b, n = (b[1], b[0]) if tb else b
    assert k == k_b, f"{op.name}: inner dimensions {k} and {k_b} differ"
    return MatMul(m, k, n, ta, tb)


def graph_matmuls(graph, batch: int) -> tuple[list[MatMul], list[MatMul]]:
    """(MatMuls run once per call, MatMuls run once per loop iteration) of a traced tf.function graph.

    A `tf.while_loop` is a While node whose body is a function of its own; its MatMuls run once per iteration.
    Any other matmul-like op fails the test rather than going uncounted.
    """
    once, per_iteration = [], []
    for op in graph.get_operations():
        assert op.type not in ("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum"), op.type
        if op.type == "MatMul":
            once.append(_matmul_of(op, batch))
        elif op.type in ("While", "StatelessWhile"):
            # The loop body's FuncGraph: graph._get_function is how TensorFlow itself resolves a function name.
            body = graph._get_function(op.get_attr("body").name).graph
            inner_once, inner_nested = graph_matmuls(body, batch)
            assert not inner_nested, "nested loops are not expected in the step"
            per_iteration += inner_once
    return once, per_iteration
