"""argparse `type=` converters shared by the subcommands: bad values become one-line errors with exit 2."""
from __future__ import annotations

import argparse
import math

from simplenn.core import validate


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
    """'1,8,32' -> [1, 8, 32]; every entry a positive integer (the check `run`'s list keys use: validate.int_list)."""
    try:
        return list(validate.int_list(text, "list"))
    except validate.ConfigValueError as e:
        raise argparse.ArgumentTypeError(e.problem) from None


def layer_list(text: str) -> list[int]:
    """'784,100,30,10' -> [784, 100, 30, 10]: at least input and output, all positive."""
    values = int_list(text)
    if len(values) < 2:
        raise _fail("layers", text, "give at least an input and an output size, e.g. 784,100,30,10")
    return values
