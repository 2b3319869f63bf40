"""argparse `type=` converters shared by the subcommands: bad values become one-line errors with exit 2."""
from __future__ import annotations

import argparse
import math


def _fail(what: str, text: str, allowed: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"{what}: {text!r} is not allowed; {allowed}")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise _fail("value", text, "give a positive integer") from None
    if value <= 0:
        raise _fail("value", text, "give a positive integer")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _fail("value", text, "give a positive number") from None
    if not (value > 0 and math.isfinite(value)):
        raise _fail("value", text, "give a positive number")
    return value


def int_list(text: str) -> list[int]:
    """'1,8,32' -> [1, 8, 32]; every entry a positive integer."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if not values or any(v <= 0 for v in values):
        raise _fail("list", text, "give comma-separated positive integers, e.g. 1,8,32")
    return values


def layer_list(text: str) -> list[int]:
    """'784,100,30,10' -> [784, 100, 30, 10]: at least input and output, all positive."""
    values = int_list(text)
    if len(values) < 2:
        raise _fail("layers", text, "give at least an input and an output size, e.g. 784,100,30,10")
    return values


def widths_list(text: str) -> list[tuple[int, ...]]:
    """'100x30,256x256' -> [(100, 30), (256, 256)]: hidden widths; 'none' means no hidden layer."""
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == "none":
            out.append(())
            continue
        try:
            dims = tuple(int(d) for d in part.split("x"))
        except ValueError:
            dims = (0,)
        if any(d <= 0 for d in dims):
            raise _fail("widths", text, "give hidden widths like 100x30,256x256 (positive integers joined by x)")
        out.append(dims)
    if not out:
        raise _fail("widths", text, "give hidden widths like 100x30,256x256")
    return out


def choice_list(allowed: tuple[str, ...]):
    """A converter for comma-separated values each from `allowed`."""

    def convert(text: str) -> list[str]:
        values = [p.strip() for p in text.split(",") if p.strip()]
        bad = [v for v in values if v not in allowed]
        if not values or bad:
            # Name the offending entries, not the whole list: 'scratch,nonsense' is wrong only in 'nonsense'.
            raise _fail("list", ",".join(bad) or text, f"allowed values: {', '.join(allowed)}")
        return values

    return convert


def percentage(text: str) -> float:
    """A percentage from 0 to 100 (NaN and infinities refused)."""
    try:
        value = float(text)
    except ValueError:
        raise _fail("value", text, "give a percentage from 0 to 100") from None
    if not 0 <= value <= 100:
        raise _fail("value", text, "give a percentage from 0 to 100")
    return value
