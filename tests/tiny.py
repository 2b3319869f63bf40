"""The tiny configuration the tests measure for real, and the fake worker that stands in for the measurement process.

One meaning per name across the suite (tests/test_suite_rules.py checks that no test module redefines them):
  TINY      the tiny network's layer sizes (a real step costs microseconds)
  FAST      the timing Settings of a tiny real cell (a few 5 ms blocks, at most 0.1 s)
  CPU0/CPU1 the two logical CPUs the session splits the CPU into (root conftest.py); METAL a Metal GPU
  TINY_GRID a sweep grid (grid keys) over TINY-sized cells with FAST timing, for the fake worker or a real one
  TINY_RUN_FLAGS  `simplenn-bench run` flags of the session's one real tiny run (conftest.real_run)
Not a test module: tests import it, tests/conftest.py wraps it in fixtures.
"""
from __future__ import annotations

from pathlib import Path

from simplenn import sweep
from simplenn.core.cases import Case
from simplenn.measure.cell import Settings
from simplenn.system.devices import Device

TINY = (16, 8, 4)
FAST = Settings(min_block_s=0.005, min_blocks=3, min_time_s=0.02, max_time_s=0.1)
CPU0, CPU1 = Device("CPU:0", "cpu", "none"), Device("CPU:1", "cpu", "none")
METAL = Device("GPU:0", "gpu", "metal", "METAL")
# One round (the default is 3): tests of the sweep's machinery; each round costs a fresh worker.
TINY_GRID = dict(batch_sizes=(8, 16, 32), hidden=((8,),), wide_hidden=(), min_time_s=FAST.min_time_s,
                 min_block_s=FAST.min_block_s, max_time_s=FAST.max_time_s, sentinel_every=3, rounds=1)
TINY_RUN_FLAGS = ("--quick", "--batch-sizes", "8", "--widths", "100x30", "--min-time", "0.05", "--min-block-time", "0.01")


class FakeWorker:
    """Stands in for the measurement process: answers every cell at once, fails the cells it is told to."""

    def __init__(self, devices=(CPU0, CPU1), fail: dict | None = None, oom_from: int | None = None,
                 parity_ok: bool = True, impl_mismatch: str = ""):
        self.parity_ok, self.impl_mismatch = parity_ok, impl_mismatch
        self.devices, self.gpu_missing_reason = [d.to_dict() for d in devices], "no GPU here"
        self.fail, self.oom_from, self.requests, self.stopped = fail or {}, oom_from, [], 0

    def start(self):
        pass

    def stop(self):
        self.stopped += 1

    def request(self, msg, timeout_s):
        self.requests.append(msg)
        if msg[0] == "ceiling":  # the end-of-run probe comes out faster than the start one
            n_before = sum(1 for m in self.requests if m == msg)
            return ("result", {"kind": "ceiling", "device": msg[1], "n": 64, "gflops": 80.0 + 20 * n_before,
                               "block_s": [0.1]})
        if msg[0] == "parity":
            return ("result", {"devices": msg[1], "ok": self.parity_ok,
                               "message": "agree" if self.parity_ok else "CPU:1 differs from CPU:0: loss 0.7 vs 0.6"})
        if msg[0] == "impl_parity":
            return ("result", [{"impl": i, "mode": m, "status": "mismatch" if i == self.impl_mismatch else "ok",
                                "reason": "differs from scratch" if i == self.impl_mismatch else ""}
                               for i in msg[1]["impls"] for m in msg[1]["modes"]])
        item = msg[1]  # the plan item, as run.json holds it: the answer is the record of that item
        case = Case.from_dict(item["case"])
        if case.id in self.fail:
            raise sweep.WorkerError(*self.fail[case.id])
        if self.oom_from and case.batch_size >= self.oom_from:
            return ("result", {"kind": "cell", **item, "status": "oom", "reason": "OOM", "block_s": []})
        step_s = 1e-4 * case.batch_size
        return ("result", {"kind": "cell", **item, "status": "ok", "reason": "", "n_steps": 10,
                           "block_s": [10 * step_s] * 5, "trace_s": 0.01})


def fake_run(tmp_path: Path, worker: FakeWorker, **overrides):
    """A whole sweep of TINY_GRID (plus `overrides`, grid keys) in tmp_path/run, measured by `worker`."""
    config = sweep.SweepConfig.from_dict({**TINY_GRID, "devices": ("all",), **overrides})
    state = sweep.prepare(tmp_path / "run", config, worker, {"label": "test machine"}, [])
    return sweep.execute(state, worker)


def fake_prepared(tmp_path: Path, worker: FakeWorker):
    """A run folder of TINY_GRID prepared in tmp_path/run (plan written, nothing measured)."""
    config = sweep.SweepConfig.from_dict({**TINY_GRID, "devices": ("all",)})
    return sweep.prepare(tmp_path / "run", config, worker, {"label": "m"}, [])


def interrupted_fake_run(tmp_path: Path, after: int = 3):
    """A TINY_GRID run in tmp_path/run interrupted (Ctrl-C) after `after` cells: status `interrupted`."""
    worker = FakeWorker()
    calls = {"n": 0}

    def stop_after(progress):
        calls["n"] += 1
        if calls["n"] == after:
            raise KeyboardInterrupt

    return sweep.execute(fake_prepared(tmp_path, worker), worker, stop_after)


def folder_snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of a run folder but its lock, by name: equal snapshots mean nothing was changed."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "run.lock"}
