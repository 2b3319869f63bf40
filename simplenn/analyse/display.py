"""Plain-text display of tables: value formatting, GitHub Markdown tables, constant columns said once."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd


def fmt(value: object) -> str:
    """One table cell as text: '–' for missing, yes/no, integers with thousands separators, 4 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}" if abs(v) >= 10000 else str(int(v))
        return f"{v:,.0f}" if abs(v) >= 10000 else f"{v:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def fmt_value(v: object) -> str:
    """A run.json value as text: lists joined with commas ('none' when empty), scalars as fmt()."""
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt_value(x) for x in v) if v else "none"
    return fmt(v)


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub Markdown table (pandas' to_markdown needs `tabulate`, which is not a dependency)."""
    if table.empty:
        return "_(no rows)_"
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    numeric = [pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c]) for c in table]
    rule = "|" + "|".join("---:" if n else "---" for n in numeric) + "|"
    rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def split_constant(table: pd.DataFrame, candidates: Sequence[str]) -> tuple[pd.DataFrame, str]:
    """Drop key columns that hold one value in every row and say them once above the table instead."""
    same = [c for c in candidates if c in table and table[c].nunique(dropna=False) == 1 and len(table) > 0]
    text = ", ".join(f"{c} = {fmt(table[c].iloc[0])}" for c in same)
    return table.drop(columns=same), (f"All rows: {text}." if text else "")
