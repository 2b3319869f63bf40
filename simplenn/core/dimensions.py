"""The dimensions of a cell, as data: every key set of the tables, the files and the plan derives from DIMENSIONS.

A cell of the grid is one value per dimension (a `Case`); a row of the tidy table adds where it was measured
(RUN_KEYS). The named key sets below are the only ways code says "the same cell" or "everything but …":

  CELL_COLUMNS    the tidy table's key columns (dimensions in declaration order, each with the columns describing it)
  MATCH           the same cell in two runs or on two machines (compare, the cross-machine table)
  ACROSS_DEVICES  two devices compared at equal everything else (one speedup row)
  ONE_CURVE       one speedup curve over batch sizes (the crossover)
  ONE_SERIES      one line of a chart over batch sizes
  ACROSS_MODES    per-call against in-graph at equal everything else (host overhead)
  ACROSS_IMPLS    implementations compared at equal everything else (the frameworks table)
  CONFIGURATION   what a table says once above itself when it holds one value (`split_constant`)

Adding a dimension: add a `Case` field with its check and a default that reproduces old files, add its
`Dimension` here, and every key set, the tidy table, the records and the plan follow (ARCHITECTURE.md).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

RUN_KEYS = ("machine", "run")  # where a cell was measured: a machine holds runs


@dataclass(frozen=True)
class Dimension:
    """One dimension of the grid: its `Case` field, its column in the tidy table (and key on disk), and its role."""

    field: str
    column: str
    # 0 for a categorical dimension; a numeric axis read along a table or chart has a rank (1 network size,
    # 2 batch size): key lists put the axes after the categorical dimensions, in rank order.
    axis: int = 0
    # Columns beside it in the tidy table that describe its value (they never tell two cells apart on their own).
    describes: tuple[str, ...] = ()


# Declaration order is the tidy table's (and summary.csv's) column order.
DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("device", "device", describes=("device_kind", "backend")),
    Dimension("impl", "impl"),
    Dimension("mode", "mode"),
    Dimension("batch_size", "batch_size", axis=2),
    Dimension("layer_sizes", "widths", axis=1, describes=("hidden",)),  # files keep "widths" for every layer
    Dimension("loss", "loss"),
    Dimension("dtype", "dtype"),
    Dimension("jit", "jit"),
)
COLUMN_OF = {d.field: d.column for d in DIMENSIONS}
FIELD_OF = {d.column: d.field for d in DIMENSIONS}
# The tidy table's key columns: the run first, then each dimension followed by the columns describing it.
CELL_COLUMNS = ["run", "machine", *(c for d in DIMENSIONS for c in (d.column, *d.describes))]
# Grouping order: categorical dimensions in declaration order, then the axes (network size, then batch size).
_GROUPING = [d.column for d in sorted(DIMENSIONS, key=lambda d: d.axis)]


def columns(without: Iterable[str] = (), runs: bool = True, order: str = "grouping") -> list[str]:
    """Key columns of a cell without the dimensions named in `without`; `runs` puts machine and run first.

    `order` is "grouping" (categorical dimensions, then widths, then batch size: the order of the tables' key
    columns) or "declaration" (the order of DIMENSIONS).
    """
    skip = set(without)
    unknown = skip - set(FIELD_OF)
    if unknown:
        raise ValueError(f"not a dimension: {sorted(unknown)}")
    dims = _GROUPING if order == "grouping" else [d.column for d in DIMENSIONS]
    return [*(RUN_KEYS if runs else ()), *(c for c in dims if c not in skip)]


MATCH = columns(runs=False)
ACROSS_DEVICES = columns(without=("device",))
ONE_CURVE = columns(without=("device", "batch_size"))
ONE_SERIES = columns(without=("widths", "batch_size"))
ACROSS_MODES = columns(without=("mode",))
ACROSS_IMPLS = columns(without=("impl", "mode"))
CONFIGURATION = columns(without=("device", "widths", "batch_size"))
