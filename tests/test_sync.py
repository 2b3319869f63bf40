"""Every runner's sync() waits for the last update of every parameter and reads it back — checked without timing.

Two checks, neither compares durations:
- value: after run(k) + sync(), sync() returns Σ (first element of each parameter) of an independent numpy SGD
  reference after exactly k steps (not k − 1), and params() equal that reference. A sync that returns nothing,
  the loss, or a value read before the last update fails.
- waiting: where work can still be pending when run(k) returns, sync() must leave none.
  MLX is lazy, so after run(k) the steps are deterministically pending (its graph lists them) and must be gone
  after sync(). JAX dispatches asynchronously: with steps of ~8 GFLOP, run(k) returns (in µs) while they still
  run — checked, not assumed: `is_ready()` is False — and after sync() every parameter must be ready. (A gate, a
  host callback blocking on an Event, would be exact, but jax runs host callbacks synchronously at dispatch.)
  TensorFlow and torch execute synchronously on the CPU (run(k) returns after the work), so only the value check
  applies to them here; on a GPU their sync() reads a checksum on the host (TF) or calls torch.*.synchronize().
The last tests run both checks on runners whose sync() does not wait (returns at once, or reads only the loss)
and expect them to fail.
"""
from __future__ import annotations

import importlib.util
import io

import numpy as np
import pytest

from simplenn.core.cases import Case
from simplenn.measure.runners.scratch import ScratchRunner
from simplenn.measure.runners import runner as peer_runner
from sync_checks import K, NoWait, ReadsLoss, check_value, checksum, reference
from tiny import TINY

IMPLS = ["scratch", "keras", "jax", "mlx", "torch"]
OPTIONAL = {"jax": "jax", "mlx": "mlx", "torch": "torch"}


def make(impl: str, loss: str = "sigmoid", batch_size: int = 8, widths: tuple[int, ...] = TINY):
    """A runner for impl on CPU:0 (skipped, with the install hint, when the optional package is missing)."""
    module = OPTIONAL.get(impl)
    if module and importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install 'simplenn-bench[peers]'; on Linux `test` brings mlx, jax)")
    case = Case("CPU:0", batch_size, widths, loss=loss, impl=impl)
    return ScratchRunner(case) if impl == "scratch" else peer_runner(case)


def mlx_pending_ops(arrays) -> int:
    """How many MLX primitives are still unevaluated in the graph behind these arrays (0 once evaluated)."""
    import mlx.core as mx  # noqa: PLC0415

    dot = io.StringIO()
    mx.export_to_dot(dot, *arrays)
    return dot.getvalue().count("shape=rectangle")


def check_mlx_waits(runner) -> None:
    runner.run(K)
    assert mlx_pending_ops(runner.state) > 0, "run(K) should leave the lazy steps pending (nothing waits in run)"
    runner.sync()
    assert mlx_pending_ops(runner.state) == 0, "sync() returned with steps still unevaluated"


def check_jax_waits(runner) -> None:
    """After run(k) the jitted steps are still running (dispatch takes µs, each step ~0.1 s); after sync(), none is."""
    for k in (K, 4 * K, 16 * K):
        runner.run(k)
        pending = not all(p.is_ready() for p in runner.params_j)
        if pending:
            break
        runner.sync()
    assert pending, "run(k) should return before the steps finish (asynchronous dispatch), or nothing is checked"
    runner.sync()
    assert all(p.is_ready() for p in runner.params_j), "sync() returned with steps still running"


WAIT_CHECKS = {"mlx": check_mlx_waits, "jax": check_jax_waits}
# Steps big enough that they cannot finish while run(k) dispatches them (~8 GFLOP each); MLX needs none: it is lazy.
WAIT_CASE = {"mlx": {}, "jax": {"batch_size": 2048, "widths": (784, 512, 512, 10)}}


@pytest.mark.parametrize("loss", ["sigmoid", "softmax"])
@pytest.mark.parametrize("impl", IMPLS)
def test_sync_reads_back_every_parameters_last_update(impl, loss):
    check_value(make(impl, loss), loss)


@pytest.mark.slow
@pytest.mark.parametrize("impl", IMPLS)
def test_sync_leaves_no_pending_work(impl):
    if impl not in WAIT_CHECKS:
        make(impl)  # skips first when the package is missing
        pytest.skip(f"{impl} executes synchronously on the CPU: run(k) returns after the work; the value check applies")
    WAIT_CHECKS[impl](make(impl, **WAIT_CASE[impl]))


@pytest.mark.parametrize("impl", IMPLS)
def test_the_value_check_fails_for_a_sync_that_reads_only_the_loss(impl):
    with pytest.raises(AssertionError):
        check_value(ReadsLoss(make(impl)))


@pytest.mark.slow
@pytest.mark.parametrize("impl", ["mlx", "jax"])
@pytest.mark.parametrize("broken", [NoWait, ReadsLoss])
def test_the_wait_check_fails_for_a_sync_that_does_not_wait(impl, broken):
    if (impl, broken) == ("jax", ReadsLoss):
        pytest.skip("reading jax's loss waits for the whole last step (one XLA program); the value check catches that sync")
    with pytest.raises(AssertionError):
        WAIT_CHECKS[impl](broken(make(impl, **WAIT_CASE[impl])))
