"""argparse `type=` converters shared by the subcommands: bad values become one-line errors with exit 2."""
from __future__ import annotations

import argparse
import math

from simplenn.core import validate


def _fail(what: str, text: str, allowed: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"{what}: {text!r} is not allowed; {allowed}")


def _number(convert, ok, allowed: str):
    """A converter: `convert(text)` must succeed and satisfy `ok`, else a one-line error saying what is allowed."""

    def check(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise _fail("value", text, allowed) from None
        if not ok(value):
            raise _fail("value", text, allowed)
        return value

    return check


positive_int = _number(int, lambda v: v > 0, "give a positive integer")
positive_float = _number(float, lambda v: v > 0 and math.isfinite(v), "give a positive number")
# A percentage from 0 to 100 (NaN and infinities refused).
percentage = _number(float, lambda v: 0 <= v <= 100, "give a percentage from 0 to 100")


def _list_of(check, what: str):
    """An argparse converter of comma-separated text through a list check of simplenn.core.validate (one logic for
    flags and sweep.toml alike)."""

    def convert(text: str) -> list:
        try:
            return list(check(text, what))
        except validate.ConfigValueError as e:
            raise argparse.ArgumentTypeError(e.problem) from None

    return convert


# '1,8,32' -> [1, 8, 32], every entry a positive integer.
int_list = _list_of(validate.int_list, "list")
# '100x30,256x256' -> [(100, 30), (256, 256)]: hidden widths; 'none' means no hidden layer.
widths_list = _list_of(validate.hidden_list, "widths")


def choice_list(allowed: tuple[str, ...]):
    """A converter for comma-separated values each from `allowed`."""
    return _list_of(validate.choice_list(allowed), "list")


def layer_list(text: str) -> list[int]:
    """'784,100,30,10' -> [784, 100, 30, 10]: at least input and output, all positive."""
    values = int_list(text)
    if len(values) < 2:
        raise _fail("layers", text, "give at least an input and an output size, e.g. 784,100,30,10")
    return values
