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
import pkgutil

from simplenn.core.cases import Case, backend_reason
from simplenn.measure.runners.base import INSTALL_HINT, Impl, Runner, Unsupported, require


def _declared() -> dict[str, object]:
    """impl name -> its runner module: every module of this package that declares an `IMPL`, in rank order.

    A runner module imports nothing heavy at module level (frameworks load when a runner is built), so reading
    every declaration costs nothing.
    """
    modules = [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)]
    declared = sorted((m for m in modules if isinstance(getattr(m, "IMPL", None), Impl)), key=lambda m: m.IMPL.rank)
    return {m.IMPL.name: m for m in declared}


MODULES = _declared()
IMPLS: tuple[str, ...] = tuple(MODULES)  # the --impl values, scratch (the baseline) first
DECLARED: dict[str, Impl] = {name: m.IMPL for name, m in MODULES.items()}
# Distributions whose versions a run records, so a frameworks comparison says which versions it compared.
PACKAGES: tuple[str, ...] = tuple(dict.fromkeys(p for impl in DECLARED.values() for p in impl.packages))

__all__ = ["DECLARED", "IMPLS", "INSTALL_HINT", "Impl", "MODULES", "PACKAGES", "Runner", "Unsupported", "require",
           "runner", "unsupported_reason"]


def unsupported_reason(case: Case, backend: str) -> str | None:
    """Why this case cannot run with its implementation on a device with this backend ('metal', 'cuda', 'none').

    The implementation's own limits (its `IMPL.limits`) first, then the device's (simplenn.core.cases.backend_reason).
    Known before anything runs, so the cell is reported `unsupported` instead of failing or, worse, silently
    running on the CPU.
    """
    impl = DECLARED.get(case.impl)
    if impl is None:
        return f"no implementation called {case.impl!r} (known: {', '.join(IMPLS)})"
    return impl.unsupported(case) or backend_reason(case, backend)


def runner(case: Case, seed: int = 0) -> Runner:
    """The runner for case.impl, built on case.device; raises Unsupported when the implementation cannot run it."""
    reason = unsupported_reason(case, backend="none")  # the implementation's own limits; measure() adds the device's
    if reason:
        raise Unsupported(reason)
    return MODULES[case.impl].RUNNER(case, seed)
