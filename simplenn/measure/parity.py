"""Do the timed things compute the same thing? Implementation parity (scratch vs keras/torch/jax) and device parity.

Both checks run the same seeded steps from the same initial weights (`Network(layer_sizes, seed)`) on the same
`synthetic_batch`, then compare the last step's loss and every parameter with an explicit tolerance:

    |a − b| ≤ atol + rtol × |b|     (b: the reference — scratch for implementations, the first device for devices)

Tolerances are per dtype and generous enough for a different summation order (another matmul kernel, a fused
loss, TF32 matmuls on an Ampere CUDA GPU, Metal's kernels) but far below the size of one SGD update's effect,
so a wrong loss, a missing bias update or a different learning rate fails.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from simplenn.core.cases import DEFAULT_WIDTHS, Case

# (rtol, atol) per dtype. Same device, different implementation: only the summation order differs. An
# implementation that needs another declares it in its runner module (`IMPL.tolerance`).
IMPL_TOLERANCE = {"float32": (1e-4, 1e-6), "float64": (1e-9, 1e-12), "float16": (2e-2, 2e-3)}
# Different devices: a GPU may also use TF32 matmuls (10-bit mantissa; CUDA Ampere+ by default in TF) or
# reassociate reductions differently.
DEVICE_TOLERANCE = {"float32": (2e-3, 1e-5), "float64": (1e-9, 1e-12), "float16": (2e-2, 2e-3)}


@dataclass(frozen=True)
class Steps:
    """What n seeded steps left behind: the last step's loss, every parameter, and where it ran."""

    loss: float
    params: list[np.ndarray]
    placement: dict = field(default_factory=dict)


def run_steps(case: Case, n_steps: int, seed: int = 0) -> Steps:
    """Build the runner for `case` (any impl), run n_steps seeded steps, return loss and parameters.

    Raises simplenn.measure.runners.Unsupported when the implementation cannot run the case.
    """
    from simplenn.measure.runners import runner as make_runner  # noqa: PLC0415
    from simplenn.system.tfimport import tensorflow  # noqa: PLC0415

    tf = tensorflow()
    # Called inside the device scope, as measure() does: TF ops would otherwise land on the default device.
    with tf.device(case.device):
        runner = make_runner(case, seed)
        runner.run(n_steps)
        runner.sync()
        loss = runner.last_loss()
        placement = runner.placement()
    return Steps(loss, runner.params(), placement)


def _diffs(a: Sequence[np.ndarray], b: Sequence[np.ndarray], rtol: float, atol: float) -> tuple[float, float, bool]:
    """(max |a−b|, max |a−b| / |b| over entries with b ≠ 0, every entry within atol + rtol·|b|) over all arrays."""
    max_abs, max_rel, ok = 0.0, 0.0, True
    for x, ref in zip(a, b, strict=True):
        x = np.asarray(x, dtype=np.float64)
        ref = np.asarray(ref, dtype=np.float64)
        if x.shape != ref.shape:
            return math.inf, math.inf, False
        diff = np.abs(x - ref)
        if diff.size:
            max_abs = max(max_abs, float(diff.max()))
            nonzero = ref != 0
            if nonzero.any():
                max_rel = max(max_rel, float((diff[nonzero] / np.abs(ref[nonzero])).max()))
        ok = ok and bool(np.all(diff <= atol + rtol * np.abs(ref)))
    return max_abs, max_rel, ok


def impl_parity(
    layer_sizes: Sequence[int] = DEFAULT_WIDTHS,
    batch_size: int = 32,
    loss: str = "sigmoid",
    n_steps: int = 5,
    seed: int = 0,
    impls: Sequence[str] | None = None,
    device: str = "CPU:0",
    dtype: str = "float32",
    modes: Sequence[str] = ("per-call",),
    tolerance: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """One row per (impl, mode): its loss and parameters after n_steps compared with scratch per-call.

    Columns: impl, mode, status ('ok' | 'mismatch' | 'unsupported'), reason, loss, ref_loss, loss_abs_diff,
    loss_rel_diff, weights_max_abs_diff, weights_max_rel_diff, rtol, atol, ok. The reference row (scratch
    per-call) is included; an implementation that cannot run is 'unsupported' with the reason, never an error.
    `impls` defaults to every declared implementation.
    """
    from simplenn.measure.runners import DECLARED, Unsupported  # noqa: PLC0415

    base = dict(device=device, batch_size=batch_size, layer_sizes=tuple(layer_sizes), loss=loss, dtype=dtype)
    ref = run_steps(Case(**base), n_steps, seed)
    rows = []
    for impl in ("scratch", *[i for i in (DECLARED if impls is None else impls) if i != "scratch"]):
        declared = DECLARED[impl].tolerance if impl in DECLARED else {}
        rtol, atol = tolerance or declared.get(dtype, IMPL_TOLERANCE[dtype])
        for mode in modes:
            row = {"impl": impl, "mode": mode, "n_steps": n_steps, "rtol": rtol, "atol": atol, "ref_loss": ref.loss}
            try:
                got = ref if (impl, mode) == ("scratch", "per-call") else run_steps(Case(**base, impl=impl, mode=mode), n_steps, seed)
            except Unsupported as e:
                rows.append({**row, "status": "unsupported", "reason": str(e), "ok": None})
                continue
            loss_abs, loss_rel, loss_ok = _diffs([got.loss], [ref.loss], rtol, atol)
            w_abs, w_rel, w_ok = _diffs(got.params, ref.params, rtol, atol)
            ok = loss_ok and w_ok and math.isfinite(got.loss)
            rows.append({
                **row, "status": "ok" if ok else "mismatch", "loss": got.loss, "loss_abs_diff": loss_abs,
                "loss_rel_diff": loss_rel, "weights_max_abs_diff": w_abs, "weights_max_rel_diff": w_rel,
                "ok": ok, "reason": "" if ok else f"differs from scratch beyond atol {atol:g} + rtol {rtol:g}·|ref|",
            })
    columns = ["impl", "mode", "status", "reason", "n_steps", "loss", "ref_loss", "loss_abs_diff", "loss_rel_diff",
               "weights_max_abs_diff", "weights_max_rel_diff", "rtol", "atol", "ok"]
    return pd.DataFrame(rows, columns=columns)


@dataclass(frozen=True)
class DeviceParity:
    """Same seeded steps on several devices, compared with the first one. A mismatch is reported, not raised."""

    devices: tuple[str, ...]
    losses: tuple[float, ...]
    loss_max_abs_diff: float
    loss_max_rel_diff: float
    weights_max_abs_diff: float
    weights_max_rel_diff: float
    rtol: float
    atol: float
    ok: bool
    message: str
    placements: tuple[dict, ...] = ()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["devices"], d["losses"], d["placements"] = list(self.devices), list(self.losses), list(self.placements)
        return d


def device_parity(
    devices: Sequence[str] = ("CPU:0", "GPU:0"),
    layer_sizes: Sequence[int] = DEFAULT_WIDTHS,
    batch_size: int = 32,
    n_steps: int = 5,
    seed: int = 0,
    loss: str = "sigmoid",
    dtype: str = "float32",
    impl: str = "scratch",
    mode: str = "per-call",
    tolerance: tuple[float, float] | None = None,
) -> DeviceParity:
    """Run n_steps seeded steps on each device; compare losses and weights with the first device's.

    `ok` is False (and a UserWarning is issued) when a device differs beyond the tolerance or its variables
    were not placed on it; the message says which device and by how much.
    """
    if len(devices) < 2:
        raise ValueError(f"device_parity needs at least two devices, got {list(devices)}")
    from simplenn.system.devices import short_name  # noqa: PLC0415

    rtol, atol = tolerance or DEVICE_TOLERANCE[dtype]
    results = [run_steps(Case(device=d, batch_size=batch_size, layer_sizes=tuple(layer_sizes), loss=loss, dtype=dtype,
                              impl=impl, mode=mode), n_steps, seed) for d in devices]
    ref = results[0]
    worst = [0.0, 0.0, 0.0, 0.0]
    problems = []
    for device, got in zip(devices, results):
        loss_abs, loss_rel, loss_ok = _diffs([got.loss], [ref.loss], rtol, atol)
        w_abs, w_rel, w_ok = _diffs(got.params, ref.params, rtol, atol)
        worst = [max(a, b) for a, b in zip(worst, (loss_abs, loss_rel, w_abs, w_rel))]
        if not (loss_ok and w_ok and math.isfinite(got.loss)):
            problems.append(f"{device} differs from {devices[0]}: loss {got.loss:.7g} vs {ref.loss:.7g}, "
                            f"max weight |Δ| {w_abs:.3g} (tolerance atol {atol:g} + rtol {rtol:g}·|ref|)")
        variables = got.placement.get("variables")
        if variables and short_name(variables).upper() != short_name(device).upper():
            problems.append(f"{device}: variables were placed on {short_name(variables)}")
    ok = not problems
    message = (f"{', '.join(devices)} agree after {n_steps} steps: max loss |Δ| {worst[0]:.3g}, "
               f"max weight |Δ| {worst[2]:.3g} (atol {atol:g} + rtol {rtol:g}·|ref|)") if ok else "; ".join(problems)
    if not ok:
        warnings.warn(f"device parity: {message}", stacklevel=2)
    return DeviceParity(tuple(devices), tuple(r.loss for r in results), *worst, rtol, atol, ok, message,
                        tuple(r.placement for r in results))
