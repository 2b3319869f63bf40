"""One declaration of a cell's dimensions, and of each implementation: every key set and registry derives from them."""
from __future__ import annotations

from dataclasses import fields

from simplenn.core import dimensions
from simplenn.core.cases import Case
from simplenn.core.dimensions import DIMENSIONS, MATCH, columns
from simplenn.measure import runners
from simplenn.store.results import COLUMNS


def test_every_case_field_is_a_dimension_and_every_dimension_a_case_field():
    assert [f.name for f in fields(Case)] == sorted((d.field for d in DIMENSIONS),
                                                   key=[f.name for f in fields(Case)].index)
    assert {f.name for f in fields(Case)} == {d.field for d in DIMENSIONS}
    case = Case("GPU:0", 32, (784, 64, 10), "softmax", "float16", True, "jax", "in-graph")
    assert set(case.to_dict()) == {d.column for d in DIMENSIONS} and Case.from_dict(case.to_dict()) == case
    assert {d.column for d in DIMENSIONS} <= set(case.columns()) <= set(dimensions.CELL_COLUMNS)


def test_each_named_key_set_is_every_dimension_but_the_ones_it_varies_over():
    every = set(MATCH)
    assert set(dimensions.ACROSS_DEVICES) == every - {"device"} | {"machine", "run"}
    assert set(dimensions.ONE_CURVE) == every - {"device", "batch_size"} | {"machine", "run"}
    assert set(dimensions.ACROSS_IMPLS) == every - {"impl", "mode"} | {"machine", "run"}
    assert set(dimensions.ACROSS_MODES) == every - {"mode"} | {"machine", "run"}
    assert MATCH[-2:] == ["widths", "batch_size"]  # the axes come last, the network before the batch
    assert set(dimensions.CELL_COLUMNS) <= set(COLUMNS)
    assert Case("CPU:0", 8).key("batch_size") == Case("CPU:0", 4096).key("batch_size")
    assert Case("CPU:0", 8).key("device") == Case("CPU:1", 8).key("device") != Case("CPU:1", 8, mode="in-graph").key("device")


def test_a_new_dimension_joins_every_key_set(monkeypatch):
    """The planted fault: a dimension declared once appears in every key set that does not vary over it."""
    extra = (*DIMENSIONS, dimensions.Dimension("optimizer", "optimizer"))
    monkeypatch.setattr(dimensions, "DIMENSIONS", extra)
    monkeypatch.setattr(dimensions, "_GROUPING", [d.column for d in sorted(extra, key=lambda d: d.axis)])
    assert "optimizer" in columns(without=("device",)) and "optimizer" in columns(runs=False)
    assert columns(runs=False)[-2:] == ["widths", "batch_size"]


def test_each_runner_module_declares_its_implementation():
    assert runners.IMPLS[0] == "scratch" and len(set(runners.IMPLS)) == len(runners.IMPLS)
    ranks = [runners.DECLARED[name].rank for name in runners.IMPLS]
    assert ranks == sorted(set(ranks))
    for name, module in runners.MODULES.items():
        assert module.IMPL.name == name and callable(module.RUNNER)
    assert {"torch", "jax", "mlx"} <= set(runners.PACKAGES)
    assert runners.unsupported_reason(Case("CPU:0", 8, impl="torch", mode="in-graph"), "none").startswith("torch runs")
    assert runners.unsupported_reason(Case("GPU:0", 8, jit=True), "metal").startswith("XLA (--jit)")
    assert "no implementation called 'nope'" in runners.unsupported_reason(Case("CPU:0", 8, impl="nope"), "none")
