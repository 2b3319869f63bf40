"""Checks of configuration values, shared by the flags and the TOML file: one validation path for both.

Each check takes a value of the type TOML would give (flag text is first turned into one by `literal`) and an
option name for the message, and returns the value or raises `ConfigValueError`, a one-line UsageError. A list
check also takes comma-separated text ("1,8,32") and its own output, so checking a value twice changes nothing.
"""
from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from typing import Any, TypeVar

from simplenn.core.errors import UsageError

T = TypeVar("T")
_INT_TEXT = re.compile(r"[+-]?\d+")


class ConfigValueError(UsageError):
    """A configuration value of the wrong type or range; `problem` is the message without the option name."""

    def __init__(self, option: str, problem: str):
        super().__init__(f"{option}: {problem}")
        self.option, self.problem = option, problem


def literal(text: str) -> int | float | str:
    """Flag text as the scalar TOML would have given: '3' → 3, '0.5' → 0.5, anything else stays a string."""
    text = text.strip()
    if _INT_TEXT.fullmatch(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def integer(value: Any, option: str, minimum: int | None = None) -> int:
    """An integer (not a bool, not a float, not a string) ≥ minimum."""
    if not _is_int(value) or (minimum is not None and value < minimum):
        allowed = {None: "an integer", 0: "an integer ≥ 0", 1: "a positive integer"}.get(minimum, f"an integer ≥ {minimum}")
        raise ConfigValueError(option, f"must be {allowed}, got {value!r}")
    return value


def seed(value: Any, option: str = "seed") -> int:
    """A seed: a non-negative integer (a negative seed cannot seed NumPy or TensorFlow's stateless ops)."""
    return integer(value, option, minimum=0)


def positive_int(value: Any, option: str) -> int:
    return integer(value, option, minimum=1)


def seconds(value: Any, option: str, allow_zero: bool = False) -> float:
    """A finite number of seconds, > 0 (or ≥ 0 with allow_zero); ints are accepted, bools and strings are not."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise ConfigValueError(option, f"must be a {'' if allow_zero else 'positive '}number of seconds"
                                       f"{' ≥ 0' if allow_zero else ''}, got {value!r}")
    return float(value)


def non_negative_seconds(value: Any, option: str) -> float:
    return seconds(value, option, allow_zero=True)


def fraction(value: Any, option: str) -> float:
    """A number strictly between 0 and 1 (0.02 = ±2 %); ints and bools are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ConfigValueError(option, f"must be a fraction between 0 and 1 (0.02 = ±2 %), got {value!r}")
    return float(value)


def boolean(value: Any, option: str) -> bool:
    """A real boolean: TOML true/false. Strings such as "no" are refused, not taken as truthy."""
    if not isinstance(value, bool):
        raise ConfigValueError(option, f"must be true or false (without quotes), got {value!r}")
    return value


def _items(value: Any) -> list[str]:
    """A list value as text items: "a,b" text, one scalar, or a TOML list (a list inside it: hidden sizes 100x30)."""
    if isinstance(value, (list, tuple)):
        return [_item(v) for v in value]
    return [p.strip() for p in _item(value).split(",") if p.strip()]


def _item(v: Any) -> str:
    if isinstance(v, bool):  # TOML true/false in an on/off list
        return "on" if v else "off"
    if isinstance(v, (list, tuple)):
        return "x".join(map(str, v)) if v else "none"
    return str(v).strip()


def _not_allowed(option: str, what: str, text: str, allowed: str) -> ConfigValueError:
    return ConfigValueError(option, f"{what}: {text!r} is not allowed; {allowed}")


def text_list(value: Any, option: str) -> tuple[str, ...]:
    """Comma-separated names (devices: cpu, gpu, all, CPU:0, …), checked where they are resolved."""
    return tuple(_items(value))


def int_list(value: Any, option: str) -> tuple[int, ...]:
    """'1,8,32' or [1, 8, 32] -> (1, 8, 32): every entry a positive integer."""
    items = _items(value)
    values = [int(v) for v in items if _INT_TEXT.fullmatch(v)]
    if not items or len(values) < len(items) or any(v <= 0 for v in values):
        raise _not_allowed(option, "list", ",".join(items) or str(value), "give comma-separated positive integers, e.g. 1,8,32")
    return tuple(values)


def hidden_list(value: Any, option: str) -> tuple[tuple[int, ...], ...]:
    """'100x30,256x256' or ["100x30", [256, 256]] -> ((100, 30), (256, 256)); 'none' is no hidden layer."""
    items, out = _items(value), []
    for item in items:
        dims = () if item == "none" else tuple(int(d) if _INT_TEXT.fullmatch(d) else 0 for d in item.split("x"))
        if any(d <= 0 for d in dims):
            raise _not_allowed(option, "widths", ",".join(items),
                               "give hidden widths like 100x30,256x256 (positive integers joined by x)")
        out.append(dims)
    if not out:
        raise _not_allowed(option, "widths", str(value), "give hidden widths like 100x30,256x256")
    return tuple(out)


def choice_list(allowed: tuple[str, ...]) -> Callable[[Any, str], tuple[str, ...]]:
    """A check of comma-separated values each from `allowed`."""

    def check(value: Any, option: str) -> tuple[str, ...]:
        items = _items(value)
        bad = [v for v in items if v not in allowed]
        if not items or bad:
            # Name the offending entries, not the whole list: 'scratch,nonsense' is wrong only in 'nonsense'.
            raise _not_allowed(option, "list", ",".join(bad) or str(value), f"allowed values: {', '.join(allowed)}")
        return tuple(items)

    return check


def on_off_list(value: Any, option: str) -> tuple[bool, ...]:
    """'off,on', true or ["off", "on"] -> (False, True)."""
    return tuple(v == "on" for v in choice_list(("off", "on"))(value, option))


def flag(check: Callable[[Any, str], T]) -> Callable[[str], T]:
    """An argparse `type=` converter running `check` on the flag's text read by `literal` (argparse names the flag)."""

    def convert(text: str) -> T:
        try:
            return check(literal(text), "value")
        except ConfigValueError as e:
            raise argparse.ArgumentTypeError(e.problem) from None

    convert.__name__ = getattr(check, "__name__", "value")
    return convert
