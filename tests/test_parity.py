"""Parity: modes, implementations and devices compute the same training steps within a stated tolerance."""
from __future__ import annotations

import importlib

import numpy as np
import pytest

from simplenn.measure import parity
from simplenn.core.cases import Case
from simplenn.measure.parity import device_parity, impl_parity, run_steps
from tiny import TINY



def _installed(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("loss", ["sigmoid", "softmax"])
def test_in_graph_and_per_call_leave_the_same_weights(loss):
    per_call = run_steps(Case("CPU:0", 8, TINY, loss=loss, mode="per-call"), n_steps=6)
    in_graph = run_steps(Case("CPU:0", 8, TINY, loss=loss, mode="in-graph"), n_steps=6)
    assert in_graph.loss == pytest.approx(per_call.loss, rel=1e-6)
    for a, b in zip(in_graph.params, per_call.params, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_impl_parity_reports_every_implementation_against_scratch():
    table = impl_parity(TINY, batch_size=8, n_steps=3, impls=("keras", "torch"), modes=("per-call", "in-graph"))
    by = table.set_index(["impl", "mode"])
    assert by.loc[("scratch", "per-call"), "ok"] and by.loc[("scratch", "per-call"), "loss_abs_diff"] == 0
    assert by.loc[("scratch", "in-graph"), "ok"]
    assert by.loc[("keras", "per-call"), "status"] == "ok"
    assert by.loc[("keras", "per-call"), "weights_max_abs_diff"] <= 1e-5
    assert by.loc[("keras", "in-graph"), "status"] == "unsupported"
    assert "in-graph" in by.loc[("keras", "in-graph"), "reason"]
    if not _installed("torch"):
        assert by.loc[("torch", "per-call"), "status"] == "unsupported"
        assert "simplenn-bench[peers]" in by.loc[("torch", "per-call"), "reason"]
    else:
        assert by.loc[("torch", "per-call"), "status"] == "ok"


def test_impl_parity_with_installed_peers():
    pytest.importorskip("torch", reason="torch is an optional peer (pip install 'simplenn-bench[peers]')")
    pytest.importorskip("jax", reason="jax is an optional peer (pip install 'simplenn-bench[peers]')")
    table = impl_parity(TINY, batch_size=8, loss="softmax", n_steps=3, impls=("torch", "jax"))
    assert table["status"].eq("ok").all(), table.to_string()


@pytest.mark.slow
def test_impl_parity_flags_a_different_computation(monkeypatch):
    real = parity.run_steps

    def wrong_learning_rate(case, n_steps, seed=0):
        got = real(case, n_steps, seed)
        if case.impl == "keras":
            return parity.Steps(got.loss, [p * 1.01 for p in got.params], got.placement)
        return got

    monkeypatch.setattr(parity, "run_steps", wrong_learning_rate)
    table = impl_parity(TINY, batch_size=8, n_steps=2, impls=("keras",)).set_index("impl")
    assert table.loc["keras", "status"] == "mismatch" and not table.loc["keras", "ok"]


def test_two_logical_cpus_agree():
    result = device_parity(("CPU:0", "CPU:1"), TINY, batch_size=8, n_steps=4)
    assert result.ok, result.message
    assert result.weights_max_abs_diff <= result.atol
    assert [p["variables"].rsplit(":", 2)[-2:] for p in result.placements] == [["CPU", "0"], ["CPU", "1"]]
    assert result.to_dict()["devices"] == ["CPU:0", "CPU:1"]


def test_a_device_mismatch_is_a_warning_not_an_exception(monkeypatch):
    real = parity.run_steps

    def drifting(case, n_steps, seed=0):
        got = real(case, n_steps, seed)
        if case.device == "CPU:1":
            return parity.Steps(got.loss * 1.1, [p + 1e-3 for p in got.params], got.placement)
        return got

    monkeypatch.setattr(parity, "run_steps", drifting)
    with pytest.warns(UserWarning, match="CPU:1 differs from CPU:0"):
        result = device_parity(("CPU:0", "CPU:1"), TINY, batch_size=8, n_steps=2)
    assert not result.ok
    assert result.weights_max_abs_diff == pytest.approx(1e-3, rel=1e-2)
    assert result.loss_max_rel_diff == pytest.approx(0.1, rel=1e-3)


def test_device_parity_needs_two_devices():
    with pytest.raises(ValueError, match="two devices"):
        device_parity(("CPU:0",), TINY, batch_size=8)
