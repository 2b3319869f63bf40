"""Parametrisation of the benchmark suite (device × batch size × widths) and what it adds to pytest-benchmark's output.

Options (declared by the root conftest.py, see bench/options.py): --simplenn-grid, --simplenn-devices, --logical-cpus.
Plain `pytest` runs every body once, untimed (benchmarks disabled by the root conftest); `pytest --benchmark-only`
times them. Group names (`w100x30-b32`) put the devices of one cell side by side in the tables.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

import pytest

from bench.grids import GRIDS, SMOKE_GRID, TIMED_GRID, Grid, group_name
from bench.options import timing_requested
from simplenn.core.cases import FLOPS_FORMULA
from simplenn.measure.runners import PACKAGES
from simplenn.system.devices import Device

_STATE = pytest.StashKey["SuiteState"]()


@dataclass
class SuiteState:
    """The session's grid, devices (present or skipped with a reason), and the per-step table to print."""

    grid: Grid
    timed: bool
    requested: list[str]
    devices: list[Device] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # device name -> why it is skipped
    per_step: list[dict] = field(default_factory=list)
    group_plans: dict[str, dict[str, "RoundPlan"]] = field(default_factory=dict)  # group -> device -> plan


def _state(config: pytest.Config) -> SuiteState:
    if _STATE not in config.stash:
        timed = timing_requested(config) and not config.getoption("benchmark_skip", default=False)
        name = config.getoption("simplenn_grid") or (TIMED_GRID if timed else SMOKE_GRID)
        requested = [p.strip() for p in config.getoption("simplenn_devices").split(",") if p.strip()]
        state = SuiteState(GRIDS[name], timed, requested)
        state.devices, state.missing = _resolve_devices(requested)
        config.stash[_STATE] = state
    return config.stash[_STATE]


def _resolve_devices(requested: list[str]) -> tuple[list[Device], dict[str, str]]:
    """Present devices for the request; GPU requests without a GPU become skipped entries with the reason."""
    from simplenn.system.devices import gpu_missing_reason, list_devices, select, short_name
    from simplenn.core.errors import UsageError

    present = list_devices()
    has_gpu = any(d.kind == "gpu" for d in present)
    chosen: list[Device] = []
    missing: dict[str, str] = {}
    for req in requested or ["cpu"]:
        if "gpu" in req.lower() and not has_gpu:
            name = "GPU:0" if req.lower() == "gpu" else short_name(req).upper()
            missing[name] = f"{name}: {gpu_missing_reason()}"
            continue
        try:
            chosen.extend(d for d in select([req], present) if d not in chosen)
        except UsageError as e:
            raise pytest.UsageError(f"--simplenn-devices: {e}".replace("--devices: ", "")) from None
    return chosen, missing


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = _state(config)
    mode = "timed" if state.timed else "smoke run, untimed (add --benchmark-only to time)"
    devices = ", ".join([d.name for d in state.devices] + [f"{n} (skipped)" for n in state.missing])
    return [f"simplenn bench: grid {state.grid.name} ({mode}); devices {devices}; "
            f"logical CPUs {config.getoption('logical_cpus')}"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    state = _state(metafunc.config)
    names = [d.name for d in state.devices] + list(state.missing)
    params = []
    for case in state.grid.cases(names):
        marks = [pytest.mark.skip(reason=state.missing[case.device])] if case.device in state.missing else []
        params.append(pytest.param(case, id=case.id, marks=marks))
    metafunc.parametrize("case", params)


@pytest.fixture
def device(case, request) -> Device:
    """The Device (kind, backend) the case runs on."""
    return next(d for d in _state(request.config).devices if d.name == case.device)


@pytest.fixture
def grid(request) -> Grid:
    return _state(request.config).grid


@pytest.fixture
def per_step_rows(request) -> list[dict]:
    """Where each timed benchmark leaves its per-step summary for the terminal table."""
    return _state(request.config).per_step


@pytest.fixture
def group_plans(case, grid, request) -> dict:
    """Round plans of every present device of this case's group, with one shared steps_per_round.

    pytest-benchmark's tables put the devices of a group side by side and print ratios of round times. With the
    same steps per round on every device (the largest any device needs to reach the minimum round time), those
    ratios are per-step ratios. Calibrated once per group, on fresh runners, when the group's first case runs.
    """
    from simplenn.measure.cell import first_call
    from simplenn.measure.runners import runner as make_runner
    from simplenn.system.tfimport import tensorflow

    from bench.rounds import plan_rounds

    state = _state(request.config)
    name = group_name(case)
    if name not in state.group_plans:
        tf = tensorflow()
        plans = {}
        for d in state.devices:
            other = replace(case, device=d.name)
            with tf.device(d.name):
                runner = make_runner(other, seed=grid.settings.seed)
                first_call(runner)
                plans[d.name] = plan_rounds(runner.run, runner.sync, grid.settings)
        steps = max(p.steps_per_round for p in plans.values())
        state.group_plans[name] = {
            dev: replace(p, steps_per_round=steps,
                         rounds=max(grid.settings.min_blocks, math.ceil(p.rounds * p.steps_per_round / steps)))
            for dev, p in plans.items()}
    return state.group_plans[name]


@pytest.fixture
def compared_steps(request) -> tuple[int, str] | None:
    """(steps per round, file) of this benchmark in the run given to --benchmark-compare, if it is there.

    pytest-benchmark compares round times, and steps per round are calibrated afresh each run; pinning them to
    the compared run's keeps its tables and --benchmark-compare-fail meaningful. pytest-benchmark exposes the
    loaded runs only on its session object (compared_mapping: {path: {fullname: benchmark}}).
    """
    session = getattr(request.config, "_benchmarksession", None)
    for path, benchmarks in (getattr(session, "compared_mapping", None) or {}).items():
        steps = ((benchmarks.get(request.node.nodeid) or {}).get("extra_info") or {}).get("steps_per_round")
        if isinstance(steps, int) and steps > 0:
            return steps, str(path)
    return None


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """Per-step times below pytest-benchmark's per-round tables: median round / steps per round."""
    rows = _state(config).per_step
    if not rows:
        return
    tr = terminalreporter
    tr.write_sep("-", "per training step (median round time / steps per round)")
    tr.write_line("The tables above time rounds of steps_per_round steps, the same for every device of a group, so "
                  "their ratios compare devices; across groups compare here.")
    tr.write_line(f"{'group':<18} {'benchmark':<22} {'steps/round':>11} {'rounds':>6} {'median step':>12} "
                  f"{'GFLOP/s':>8} {'trace':>9}")
    for r in sorted(rows, key=lambda r: (_natural(r["group"]), r["median_step_s"])):
        tr.write_line(f"{r['group']:<18} {r['cell_id']:<22} {r['steps_per_round']:>11} {r['rounds']:>6} "
                      f"{_time(r['median_step_s']):>12} {r['gflops']:>8.2f} {_time(r['trace_s']):>9}")
    tr.write_line(f"GFLOP/s = FLOPs per step / median step time; {FLOPS_FORMULA}")


def _time(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "–"
    for unit, scale in (("s", 1), ("ms", 1e3), ("µs", 1e6)):
        if seconds * scale >= 1:
            return f"{seconds * scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


@pytest.hookimpl(wrapper=True)
def pytest_benchmark_group_stats(config, benchmarks, group_by):
    """pytest-benchmark's groups in natural order: w100x30-b32 before w100x30-b1024."""
    groups = yield
    return sorted(groups, key=lambda pair: _natural(pair[0] or ""))


def _natural(text: str) -> list:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)]


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Add the stable part of simplenn's machine fingerprint (chip, OS, library versions, thread settings)."""
    from simplenn.system.machine import fingerprint
    from simplenn.store.pytest_json import VOLATILE_MACHINE_KEYS

    fp = fingerprint(packages=PACKAGES)
    machine_info["simplenn"] = {k: v for k, v in fp.items() if k not in VOLATILE_MACHINE_KEYS}


def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    """Record which grid and devices were asked for, and the machine's power and thermal state at the end."""
    from simplenn.system.machine import power_source, thermal_state
    from simplenn.store.pytest_json import EXTRA_INFO_FORMAT

    state = _state(config)
    output_json["simplenn"] = {
        "format": EXTRA_INFO_FORMAT, "grid": state.grid.to_dict(), "devices": state.requested,
        "logical_cpus": config.getoption("logical_cpus"), "power_source": power_source(), "thermal": thermal_state(),
    }
