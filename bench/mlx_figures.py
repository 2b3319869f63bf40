"""MLX next to TF scratch per-call on CPU:0, in ratios measured in one process with the cells interleaved.

Run:  .venv/bin/python bench/mlx_figures.py          (≈1–2 min; add --quick for a smoke run)

Every cell goes through simplenn.measure.cell.measure (the same calibrated blocks, one sync per block), in rounds
whose order alternates (forward, reverse, …) so drift of the shared vCPUs weighs on both sides of a ratio alike.
Per-step time = block time / steps per block (simplenn.store.results). A ratio is median / median with a bootstrap
95 % CI over the blocks of every round. Also measured: MLX with its graph-bounding `mx.async_eval` every
EVAL_EVERY steps against MLX evaluated only in sync(), on blocks long enough (≥ 0.5 s) that the former fires.
These are Linux CPU figures (MLX's CPU backend); they say nothing about MLX on a Mac's GPU.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without installing

from simplenn.store import results  # noqa: E402

from simplenn.measure import runners as peers
from simplenn.measure.runners import mlx_peer as mlx_runner  # noqa: E402
from simplenn.core.cases import Case  # noqa: E402
from simplenn.measure.cell import Settings, measure  # noqa: E402
from simplenn.core.stats import bootstrap_ratio_ci, summarize  # noqa: E402

DEVICE = "CPU:0"
LAZY_ONLY = "-eval-in-sync-only"


def _mlx_eval_only_in_sync(case: Case, seed: int):
    """make_runner for measure(): the MLX runner without the every-EVAL_EVERY-steps async_eval."""
    runner = peers.runner(case, seed)
    runner.eval_every = 10**12
    return runner


def run(batch_sizes: tuple[int, ...], settings: Settings, long_settings: Settings, rounds: int) -> dict:
    """Measure scratch and mlx per-call at each batch size, plus the two MLX evaluation variants, in rounds."""
    todo = [(Case(DEVICE, b, impl=impl), settings, None, "") for b in batch_sizes for impl in ("scratch", "mlx")]
    eval_batch = batch_sizes[0]
    todo += [(Case(DEVICE, eval_batch, impl="mlx"), long_settings, None, "-long"),
             (Case(DEVICE, eval_batch, impl="mlx"), long_settings, _mlx_eval_only_in_sync, LAZY_ONLY)]
    records, statuses = [], {}
    load = [os.getloadavg()[0]]
    for round_ in range(rounds):
        for case, cell_settings, make_runner, suffix in (todo if round_ % 2 == 0 else todo[::-1]):
            result = measure(case, cell_settings, make_runner=make_runner)
            cell_id = case.id + suffix
            statuses[cell_id] = (result.status, result.reason, result.n_steps)
            print(f"  round {round_} {cell_id:<34} {result.status:<11} n={result.n_steps} {result.reason[:70]}",
                  file=sys.stderr)
            records.append(replace(result, id=cell_id, seq=len(records), round=round_).to_json())
    load.append(os.getloadavg()[0])
    samples = results.frame(results.rows("mlx-figures", "here", records))
    return {"samples": samples[samples["status"] == "ok"], "statuses": statuses, "load": load,
            "eval_batch": eval_batch}


def _ratio(samples, slow: str, fast: str) -> str:
    a = samples.loc[samples["cell_id"] == slow, "step_s"].to_numpy()
    b = samples.loc[samples["cell_id"] == fast, "step_s"].to_numpy()
    if not len(a) or not len(b):
        return "n/a (no ok samples)"
    r, low, high = bootstrap_ratio_ci(a, b)
    return f"{r:.2f}× [95 % CI {low:.2f}–{high:.2f}]"


def report(data: dict, batch_sizes: tuple[int, ...]) -> list[str]:
    samples = data["samples"]
    summary = summarize(samples, ["cell_id"]).set_index("cell_id")
    lines = [f"MLX {mlx_runner.require('mlx.core').__version__}, CPU:0 (mx.cpu), Linux; 1-minute load average "
             f"before/after: {data['load'][0]:.2f} / {data['load'][1]:.2f} on {os.cpu_count()} CPUs",
             "median per-call step time (ms; block time / steps per block), IQR/median, blocks, steps per block:"]
    for cell_id, row in summary.iterrows():
        lines.append(f"  {cell_id:<34} {row['median_step_s'] * 1e3:10.3f} ms  {row['iqr_rel']:6.1%}  "
                     f"n={row['n_blocks']}  steps/block={data['statuses'][cell_id][2]}")
    for cell_id, (status, reason, _) in data["statuses"].items():
        if status != "ok":
            lines.append(f"  {cell_id:<34} {status}: {reason}")
    lines.append("MLX / scratch per-call step time (>1: MLX is slower):")
    for b in batch_sizes:
        lines.append(f"  batch {b}: " + _ratio(samples, Case(DEVICE, b, impl="mlx").id, Case(DEVICE, b).id))
    mlx_id = Case(DEVICE, data["eval_batch"], impl="mlx").id
    lines.append(f"MLX with async_eval every {mlx_runner.EVAL_EVERY} steps / MLX evaluated only in sync(), "
                 f"batch {data['eval_batch']}, blocks ≥ 0.5 s: " + _ratio(samples, mlx_id + "-long", mlx_id + LAZY_ONLY))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings and sizes: checks the script runs")
    args = parser.parse_args(argv)
    if args.quick:
        batch_sizes = (8,)
        settings = Settings(min_block_s=0.002, min_blocks=2, min_time_s=0.004, max_blocks=3)
        data = run(batch_sizes, settings, settings, rounds=1)
    else:
        batch_sizes = (32, 2048)
        data = run(batch_sizes, Settings(), Settings(min_block_s=0.5, min_blocks=3, min_time_s=1.5), rounds=3)
    print("\n".join(report(data, batch_sizes)))
    return 0 if not data["samples"].empty else 1


if __name__ == "__main__":
    sys.exit(main())
