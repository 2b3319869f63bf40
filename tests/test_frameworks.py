"""The frameworks table: each implementation and mode against TF scratch per-call, and the fastest per cell."""
from __future__ import annotations

import math

import numpy as np
import pytest

from simplenn.store import results
from simplenn.analyse.report.frameworks import NO_CLEAR_WINNER, frameworks_table, impl_parity_table
from simplenn.store.runmeta import RunMeta

HINT = "mlx is not installed (ModuleNotFoundError: No module named 'mlx'); pip install 'simplenn-bench[peers]'"


def _samples(spec: dict, rounds: int = 1, batch_sizes=(32,), n_blocks: int = 8, noise: float = 0.01, seed: int = 0):
    """Tidy samples: spec maps (impl, mode) -> median step seconds at batch 32 (scaled by batch/32), or a status.

    Every cell's blocks spread evenly over ±noise around its median (in a seeded random order), so the medians are
    exactly the given ones and only the spread decides whether a CI holds 1.
    """
    rng = np.random.default_rng(seed)
    spread = np.linspace(-noise, noise, n_blocks)
    rows = []
    for batch in batch_sizes:
        for (impl, mode), value in spec.items():
            base = dict(run="r1", machine="m", device="CPU:0", device_kind="cpu", backend="none", impl=impl, mode=mode,
                        batch_size=batch, widths="784x100x30x10", hidden="100x30", loss="sigmoid", dtype="float32",
                        jit=False, cell_id=f"cpu-b{batch}-{impl}-{mode}", seq=0, sentinel=False, reason="")
            for r in range(rounds):
                if isinstance(value, str):  # a status: one row without samples
                    rows.append({**base, "round": r, "status": value, "reason": HINT})
                    continue
                per_round = value * batch / 32 * (1 + 0.02 * r)
                for b, t in enumerate(per_round * (1 + rng.permutation(spread))):
                    rows.append({**base, "round": r, "status": "ok", "block": b, "n_steps": 10, "block_s": 10 * t,
                                 "step_s": t})
    return results.frame(rows)


def test_speedups_against_scratch_per_call_and_the_fastest_named():
    spec = {("scratch", "per-call"): 1e-3, ("scratch", "in-graph"): 4e-4, ("jax", "per-call"): 2.5e-4,
            ("mlx", "per-call"): 4e-3}
    fw = frameworks_table(_samples(spec, rounds=3))
    t = fw.table.set_index(["impl", "mode"])
    assert t.loc[("scratch", "per-call"), "speedup"] == pytest.approx(1.0)
    assert t.loc[("scratch", "per-call"), "vs_baseline"] == "baseline"
    assert t.loc[("jax", "per-call"), "speedup"] == pytest.approx(4.0, rel=0.03)
    assert t.loc[("mlx", "per-call"), "speedup"] == pytest.approx(0.25, rel=0.03)
    assert t.loc[("jax", "per-call"), "speedup_ci_low"] > 1 and t.loc[("jax", "per-call"), "vs_baseline"] == "faster"
    assert t.loc[("mlx", "per-call"), "speedup_ci_high"] < 1 and t.loc[("mlx", "per-call"), "vs_baseline"] == "slower"
    assert (t["n_rounds"] == 3).all()
    # Rows in the implementations' canonical order, whatever order the samples came in.
    assert list(fw.table["impl"] + " " + fw.table["mode"]) == [
        "scratch per-call", "scratch in-graph", "jax per-call", "mlx per-call"]
    (w,) = fw.winners.to_dict("records")
    assert w["fastest"] == "jax per-call" and w["runner_up"] == "TF scratch in-graph"
    assert w["winner"] == "jax per-call" and w["margin"] == pytest.approx(1.6, rel=0.03)


def test_no_clear_winner_when_the_two_fastest_overlap():
    # jax is 2 % faster by its median, inside a ±10 % spread of blocks: not a clear win.
    spec = {("scratch", "per-call"): 1e-3, ("jax", "per-call"): 3.00e-4, ("mlx", "per-call"): 3.06e-4}
    fw = frameworks_table(_samples(spec, noise=0.1))
    (w,) = fw.winners.to_dict("records")
    assert w["fastest"] == "jax per-call" and w["margin"] == pytest.approx(1.02)
    assert w["margin_ci_low"] < 1 < w["margin_ci_high"]
    assert w["winner"].startswith(NO_CLEAR_WINNER) and "jax per-call" in w["winner"] and "mlx per-call" in w["winner"]
    assert set(fw.table.loc[fw.table["impl"] != "scratch", "vs_baseline"]) == {"faster"}


def test_a_speedup_whose_ci_spans_one_is_neither():
    fw = frameworks_table(_samples({("scratch", "per-call"): 1e-3, ("keras", "per-call"): 0.98e-3}, noise=0.1))
    t = fw.table.set_index("impl")
    assert t.loc["keras", "speedup"] > 1 and t.loc["keras", "speedup_ci_low"] < 1 < t.loc["keras", "speedup_ci_high"]
    assert t.loc["keras", "vs_baseline"] == "neither (CI spans 1)"


def test_each_device_and_batch_size_is_its_own_cell():
    spec = {("scratch", "per-call"): 1e-3, ("jax", "per-call"): 2e-4}
    fw = frameworks_table(_samples(spec, batch_sizes=(32, 2048)))
    assert sorted(fw.winners["batch_size"]) == [32, 2048] and len(fw.table) == 4
    t = fw.table.set_index(["batch_size", "impl"])
    assert t.loc[(2048, "jax"), "median_step_s"] == pytest.approx(2e-4 * 64, rel=0.02)
    assert t.loc[(2048, "jax"), "speedup"] == pytest.approx(5.0, rel=0.03)


def test_unsupported_cells_keep_their_reason_and_are_never_the_fastest():
    spec = {("scratch", "per-call"): 1e-3, ("mlx", "per-call"): "unsupported", ("jax", "per-call"): 5e-4}
    fw = frameworks_table(_samples(spec))
    t = fw.table.set_index("impl")
    assert t.loc["mlx", "status"] == "unsupported" and "pip install" in t.loc["mlx", "reason"]
    assert math.isnan(t.loc["mlx", "speedup"]) and t.loc["mlx", "vs_baseline"] == "–"
    assert fw.winners.iloc[0]["fastest"] == "jax per-call"


def test_without_the_baseline_there_are_no_speedups_but_a_fastest_and_a_note():
    fw = frameworks_table(_samples({("scratch", "per-call"): "crashed", ("jax", "per-call"): 5e-4,
                                    ("mlx", "per-call"): 5e-3}))
    assert fw.table["speedup"].isna().all() and "not measured ok" in fw.note
    assert fw.winners.iloc[0]["winner"] == "jax per-call"


def test_one_implementation_alone_is_not_a_comparison_even_in_two_modes():
    fw = frameworks_table(_samples({("scratch", "per-call"): 1e-3, ("scratch", "in-graph"): 5e-4}))
    assert fw.empty and fw.winners.empty and "no other framework" in fw.note


def test_sentinel_rows_are_left_out():
    df = _samples({("scratch", "per-call"): 1e-3, ("jax", "per-call"): 5e-4})
    extra = df[df["impl"] == "scratch"].assign(sentinel=True, step_s=1.0, block_s=10.0)
    fw = frameworks_table(results.frame(list(df.to_dict("records")) + list(extra.to_dict("records"))))
    assert fw.table.set_index("impl").loc["scratch", "median_step_s"] == pytest.approx(1e-3, rel=0.02)


def test_impl_parity_table_reads_what_the_run_recorded():
    rows = [{"impl": "scratch", "mode": "per-call", "status": "ok", "reason": "", "loss_rel_diff": 0.0,
             "weights_max_abs_diff": 0.0, "weights_max_rel_diff": 0.0, "rtol": 1e-4, "atol": 1e-6, "dtype": "float32"},
            {"impl": "mlx", "mode": "in-graph", "status": "unsupported", "reason": "no in-graph", "rtol": 1e-4,
             "atol": 1e-6, "dtype": "float32"}]
    runs = {"a": RunMeta(impl_parity={"device": "CPU:0", "rows": rows}), "b": RunMeta(device_parity={"ok": True})}
    table = impl_parity_table(runs)
    assert list(table["run"]) == ["a", "a"] and list(table["status"]) == ["ok", "unsupported"]
    assert (table["device"] == "CPU:0").all() and impl_parity_table({"b": RunMeta()}).empty


def _analysis(spec: dict, runs: dict | None = None, **kw):
    from simplenn.analyse.report import analyse
    from simplenn.store.results import Results

    return analyse(Results(_samples(spec, **kw), runs or {}))


def test_the_report_has_a_frameworks_section_and_chart_when_implementations_differ(tmp_path):
    from simplenn.analyse.report.charts import frameworks_chart
    from simplenn.analyse.report.markdown import render_markdown

    spec = {("scratch", "per-call"): 1e-3, ("jax", "per-call"): 2.5e-4, ("mlx", "per-call"): "unsupported"}
    analysis = _analysis(spec, rounds=2, batch_sizes=(32, 2048))
    assert "frameworks" in analysis.chart_names
    text = render_markdown(analysis, tmp_path)
    section = text.split("## Frameworks")[1].split("\n## ")[0]
    assert "| 32 | jax per-call | 0.2525 | TF scratch per-call | 1.01 | 4 |" in section
    assert "| 2048 | jax per-call | 16.16 |" in section
    # Both rounds give exactly 4× (the rounds' shift is shared): the paired t over rounds has no width left.
    assert "| 32 | jax | per-call | ok | 2 | 0.2525 |" in section and "| 4 | 4–4 | faster |" in section
    assert "pip install 'simplenn-bench[peers]'" in section  # the unsupported cell's reason, with the hint
    fig = frameworks_chart(analysis)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["CPU:0, batch 32\nfastest: jax per-call", "CPU:0, batch 2048\nfastest: jax per-call"]
    labels = [t.get_text().strip() for t in fig.axes[0].texts]
    assert labels == ["1.00×", "4.00×", "unsupported"]


def test_one_implementation_gets_no_frameworks_section_or_chart(tmp_path):
    from simplenn.analyse.report.markdown import render_markdown

    analysis = _analysis({("scratch", "per-call"): 1e-3, ("scratch", "in-graph"): 5e-4})
    assert "frameworks" not in analysis.chart_names
    assert "## Frameworks" not in render_markdown(analysis, tmp_path)


def test_the_recorded_implementation_parity_is_shown_under_parity(tmp_path):
    from simplenn.analyse.report.markdown import render_markdown

    rows = [{"impl": "scratch", "mode": "per-call", "status": "ok", "reason": "", "n_steps": 5, "loss_rel_diff": 0.0,
             "weights_max_abs_diff": 0.0, "weights_max_rel_diff": 0.0, "rtol": 1e-4, "atol": 1e-6, "dtype": "float32"},
            {"impl": "jax", "mode": "per-call", "status": "mismatch", "reason": "differs from scratch", "n_steps": 5,
             "loss_rel_diff": 0.3, "weights_max_abs_diff": 0.01, "weights_max_rel_diff": 0.2, "rtol": 1e-4,
             "atol": 1e-6, "dtype": "float32"}]
    runs = {"r1": {"impl_parity": {"device": "CPU:0", "batch_size": 32, "layer_sizes": [784, 100, 30, 10],
                                   "rows": rows}, "machine": {"versions": {"jax": "0.10.2", "torch": None}}}}
    text = render_markdown(_analysis({("scratch", "per-call"): 1e-3, ("jax", "per-call"): 2.5e-4}, runs), tmp_path)
    parity = text.split("### Implementation parity")[1].split("\n## ")[0]
    assert "widths = 784x100x30x10, batch_size = 32, n_steps = 5" in parity
    assert "| jax | per-call | mismatch | 0.3 |" in parity
    assert "- `r1`: jax 0.10.2; not installed: torch" in text.split("## Frameworks")[1]
