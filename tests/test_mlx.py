"""The MLX runner: the same start and the same steps as scratch, lazy until sync(), `unsupported` where it cannot run."""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

from simplenn.measure import runners as peers
from simplenn.measure.runners import mlx_peer as mlx_runner
from simplenn.core.cases import Case
from simplenn.cli import main
from simplenn.measure.cell import measure
from simplenn.measure.runners.scratch import ScratchRunner
from simplenn.measure.parity import IMPL_TOLERANCE, impl_parity, run_steps
from simplenn.measure.runners import DECLARED
from tiny import FAST, TINY

mx = pytest.importorskip("mlx.core", reason="mlx is an optional peer (Linux: the `test` extra brings mlx[cpu])")



def case(mode: str = "per-call", loss: str = "sigmoid", dtype: str = "float32", device: str = "CPU:0",
         impl: str = "mlx", **kwargs) -> Case:
    return Case(device, 8, TINY, loss=loss, dtype=dtype, impl=impl, mode=mode, **kwargs)


def test_mlx_starts_from_the_scratch_networks_weights():
    got = peers.runner(case(), seed=3).params()
    want = [p.numpy() for p in ScratchRunner(case(impl="scratch"), seed=3).network.params]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64"])
@pytest.mark.parametrize("loss", ["sigmoid", "softmax"])
def test_mlx_matches_scratch_after_k_steps_within_the_dtypes_tolerance(loss, dtype):
    # float16's tolerance is wide: enough steps that the untouched weights would fall outside it.
    n_steps = 60 if dtype == "float16" else 5
    table = impl_parity(TINY, batch_size=8, loss=loss, n_steps=n_steps, impls=("mlx",), dtype=dtype).set_index("impl")
    row = table.loc["mlx"]
    assert row["status"] == "ok", table.to_string()
    rtol, atol = DECLARED["mlx"].tolerance.get(dtype, IMPL_TOLERANCE[dtype])
    assert (row["rtol"], row["atol"]) == (rtol, atol)
    # The steps moved the weights beyond the tolerance, so agreeing is not agreeing on untouched weights.
    start = [p.astype(np.float64) for p in peers.runner(case(loss=loss, dtype=dtype)).params()]
    after = run_steps(case(loss=loss, dtype=dtype), n_steps=n_steps).params
    assert any(np.any(np.abs(a - s) > atol + rtol * np.abs(a)) for a, s in zip(after, start))


def test_a_wrong_learning_rate_is_a_parity_mismatch(monkeypatch):
    real = mlx_runner._compiled_step
    monkeypatch.setattr(mlx_runner, "_compiled_step",
                        lambda mx_, state, loss, lr, dtype: real(mx_, state, loss, lr * 1.05, dtype))
    table = impl_parity(TINY, batch_size=8, n_steps=5, impls=("mlx",)).set_index("impl")
    assert table.loc["mlx", "status"] == "mismatch"


def test_run_does_not_evaluate_and_long_runs_stay_correct():
    runner = peers.runner(case())
    runner.run(3)
    assert "shape=rectangle" in _dot(runner.state)  # lazy: the 3 steps are recorded, not run
    n = 2 * mlx_runner.EVAL_EVERY + 5  # crosses the graph-bounding async_eval twice
    runner.run(n - 3)
    runner.sync()
    ref = run_steps(case(impl="scratch"), n_steps=n)
    for got, want in zip(runner.params(), ref.params):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def _dot(arrays) -> str:
    import io  # noqa: PLC0415

    out = io.StringIO()
    mx.export_to_dot(out, *arrays)
    return out.getvalue()


@pytest.mark.parametrize("device", ["CPU:0", "CPU:1"])
def test_mlx_is_measured_on_the_cpu(device):
    result = measure(case(device=device), FAST)
    assert result.status == "ok", result.reason
    assert np.isfinite(result.final_loss) and len(result.block_s) >= FAST.min_blocks and result.n_steps >= 1


@pytest.mark.parametrize("kwargs, words", [
    ({"mode": "in-graph"}, "in-graph mode"),
    ({"jit": True}, "--jit"),
    ({"device": "GPU:1"}, "one GPU"),
    ({"device": "TPU:0"}, "no MLX device"),
])
def test_what_mlx_cannot_run_is_unsupported_with_the_reason(kwargs, words):
    result = measure(case(**kwargs), FAST)
    assert result.status == "unsupported" and words in result.reason, result.reason
    assert result.block_s == ()


def test_the_gpu_is_unsupported_without_a_gpu_backend_and_float64_never_runs_there(monkeypatch):
    if not mx.is_available(mx.gpu):
        with pytest.raises(peers.Unsupported, match="no GPU backend"):
            mlx_runner.mlx_device("GPU:0")
    monkeypatch.setattr(mlx_runner, "mlx_device", lambda name, mx_=None: mx.gpu)
    with pytest.raises(peers.Unsupported, match="float64 is not supported on the Metal GPU"):
        mlx_runner.MlxRunner(case(dtype="float64", device="GPU:0"))


def test_without_mlx_its_cells_are_unsupported_with_the_install_hint(monkeypatch, hide_package):
    for name in [m for m in sys.modules if m == "mlx" or m.startswith("mlx.")]:
        monkeypatch.delitem(sys.modules, name)  # imported already (mlx.core): forget it, as on a machine without it
    hide_package("mlx")
    result = measure(case(), FAST)
    assert result.status == "unsupported"
    assert "mlx" in result.reason and "simplenn-bench[peers]" in result.reason


def test_an_unknown_impl_is_a_usage_error_naming_the_allowed_values(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--impl", "scratch,nonsense"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--impl" in err and "'nonsense' is not allowed" in err and "mlx" in err and "jax" in err


@pytest.mark.slow
def test_the_mlx_figures_script_runs(capsys):
    # The script behind the report's MLX figures, shrunk.
    script = runpy.run_path(str(Path(__file__).resolve().parents[1] / "bench" / "mlx_figures.py"), run_name="figures")
    assert script["main"](["--quick"]) == 0
    out = capsys.readouterr().out
    assert "MLX / scratch per-call step time" in out and "evaluated only in sync()" in out
