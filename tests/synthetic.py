"""Synthetic run folders whose true step times are known: two devices whose lines cross near batch 256.

The one cheap run writer of the test suite (`write_run`), the truth it draws from (`true_step_s`) and the record
and machine fingerprint it writes. Not a test module: tests import it, tests/conftest.py wraps it in fixtures.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from simplenn.core.cases import Case, n_weights
from simplenn.store.runfolder import RunWriter

SMALL = (784, 100, 30, 10)
BIG = (784, 256, 256, 10)
BATCHES = (16, 32, 64, 128, 256, 512, 1024, 2048)
N_BLOCKS = 12
N_STEPS = 50

# True per-step time = overhead + cost × batch (seconds). The lines meet at batch 240: CPU wins below, GPU above.
CPU_LINE = (10e-6, 1.0e-6)
GPU_LINE = (130e-6, 0.5e-6)
HOST_S = {"CPU:0": 8e-6, "GPU:0": 90e-6}  # per-call dispatch on top of the in-graph step


CPU_CEILING, GPU_CEILING = 2000.0, 30000.0  # GFLOP/s: above every synthetic cell


def true_step_s(device: str, batch: int, widths=SMALL, mode: str = "per-call", scale: float = 1.0) -> float:
    overhead, cost = CPU_LINE if device.startswith("CPU") else GPU_LINE
    size = n_weights(widths) / n_weights(SMALL)
    per_call = overhead + cost * batch * size
    return (per_call if mode == "per-call" else per_call - HOST_S[device]) * scale


def machine_meta(label: str = "Apple M2 Pro", chip: str | None = "Apple M2 Pro", cpu: str = "Apple M2 Pro",
                 gpu_cores: int | None = 19) -> dict:
    return {
        "label": label, "chip": chip, "cpu_model": cpu, "gpu_cores": gpu_cores, "os": "macOS", "os_version": "14.5",
        "python": "3.11.9", "versions": {"tensorflow": "2.18.0", "keras": "3.6.0", "tensorflow-metal": "1.2.0"},
        "thermal": "nominal",
    }


def write_run(
    path: Path,
    *,
    machine: dict | None = None,
    devices: tuple[str, ...] = ("CPU:0", "GPU:0"),
    widths_list=(SMALL, BIG),
    modes=("per-call", "in-graph"),
    batches=BATCHES,
    scale: dict | None = None,
    seed: int = 0,
    noise: float = 0.002,
    extras: bool = True,
    ceilings: dict | None = None,
    rounds: tuple[float, ...] = (1.0,),
) -> Path:
    """A run folder written with RunWriter: every (device, widths, mode, batch) cell with N_BLOCKS noisy blocks.

    `scale` maps a cell id to a factor on its true time (a planted regression). `extras` adds a sentinel
    re-measurement, an oom cell and an unstable cell. `rounds` measures every cell once per round, round r's
    times scaled by rounds[r] (the machine's state shifting between rounds); `ceilings` overrides a device's.
    """
    rng = np.random.default_rng(seed)
    writer = RunWriter(path)
    meta = {"machine": machine or machine_meta(), "grid": {"devices": list(devices), "batch_sizes": list(batches)},
            "warnings": ["a run-level warning"], "tool": "simplenn-bench"}
    writer.create(meta)
    for dev in devices:
        gflops = (ceilings or {}).get(dev, CPU_CEILING if dev.startswith("CPU") else GPU_CEILING)
        writer.append({"kind": "ceiling", "device": dev, "gflops": gflops})
    seq = 0
    for widths in widths_list:
        for mode in modes:
            for batch in batches:
                for dev in devices:
                    case = Case(dev, batch, widths, mode=mode)
                    factor = (scale or {}).get(case.id, 1.0)
                    t = true_step_s(dev, batch, widths, mode, factor)
                    for rnd, shift in enumerate(rounds):
                        blocks = (t * shift * N_STEPS * rng.lognormal(0, noise, N_BLOCKS)).tolist()
                        writer.append({**cell_record(case, seq, blocks), "round": rnd})
                        seq += 1
    if extras and "GPU:0" in devices:
        sentinel = Case("CPU:0", 16, SMALL)
        slow = (true_step_s("CPU:0", 16) * 3 * N_STEPS * np.ones(N_BLOCKS)).tolist()
        writer.append({**cell_record(sentinel, seq, slow), "sentinel": True})
        writer.append({**cell_record(Case("GPU:0", 4096, SMALL), seq + 1, []), "status": "oom",
                       "reason": "ResourceExhaustedError: OOM when allocating tensor"})
        wobbly = (true_step_s("CPU:0", 4096) * N_STEPS * np.linspace(0.7, 1.3, N_BLOCKS)).tolist()
        writer.append(cell_record(Case("CPU:0", 4096, SMALL), seq + 2, wobbly))
        writer.update_meta(drift={"cell": sentinel.id, "first_median_s": 2.6e-5, "last_median_s": 7.8e-5,
                                  "ratio": 3.0, "n": 2, "warning": True})
    return path


def cell_record(case: Case, seq: int, blocks: list[float]) -> dict:
    gpu = case.device.startswith("GPU")
    return {"kind": "cell", "seq": seq, "id": case.id, "round": 0, "sentinel": False, "case": case.to_dict(),
            "status": "ok", "reason": "", "block_s": blocks, "n_steps": N_STEPS, "trace_s": 0.05,
            "peak_bytes": 2**20 * case.batch_size / 16, "final_loss": 0.5,
            "backend": "metal" if gpu else "none", "device_kind": "gpu" if gpu else "cpu",
            "thermal_before": "nominal", "thermal_after": "nominal"}


# One curve: the small network, per-call, no extra cells (sentinel, oom, unstable); give `batches` beside it.
ONE_CURVE = dict(widths_list=(SMALL,), modes=("per-call",), extras=False)
