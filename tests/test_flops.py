"""FLOPs per step held against what runs: the MatMul nodes of the compiled step's graph (shapes and transposes),
per-call and in-graph, Keras's own train_step, and XLA's cost analysis of the JAX step (issue 23).

The old count, 6 × batch × weight entries, assumed an input-gradient matmul for the first layer that no graph
computes; every test here fails with it (1.47× too high for 784-100-30-10).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from simplenn.store import pytest_json
from simplenn.core.cases import Case, MatMul, flops_per_step, n_weights, step_matmuls
from simplenn.measure.runners import IMPLS
from simplenn.store.results import load
from graphs import graph_matmuls

DEFAULT = (784, 100, 30, 10)
WIDE = (784, 1024, 1024, 10)
# No hidden layer (the only layer has no input gradient at all) and a deep narrow one (five layers).
LAYER_LISTS = [DEFAULT, WIDE, (784, 10), (32, 64, 48, 16, 10, 3)]
BATCH = 8192  # the graph leaves the batch dimension open; this stands in for it


def _keys(matmuls) -> list:
    return sorted(mm.key() for mm in matmuls)


def test_the_formula_in_numbers():
    # Per sample for the default network: 2·81,700 + 2·81,700 + 2·(81,700 − 78,400); the old count said 490,200.
    assert flops_per_step(1, DEFAULT) == 333_400
    assert flops_per_step(1, WIDE) == 9_564_160
    assert flops_per_step(1, (784, 10)) == 4 * 7840  # one layer: forward and weight gradient only
    assert flops_per_step(1, DEFAULT) != 6 * n_weights(DEFAULT)


@pytest.mark.parametrize("sizes", LAYER_LISTS, ids=lambda s: "x".join(map(str, s)))
def test_step_matmuls_add_up_to_the_formula(sizes):
    matmuls = step_matmuls(BATCH, sizes)
    assert len(matmuls) == 3 * (len(sizes) - 1) - 1
    assert sum(mm.flops for mm in matmuls) == flops_per_step(BATCH, sizes)


def test_every_implementation_is_counted_the_same():
    counts = {Case("CPU:0", 256, DEFAULT, impl=impl).flops_per_step for impl in IMPLS}
    counts |= {Case("CPU:0", 256, DEFAULT, impl="scratch", mode="in-graph").flops_per_step}
    assert counts == {256 * 333_400}


@pytest.mark.parametrize("mode", ["per-call", "in-graph"])
@pytest.mark.parametrize("sizes", LAYER_LISTS, ids=lambda s: "x".join(map(str, s)))
def test_flops_equal_the_compiled_graphs_matmuls(sizes, mode):
    from simplenn.measure.runners.scratch import ScratchRunner

    runner = ScratchRunner(Case("CPU:0", 32, sizes, mode=mode))
    graph = runner.fn.get_concrete_function().graph  # the function the benchmark times, as traced
    once, per_iteration = graph_matmuls(graph, BATCH)
    # per-call: one step per call, no loop; in-graph: the whole step inside the loop body, nothing outside it.
    step = once if mode == "per-call" else per_iteration
    assert (per_iteration if mode == "per-call" else once) == []
    assert sum(mm.flops for mm in step) == flops_per_step(BATCH, sizes)
    # Shapes and transposes too: what the ceiling probe times is what the step runs.
    assert _keys(step) == _keys(step_matmuls(BATCH, sizes))


@pytest.mark.parametrize("sizes", [DEFAULT, WIDE], ids=lambda s: "x".join(map(str, s)))
def test_flops_equal_keras_train_steps_matmuls(sizes):
    pytest.importorskip("keras", reason="keras is not installed")
    from simplenn.measure.runners.keras_peer import KerasRunner

    batch = 64
    runner = KerasRunner(Case("CPU:0", batch, sizes, impl="keras"))
    # Keras's own train_step (what train_on_batch runs), traced at the case's shapes.
    graph = runner.tf.function(runner.model.train_step).get_concrete_function((runner.x, runner.y)).graph
    once, per_iteration = graph_matmuls(graph, batch)
    assert per_iteration == []
    assert sum(mm.flops for mm in once) == flops_per_step(batch, sizes)
    assert _keys(once) == _keys(step_matmuls(batch, sizes))


@pytest.mark.parametrize("mode", ["per-call", "in-graph"])
@pytest.mark.parametrize("sizes", [DEFAULT, WIDE, (784, 10)], ids=lambda s: "x".join(map(str, s)))
def test_flops_agree_with_xla_cost_analysis_of_the_jax_step(sizes, mode):
    pytest.importorskip("jax", reason="jax is not installed: pip install 'simplenn-bench[peers]'")
    from simplenn.measure.runners.jax_peer import JaxRunner

    batch = 1024
    runner = JaxRunner(Case("CPU:0", batch, sizes, impl="jax", mode=mode))
    args = (runner.params_j, runner.x, runner.y) + ((3,) if mode == "in-graph" else ())
    analysis = runner._fn.lower(*args).compile().cost_analysis()
    analysis = analysis[0] if isinstance(analysis, list) else analysis  # older jax: one dict per device
    # XLA counts a while loop's body once, so in-graph gives one step too. It also counts the element-wise work
    # (biases, ReLU, loss, update) that the formula leaves out: about 0.2–1 % more for these networks.
    ratio = analysis["flops"] / flops_per_step(batch, sizes)
    assert 1.0 <= ratio < 1.03, f"XLA counts {analysis['flops']:.4g} FLOPs, the formula {flops_per_step(batch, sizes):.4g}"


# Records written before the fix: the count is never read from a file, always recomputed from the case on load.
REFERENCE = Path(__file__).resolve().parents[1] / "results" / "machines" / "linux-x86_64-2cpu-2026-11-27"


def test_a_run_written_before_the_fix_loads_with_the_fixed_count():
    table = load(REFERENCE).table
    cells = table.drop_duplicates("cell_id")
    assert len(cells) > 10
    for row in cells.itertuples(index=False):
        sizes = tuple(int(w) for w in row.widths.split("x"))
        assert row.flops_per_step == flops_per_step(row.batch_size, sizes) < 6 * row.batch_size * n_weights(sizes)


def test_a_stale_count_in_a_pytest_benchmark_file_is_not_used(tmp_path):
    case = Case("CPU:0", 256, DEFAULT)
    bench = {"name": "test_train_step[cpu-b256-w100x30]", "stats": {"data": [0.02, 0.021, 0.019], "iterations": 1},
             "extra_info": {"simplenn_format": 1, "case": case.to_dict(), "steps_per_round": 4,
                            # what bench/ wrote before the fix: 6 × batch × weight entries
                            "flops_per_step": 6.0 * 256 * n_weights(DEFAULT)}}
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"benchmarks": [bench], "machine_info": {"system": "Linux", "machine": "x86_64"}}))
    assert set(pytest_json.load(path).table["flops_per_step"]) == {256 * 333_400}


# The committed reference reports (results/machines/*/, results/reference/*/): their count is the graph's.
SUMMARIES = sorted(REFERENCE.parents[1].glob("*/*/summary.csv"))


def test_the_committed_summaries_are_found():
    assert len(SUMMARIES) >= 2


@pytest.mark.parametrize("summary", SUMMARIES, ids=lambda p: p.parent.name)
def test_committed_summaries_carry_the_graphs_count(summary):
    import pandas as pd

    table = pd.read_csv(summary)
    expected = [flops_per_step(b, tuple(int(w) for w in widths.split("x")))
                for b, widths in zip(table["batch_size"], table["widths"])]
    assert table["flops_per_step"].tolist() == expected
