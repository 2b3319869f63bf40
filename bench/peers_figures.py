"""Where the time goes, in ratios measured in one process on CPU:0: dispatch, Keras, peers, and the ceiling.

Run:  .venv/bin/python bench/peers_figures.py          (≈2 min; add --quick for a smoke run)

Every cell goes through simplenn.measure.cell.measure with default Settings, in two rounds (forward, then reverse
order, so slow drift of the shared vCPU weighs on both sides of a ratio alike). Per-step times come from
simplenn.store.results (block time / steps per block); a ratio is median / median with a bootstrap 95 % CI over the
blocks of both rounds. Absolute times move ±40 % between runs here; the ratios are what to quote.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import replace
import weakref
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without installing

from simplenn.store import results  # noqa: E402
from simplenn.core.cases import FLOPS_FORMULA, Case, MatMul  # noqa: E402
from simplenn.measure.ceiling import probe_ceiling, step_shapes  # noqa: E402
from simplenn.measure.cell import Settings, measure  # noqa: E402
from simplenn.core.stats import bootstrap_ratio_ci, summarize  # noqa: E402

DEVICE = "CPU:0"
PEERS_AT_32 = [("torch", "per-call"), ("jax", "per-call"), ("jax", "in-graph")]


def cells(sizes: dict[str, tuple[int, ...]]) -> list[Case]:
    """The cells the ratios need (sizes: which batch sizes each comparison uses)."""
    out = []
    for b in sorted(set(sizes["modes"]) | set(sizes["keras"]) | set(sizes["peers"]) | set(sizes["ceiling"])):
        out.append(Case(DEVICE, b))
    out += [Case(DEVICE, b, mode="in-graph") for b in sizes["modes"] + sizes["peers"]]
    out += [Case(DEVICE, b, impl="keras") for b in sizes["keras"]]
    out += [Case(DEVICE, b, impl=impl, mode=mode) for b in sizes["peers"] for impl, mode in PEERS_AT_32]
    # What would close a gap to JAX: the same loop compiled whole by XLA (not available on Metal).
    out += [Case(DEVICE, b, mode=m, jit=True) for b in sizes["peers"] for m in ("in-graph", "per-call")]
    return list(dict.fromkeys(out))  # unique, order kept


def _torch_threads(n: int):
    """make_runner for measure(): a torch runner with n intra-op threads (restored when the runner is gone)."""
    def make(case: Case, seed: int):
        import torch  # noqa: PLC0415 — only reached when torch is installed (else require raises Unsupported)

        from simplenn.measure import runners  # noqa: PLC0415

        before = torch.get_num_threads()
        torch.set_num_threads(n)
        runner = runners.runner(case, seed)
        weakref.finalize(runner, torch.set_num_threads, before)
        return runner

    def make_or_unsupported(case: Case, seed: int):
        from simplenn.measure.runners import require  # noqa: PLC0415

        require("torch")
        return make(case, seed)

    return make_or_unsupported


def run(settings: Settings, sizes: dict[str, tuple[int, ...]], ceiling_n: int, ceiling_settings: Settings,
        rounds: int = 2) -> dict:
    """Measure every cell in two rounds and the matmul ceiling before and after; return tidy samples and more."""
    todo = cells(sizes)
    records, statuses = [], {}
    load = [os.getloadavg()[0]]
    # A square yardstick and the measured steps' own big matmuls, transposes included (simplenn.measure.ceiling).
    shapes = [MatMul(ceiling_n, ceiling_n, ceiling_n), *step_shapes(Case(DEVICE, b) for b in sizes["ceiling"])]
    ceilings = [probe_ceiling(DEVICE, shapes, settings=ceiling_settings)]
    # torch is also measured with one intra-op thread: its default OpenMP team, sharing 2 vCPUs with
    # TensorFlow's thread pool in one process, was seen to take 100+ ms per small step.
    todo = [(c, None) for c in todo] + [(c, 1) for c in todo if c.impl == "torch"]
    for round_, order in enumerate([todo, todo[::-1]][:rounds]):
        for case, torch_threads in order:
            result = measure(case, settings, make_runner=_torch_threads(torch_threads) if torch_threads else None)
            cell_id = case.id + (f"-{torch_threads}thread" if torch_threads else "")
            statuses[cell_id] = (result.status, result.reason)
            print(f"  round {round_} {cell_id:<32} {result.status:<11} {result.reason[:80]}", file=sys.stderr)
            records.append(replace(result, id=cell_id, seq=len(records), round=round_).to_json())
    ceilings.append(probe_ceiling(DEVICE, shapes, settings=ceiling_settings))
    load.append(os.getloadavg()[0])
    samples = results.frame(results.rows("peers-figures", "here", records))
    return {"samples": samples[samples["status"] == "ok"], "statuses": statuses, "ceilings": ceilings, "load": load}


def steps_of(samples, case: Case):
    return samples.loc[samples["cell_id"] == case.id, "step_s"].to_numpy()


def ratio_line(label: str, samples, slow: Case, fast: Case) -> str:
    """'label: r× [low, high]' where r = median step time of `slow` / median of `fast`."""
    a, b = steps_of(samples, slow), steps_of(samples, fast)
    if not len(a) or not len(b):
        return f"{label}: n/a (no ok samples for {slow.id if not len(a) else fast.id})"
    r, low, high = bootstrap_ratio_ci(a, b)
    return f"{label}: {r:.2f}× [95 % CI {low:.2f}–{high:.2f}]"


def report(data: dict, sizes: dict[str, tuple[int, ...]]) -> list[str]:
    samples, statuses = data["samples"], data["statuses"]
    summary = summarize(samples, ["cell_id", "batch_size", "flops_per_step"]).set_index("cell_id")
    lines = [f"1-minute load average before/after: {data['load'][0]:.2f} / {data['load'][1]:.2f} on {os.cpu_count()} CPUs "
             "(other processes on the machine inflate spread and hurt multi-threaded peers most)",
             "median per step (µs), IQR/median, blocks over both rounds:"]
    for cell_id, row in summary.iterrows():
        lines.append(f"  {cell_id:<32} {row['median_step_s'] * 1e6:10.1f} µs  {row['iqr_rel']:6.1%}  n={row['n_blocks']}")
    for cell_id, (status, reason) in statuses.items():
        if status != "ok":
            lines.append(f"  {cell_id:<32} {status}: {reason}")
    lines.append("")
    lines.append("1. in-graph loop vs one call per step (scratch; per-call time / in-graph time):")
    for b in sizes["modes"]:
        lines.append("   " + ratio_line(f"batch {b}", samples, Case(DEVICE, b), Case(DEVICE, b, mode="in-graph")))
    lines.append("2. keras train_on_batch vs scratch per-call (keras time / scratch time):")
    for b in sizes["keras"]:
        lines.append("   " + ratio_line(f"batch {b}", samples, Case(DEVICE, b, impl="keras"), Case(DEVICE, b)))
    for b in sizes["peers"]:
        scratch = Case(DEVICE, b, mode="in-graph")
        peers = [Case(DEVICE, b, impl=i, mode=m) for i, m in PEERS_AT_32]
        medians = {p.id: float(summary.loc[p.id, "median_step_s"]) for p in peers if p.id in summary.index}
        lines.append(f"3. scratch in-graph vs torch/jax at batch {b} (scratch time / peer time; >1: the peer is faster):")
        for p in peers:
            lines.append("   " + ratio_line(p.id, samples, scratch, p))
            if p.impl == "torch":
                one = p.id + "-1thread"
                medians[one] = float(summary.loc[one, "median_step_s"]) if one in summary.index else math.inf
                if one in summary.index:
                    r, low, high = bootstrap_ratio_ci(steps_of(samples, scratch), samples.loc[samples["cell_id"] == one, "step_s"].to_numpy())
                    lines.append(f"   {one} (torch.set_num_threads(1)): {r:.2f}× [95 % CI {low:.2f}–{high:.2f}]")
        medians = {k: v for k, v in medians.items() if math.isfinite(v)}
        if medians:
            best = min(medians, key=medians.get)
            lines.append(f"   best peer: {best}, {medians[best] * 1e6:.1f} µs/step; scratch in-graph "
                         f"{summary.loc[scratch.id, 'median_step_s'] * 1e6:.1f} µs/step" if scratch.id in summary.index
                         else f"   best peer: {best}")
        for m in ("in-graph", "per-call"):
            xla = Case(DEVICE, b, mode=m, jit=True)
            lines.append("   " + ratio_line(f"scratch in-graph / scratch {m} with XLA (jit_compile=True)", samples, scratch, xla))
    gflops = [c.gflops for c in data["ceilings"]]
    ceiling = max(gflops)
    lines.append(f"4. fraction of the matmul ceiling (ceiling {ceiling:.1f} GFLOP/s = best of before/after: "
                 f"{', '.join(f'{g:.1f}' for g in gflops)}; {FLOPS_FORMULA}):")
    for b in sizes["ceiling"]:
        cid = Case(DEVICE, b).id
        if cid in summary.index:
            achieved = summary.loc[cid, "flops_per_step"] / summary.loc[cid, "median_step_s"] / 1e9
            lines.append(f"   scratch per-call batch {b}: {achieved:.1f} GFLOP/s = {achieved / ceiling:.0%} of the ceiling")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings and sizes: checks the script runs")
    args = parser.parse_args(argv)
    if args.quick:
        sizes = {"modes": (8,), "keras": (8,), "peers": (8,), "ceiling": (16,)}
        settings = Settings(min_block_s=0.002, min_blocks=2, min_time_s=0.004, max_blocks=3, max_time_s=0.01)
        data = run(settings, sizes, ceiling_n=64, ceiling_settings=settings, rounds=1)
    else:
        sizes = {"modes": (32, 512), "keras": (32, 512, 2048), "peers": (32,), "ceiling": (8192,)}
        data = run(Settings(), sizes, ceiling_n=2048, ceiling_settings=Settings(min_time_s=0.3, max_time_s=1.0))
    print("\n".join(report(data, sizes)))
    return 0 if math.isfinite(max(c.gflops for c in data["ceilings"])) else 1


if __name__ == "__main__":
    sys.exit(main())
