"""Peer implementations (keras, torch, jax): same start, same steps, and `unsupported` — never a crash — without them."""
from __future__ import annotations

import runpy
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from simplenn.measure import runners
from simplenn.core.cases import Case
from simplenn.measure.cell import measure
from simplenn.measure.parity import run_steps
from simplenn.measure.runners.scratch import ScratchRunner
from simplenn.measure.runners.torch_peer import torch_device
from tiny import FAST, TINY



def case(impl: str, mode: str = "per-call", loss: str = "sigmoid", device: str = "CPU:0") -> Case:
    return Case(device, 8, TINY, loss=loss, impl=impl, mode=mode)


def scratch_initial(c: Case) -> list[np.ndarray]:
    return ScratchRunner(c).params()


def assert_params_close(got, ref, rtol=1e-4, atol=1e-6):
    assert len(got) == len(ref)
    for g, r in zip(got, ref, strict=True):
        np.testing.assert_allclose(g, r, rtol=rtol, atol=atol)


def test_keras_starts_from_the_scratch_networks_weights():
    c = case("keras")
    got = runners.runner(c, seed=3).params()
    ref = ScratchRunner(case("scratch"), seed=3).params()
    assert len(ref) == 2 * (len(TINY) - 1)  # [W1, b1, W2, b2, …]
    for g, want in zip(got, ref, strict=True):  # strict: a missing or extra parameter fails
        np.testing.assert_array_equal(g, want)


@pytest.mark.parametrize("loss", ["sigmoid", "softmax"])
def test_keras_matches_scratch_after_a_few_steps(loss):
    ref = run_steps(case("scratch", loss=loss), n_steps=4)
    got = run_steps(case("keras", loss=loss), n_steps=4)
    assert got.loss == pytest.approx(ref.loss, rel=1e-5)
    assert_params_close(got.params, ref.params)
    # The steps changed the weights: the comparison is not between two untouched initial states.
    assert not np.allclose(ref.params[-2], scratch_initial(case("scratch", loss=loss))[-2], rtol=0, atol=1e-7)


def test_keras_is_measured_with_its_variables_on_the_requested_device():
    result = measure(case("keras", device="CPU:1"), FAST)
    assert result.status == "ok", result.reason
    assert result.placement["variables"].endswith("CPU:1")
    assert result.n_traces is None and np.isfinite(result.final_loss)


@pytest.mark.parametrize("impl", ["keras", "torch"])
def test_in_graph_mode_is_unsupported_for_per_call_peers(impl):
    result = measure(case(impl, mode="in-graph"), FAST)
    assert result.status == "unsupported"
    assert "in-graph" in result.reason


@pytest.mark.parametrize("impl", ["torch", "jax"])
def test_a_missing_optional_peer_is_an_unsupported_cell_with_the_install_hint(hide_package, impl):
    module = impl
    hide_package(module)
    result = measure(case(impl), FAST)
    assert result.status == "unsupported"
    assert module in result.reason and "simplenn-bench[peers]" in result.reason
    assert result.block_s == ()


def test_an_unknown_gpu_has_no_torch_device_and_cpus_map_to_cpu(monkeypatch):
    no_gpu = types.SimpleNamespace(
        backends=types.SimpleNamespace(mps=types.SimpleNamespace(is_available=lambda: False)),
        cuda=types.SimpleNamespace(is_available=lambda: False, device_count=lambda: 0), __version__="x")
    assert torch_device("CPU:1", no_gpu) == "cpu"
    with pytest.raises(runners.Unsupported, match="no GPU"):
        torch_device("GPU:0", no_gpu)
    mac = types.SimpleNamespace(backends=types.SimpleNamespace(mps=types.SimpleNamespace(is_available=lambda: True)),
                                cuda=no_gpu.cuda, __version__="x")
    monkeypatch.setattr(sys, "platform", "darwin")
    assert torch_device("/device:GPU:0", mac) == "mps"
    cuda = types.SimpleNamespace(backends=no_gpu.backends, __version__="x",
                                 cuda=types.SimpleNamespace(is_available=lambda: True, device_count=lambda: 1))
    assert torch_device("GPU:0", cuda) == "cuda:0"


@pytest.mark.parametrize("loss", ["sigmoid", "softmax"])
def test_torch_matches_scratch(loss):
    pytest.importorskip("torch", reason="torch is an optional peer (pip install 'simplenn-bench[peers]')")
    ref = run_steps(case("scratch", loss=loss), n_steps=4)
    got = run_steps(case("torch", loss=loss), n_steps=4)
    assert got.loss == pytest.approx(ref.loss, rel=1e-5)
    assert_params_close(got.params, ref.params)


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["sigmoid", "softmax"])
@pytest.mark.parametrize("mode", ["per-call", "in-graph"])
def test_jax_matches_scratch(loss, mode):
    pytest.importorskip("jax", reason="jax is an optional peer (pip install 'simplenn-bench[peers]')")
    ref = run_steps(case("scratch", loss=loss), n_steps=4)
    got = run_steps(case("jax", loss=loss, mode=mode), n_steps=4)
    assert got.loss == pytest.approx(ref.loss, rel=1e-5)
    assert_params_close(got.params, ref.params)


@pytest.mark.parametrize("mode", ["per-call", "in-graph"])
def test_jax_traces_once_across_blocks_of_different_lengths(mode):
    pytest.importorskip("jax", reason="jax is an optional peer (pip install 'simplenn-bench[peers]')")
    result = measure(case("jax", mode=mode), FAST)
    assert result.status == "ok", result.reason
    assert result.n_traces == 1


@pytest.mark.slow
def test_the_peers_figures_script_runs(capsys):
    # The script behind the closing note's figures, shrunk: it must run with or without torch/jax installed.
    script = runpy.run_path(str(Path(__file__).resolve().parents[1] / "bench" / "peers_figures.py"), run_name="figures")
    assert script["main"](["--quick"]) == 0
    out = capsys.readouterr().out
    for heading in ("1. in-graph", "2. keras", "3. scratch in-graph", "4. fraction of the matmul ceiling"):
        assert heading in out
