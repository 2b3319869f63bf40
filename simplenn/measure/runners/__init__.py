"""Runners: every implementation of the timed training step (scratch, keras, torch, jax, mlx) behind one protocol.

A runner is built for one Case by `runner(case, seed)` and then driven by simplenn.measure.cell:

    run(n)        enqueue n training steps (returns nothing; on a GPU the work may still be in flight)
    sync()        read back, on the host, a value that depends on every parameter's last update, and return it
                  (a float checksum; a NaN in any parameter makes it NaN) — fetching the loss would prove only
                  that the loss was computed
    n_traces()    how many times the step was traced/compiled so far (None where the framework hides it)
    last_loss()   the loss of the last step, as a float
    placement()   {"variables": device, …} as TensorFlow device strings ({} where TF names do not apply)
    params()      numpy copies of [W1, b1, W2, b2, …], for the parity checks

Every implementation starts from the from-scratch `Network(case.layer_sizes, seed)`'s initial weights and trains
on the same `synthetic_batch` with the same loss and learning rate, so a time difference is a difference in how
the step is dispatched and executed, not in what it computes (simplenn.measure.parity checks). An implementation that
is not installed, or cannot run the case, raises `Unsupported` (measure() records an `unsupported` cell).
"""
from __future__ import annotations

import importlib

from simplenn.core.cases import Case, unsupported_reason
from simplenn.measure.runners.base import INSTALL_HINT, Runner, Unsupported, require

# impl -> module defining `Runner` for it; peers are imported only when asked for (torch and jax are optional).
MODULES = {"scratch": "simplenn.measure.runners.scratch", "keras": "simplenn.measure.runners.keras_peer",
           "torch": "simplenn.measure.runners.torch_peer", "jax": "simplenn.measure.runners.jax_peer",
           "mlx": "simplenn.measure.runners.mlx_peer"}

__all__ = ["INSTALL_HINT", "MODULES", "Runner", "Unsupported", "require", "runner"]


def runner(case: Case, seed: int = 0) -> Runner:
    """The runner for case.impl, built on case.device; raises Unsupported when the implementation cannot run it."""
    reason = unsupported_reason(case, backend="none")  # the implementation's own limits; measure() adds the device's
    if reason:
        raise Unsupported(reason)
    if case.impl not in MODULES:
        raise Unsupported(f"no implementation called {case.impl!r} (known: {', '.join(MODULES)})")
    return importlib.import_module(MODULES[case.impl]).RUNNER(case, seed)
