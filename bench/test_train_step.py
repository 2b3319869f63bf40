"""The compiled training step of the from-scratch network, per device × batch size × widths (ids like cpu-b32-w100x30).

Same Case, runner, set-up and checks as `simplenn-bench run` (simplenn.measure.cell's building blocks). One pytest-benchmark round = one call of
`run(steps_per_round); sync()` — the synchronisation reads back a value that depends on every parameter's last
update, so a round on an asynchronous GPU ends when its work does. Hence:

    per-step time = round time / extra_info["steps_per_round"]

steps_per_round is calibrated (simplenn.measure.cell.time_blocks) so a round lasts ≥ the grid's min_round_s
(20–50 ms) on every device of the group, and is the same for all of them, so the side-by-side ratios in
pytest-benchmark's tables are per-step ratios; under --benchmark-compare it is taken from the compared run instead, so round times compare. The first call (tracing) is timed apart into extra_info["trace_s"] and never among the rounds.
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from bench.grids import group_name
from bench.rounds import SMOKE_PLAN
from simplenn.core.cases import FLOPS_FORMULA
from simplenn.measure.runners import unsupported_reason
from simplenn.measure.cell import first_call, peak_bytes, retrace_check, strict_device, validate
from simplenn.store.pytest_json import EXTRA_INFO_FORMAT
from simplenn.measure.runners import Unsupported, runner as make_runner
from simplenn.system.tfimport import tensorflow
from simplenn.core.timing import per_step_s


def test_train_step(benchmark, case, device, grid, per_step_rows, compared_steps, request):
    reason = unsupported_reason(case, device.backend)
    if reason:
        pytest.skip(reason)
    tf = tensorflow()
    # As in the CLI: strict placement, and every call made inside the device scope (a tf.function called
    # outside it runs its call op on CPU:0).
    strict_device(tf, case.device)
    with tf.device(case.device):
        runner = make_runner(case, seed=grid.settings.seed)
        try:
            trace_s, traces = first_call(runner, case)  # also: did the step's ops stay on the device?
        except Unsupported as e:
            pytest.skip(str(e))

        # Timed: the group's shared plan (same steps per round on every device, so the tables' ratios are
        # per-step ratios), calibrated on fresh runners; this runner is warmed up by the warm-up rounds.
        plan = SMOKE_PLAN if benchmark.disabled else request.getfixturevalue("group_plans")[case.device]
        if compared_steps and not benchmark.disabled:
            # --benchmark-compare compares round times: same steps per round as the compared run.
            plan = replace(plan, steps_per_round=compared_steps[0])
            benchmark.extra_info["steps_per_round_from"] = compared_steps[1]
        steps = plan.steps_per_round
        benchmark.group = group_name(case)
        benchmark.extra_info.update({
            "simplenn_format": EXTRA_INFO_FORMAT, "case": case.to_dict(), "cell_id": case.id, "grid": grid.name,
            "device": case.device, "device_kind": device.kind, "backend": device.backend,
            "batch_size": case.batch_size, "widths": case.widths_label, "hidden": case.hidden,
            **plan.to_dict(), "flops_per_step": case.flops_per_step, "flops_formula": FLOPS_FORMULA,
            "trace_s": trace_s, "per_step": "round time / steps_per_round",
        })

        benchmark.pedantic(lambda: (runner.run(steps), runner.sync()),
                           rounds=plan.rounds, warmup_rounds=plan.warmup_rounds, iterations=1)

        # Quality, not just speed: measure()'s own checks (no retracing; finite loss and parameters; the device
        # asked for). They raise simplenn.measure.cell.Invalid, which fails the test with the reason.
        retrace_check(runner, traces)()
        loss, placement = validate(runner, case, "the rounds")
    benchmark.extra_info.update({"final_loss": loss, "n_traces": runner.n_traces(), "placement": placement,
                                 "peak_bytes": peak_bytes(tf, case.device)})

    if not benchmark.disabled:
        median_step_s = per_step_s(benchmark.stats.stats.median, steps)
        per_step_rows.append({
            "group": benchmark.group, "cell_id": case.id, "steps_per_round": steps, "rounds": plan.rounds,
            "median_step_s": median_step_s, "trace_s": trace_s,
            "gflops": case.flops_per_step / median_step_s / 1e9,
        })
