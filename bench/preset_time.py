"""How long a preset takes on a fanless M1 MacBook Air, by estimate: the model of results/README.md, in code.

Run:  .venv/bin/python bench/preset_time.py [standard]

Nobody has run the preset on an M1 Air yet; this is arithmetic, not a measurement. Per measured cell:
fixed cost + trace (first call) + calibration + timed blocks, where a cell whose step outlasts a block costs
2 calibration steps + 5 timed steps, × THROTTLE. Step time = 6 × batch × weights / GFLOPS + DISPATCH_S on
both devices (the CPU's figure for the GPU too: pessimistic). Sentinel re-measurements come from the real plan
(simplenn.sweep.order); START_S covers start-up and ceiling probes; the sum is multiplied by CALIBRATION, the
factor by which the model fell short of a real run of a draft of the preset on the development machine.
The step's cost here is 6 × batch × weights, the operation count CALIBRATION was fitted with; it is a time
model's input, not the step's FLOP count (simplenn.core.cases.flops_per_step, 0.68–0.86× of it here), and changing
it would need the fit redone.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without installing

from simplenn.core.cases import Case, n_weights  # noqa: E402
from simplenn.measure.runners import IMPLS, unsupported_reason  # noqa: E402

FIXED_S = 0.2  # per cell: worker hand-off, building the network and the step
CALIBRATE_S = 0.15
GFLOPS = 200.0  # TensorFlow's CPU matmul on the development machine; the M1 GPU peaks at 2600 (MEASUREMENT.md)
DISPATCH_S = 0.6e-3
THROTTLE = 1.3  # on the long-step cells: the fanless Air slows under sustained load
START_S = 16.0
CALIBRATION = 1.2
# The Mac's two devices; what each install measures there (jax has no Metal backend in plain `pip install jax`).
DEVICES = {"CPU:0": "none", "GPU:0": "metal"}
INSTALLS = {"default": {"scratch", "keras"}, "peers": set(IMPLS)}
NO_GPU = {"jax"}


def trace_s(case: Case) -> float:
    """First-call time assumed per implementation and device (only TF on the CPU was measured: 0.15 s)."""
    if case.impl == "torch":
        return 0.2  # eager: 0.1–0.3 s
    if case.device.startswith("GPU") or case.impl in ("jax", "mlx"):
        return 0.5  # assumed, not measured on a Mac
    return 0.15


def cell_s(case: Case, min_time_s: float, min_block_s: float) -> float:
    """Estimated seconds of one measured cell."""
    step_s = 6 * case.batch_size * n_weights(case.layer_sizes) / (GFLOPS * 1e9) + DISPATCH_S  # see the docstring
    if step_s > min_block_s:
        return (FIXED_S + trace_s(case) + 7 * step_s) * THROTTLE
    return FIXED_S + trace_s(case) + CALIBRATE_S + max(min_time_s, 5 * min_block_s)


def measured(case: Case, impls: set[str]) -> bool:
    """Whether a Mac with these implementations installed measures the cell (else it is recorded unsupported)."""
    if case.impl not in impls or unsupported_reason(case, DEVICES[case.device]):
        return False
    return not (case.impl in NO_GPU and case.device.startswith("GPU"))


def estimate(preset: str = "standard") -> dict[str, tuple[float, int]]:
    """Per install: (estimated minutes, measured cells) of the preset on an M1 Air."""
    from simplenn.sweep import expand, load_config, order

    config = load_config(preset)
    plan = order(expand(config, list(DEVICES)), config.rounds, config.seed, config.sentinel_every)
    out = {}
    for install, impls in INSTALLS.items():
        items = [p for p in plan if measured(p.case, impls)]
        cells = len([p for p in items if not p.sentinel])
        total = sum(cell_s(p.case, config.settings.min_time_s, config.settings.min_block_s) for p in items)
        out[install] = ((total + START_S) * CALIBRATION / 60.0, cells)
    return out


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else "standard"
    for install, (minutes, cells) in estimate(name).items():
        print(f"{name}, {install} install: {cells} measured cells, ≈ {minutes:.1f} min on an M1 Air (estimate)")
