"""What every runner shares: the protocol's type, `Impl` (what a runner module declares about itself),
`Unsupported`, optional imports, and the common starting state."""
from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from simplenn.core.cases import Case

INSTALL_HINT = "pip install 'simplenn-bench[peers]'"


@dataclass(frozen=True)
class Impl:
    """What one implementation declares about itself, as `IMPL` in its own runner module (beside `RUNNER`)."""

    name: str  # its --impl value and its `impl` column
    rank: int  # its place in flags and tables: scratch, the baseline, is 0; a new peer takes the next number
    packages: tuple[str, ...] = ()  # distributions whose versions a run records (the machine fingerprint)
    # (Case field, value) -> why it cannot run such a case: known before anything runs, so the cell is `unsupported`.
    limits: Mapping[tuple[str, object], str] = field(default_factory=dict)
    tf_allocator: bool = False  # its memory goes through TensorFlow's allocator, whose peak a cell records
    # dtype -> (rtol, atol) of implementation parity where it must differ from simplenn.measure.parity's default.
    tolerance: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def unsupported(self, case: Case) -> str | None:
        """Why this implementation cannot run `case` (the first limit it hits), or None."""
        return next((why for (name, value), why in self.limits.items() if getattr(case, name) == value), None)


class Unsupported(Exception):
    """This implementation cannot run this case here (package missing, mode or device not available); says why."""


class Runner(Protocol):
    """The protocol simplenn.measure.cell drives (described in simplenn.measure.runners)."""

    def run(self, n: int) -> None: ...
    def sync(self) -> float: ...
    def n_traces(self) -> int | None: ...
    def last_loss(self) -> float: ...
    def placement(self) -> dict: ...
    def params(self) -> list[np.ndarray]: ...


def require(module: str):
    """Import an optional package or raise Unsupported saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise Unsupported(f"{module} is not installed ({e.__class__.__name__}: {e}); {INSTALL_HINT}") from None


def initial_state(case: Case, seed: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, float]:
    """The scratch Network's initial [W1, b1, …] as numpy, the timing batch (x, y), and the learning rate."""
    from simplenn.nn.data import synthetic_batch  # noqa: PLC0415 — pandas and TensorFlow load only when a runner is built
    from simplenn.nn.model import Network  # noqa: PLC0415

    network = Network(case.layer_sizes, seed=seed, loss=case.loss, dtype=case.dtype)
    params = [p.numpy() for p in network.params]
    x, y = synthetic_batch(case.batch_size, case.layer_sizes[0], case.layer_sizes[-1], seed=seed)
    return params, x.astype(case.dtype), y.astype(case.dtype), float(network.learning_rate)


def device_kind_index(name: str) -> tuple[str, int]:
    """'/device:GPU:1' -> ('GPU', 1); 'CPU' -> ('CPU', 0)."""
    kind, _, index = name.rsplit("device:", 1)[-1].lstrip("/").upper().partition(":")
    return kind, int(index or 0)
