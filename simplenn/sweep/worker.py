"""The measurement worker: a supervised process that measures what the sweep sends it; a crash or hang costs one cell.

Protocol (tuples over a multiprocessing Pipe): the worker sends ("ready", devices, gpu_missing_reason, tf_threads)
or ("error", text) once started; then for each request ("cell", plan item, device dict, Settings),
("ceiling", device, shapes), ("parity", devices, seed), ("impl_parity", keyword arguments of parity.impl_parity)
or ("profile", case dict, keyword arguments of measure.profile.trace_cell, root folder, ceiling GFLOP/s or None:
trace the cell, answer its profile record, simplenn.store.profiles.summarise) it answers ("result", dict or list
of row dicts) or ("error", text); ("stop",) ends it. Plan items and cell records travel as their samples.jsonl
JSON (`PlanItem.to_json`, `CellRecord.to_json`): a cell's answer is the record of the plan item it was sent, with
the worker's pid (`worker_pid`: with `--rounds`, each round runs in a fresh process); the parent checks it with
`CellRecord.from_json` and adds what it saw.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import traceback
from multiprocessing.connection import wait

from simplenn.core.cases import Case
from simplenn.core.records import PlanItem
from simplenn.core.errors import UsageError


def worker_main(conn, logical_cpus: int) -> None:
    """Runs in a fresh process: set up devices, then measure cells sent by the parent until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us cleanly
    from simplenn.system import devices
    from simplenn.measure.ceiling import probe_ceiling
    from simplenn.measure.cell import measure

    try:
        devices.setup_logical_cpus(logical_cpus)
        present = devices.list_devices()
        missing = "" if any(d.kind == "gpu" for d in present) else devices.gpu_missing_reason()
        from simplenn.system.tfimport import tensorflow

        tf = tensorflow()
        threads = {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                   "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
                   "note": "0 = TensorFlow picks (one per logical core)"}
        conn.send(("ready", [d.to_dict() for d in present], missing, threads))
    except Exception as e:  # noqa: BLE001 — the parent reports it as a start-up failure
        conn.send(("error", f"{e.__class__.__name__}: {e}"))
        return
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # parent is gone
        kind = msg[0]
        try:
            if kind == "stop":
                return
            if kind == "ceiling":
                conn.send(("result", probe_ceiling(msg[1], msg[2] if len(msg) > 2 else ()).to_record().to_json()))
            elif kind == "parity":
                import warnings  # noqa: PLC0415

                from simplenn.measure.parity import device_parity  # noqa: PLC0415

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the mismatch is returned and reported by the parent
                    conn.send(("result", device_parity(msg[1], seed=msg[2]).to_dict()))
            elif kind == "impl_parity":
                from simplenn.measure.parity import impl_parity  # noqa: PLC0415

                table = impl_parity(**msg[1])
                # None, not NaN, for what was not measured: run.json is strict JSON.
                conn.send(("result", table.astype(object).where(table.notna(), None).to_dict("records")))
            elif kind == "profile":
                from simplenn.measure.profile import trace_cell  # noqa: PLC0415
                from simplenn.store.profiles import summarise  # noqa: PLC0415

                traced = trace_cell(Case.from_dict(msg[1]), **msg[2])
                conn.send(("result", {**summarise(traced.to_record(), msg[3], msg[4]), "worker_pid": os.getpid()}))
            elif kind == "cell":
                item, device, settings = PlanItem.from_json(msg[1]), devices.Device(**msg[2]), msg[3]
                record = measure(item.case, settings, device).planned(item, worker_pid=os.getpid())
                conn.send(("result", record.to_json()))
        except Exception as e:  # noqa: BLE001 — one cell's failure must not end the sweep
            conn.send(("error", f"{e.__class__.__name__}: {e}\n{traceback.format_exc(limit=3)}"))


class WorkerError(RuntimeError):
    """The worker died, hung or failed; `status` is 'crashed' or 'timeout'."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


class Worker:
    """A supervised measurement process. A crash or a hang costs the current request; `restart()` carries on."""

    def __init__(self, logical_cpus: int, start_timeout_s: float = 180.0):
        self.logical_cpus = logical_cpus
        self.start_timeout_s = start_timeout_s
        self.proc = None
        self.conn = None
        self.devices: list[dict] = []
        self.gpu_missing_reason = ""
        self.tf_threads: dict = {}

    def start(self) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=worker_main, args=(child, self.logical_cpus), daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent
        msg = self._receive(self.start_timeout_s)
        if msg[0] != "ready":
            self.stop()
            raise UsageError(f"the measurement worker could not start: {msg[1]}")
        self.devices, self.gpu_missing_reason, self.tf_threads = msg[1], msg[2], msg[3]

    def _receive(self, timeout_s: float):
        ready = wait([self.conn, self.proc.sentinel], timeout_s)
        if self.conn in ready:
            try:
                return self.conn.recv()
            except (EOFError, OSError):
                pass
        elif not ready:
            self.kill()
            raise WorkerError("timeout", f"no result within {timeout_s:g} s; the worker was killed")
        self.proc.join(5)
        code = self.proc.exitcode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            raise WorkerError("crashed", f"worker killed by {name}")
        raise WorkerError("crashed", f"worker exited with status {code}")

    def request(self, msg: tuple, timeout_s: float):
        if self.proc is None or not self.proc.is_alive():
            self.start()
        self.conn.send(msg)
        return self._receive(timeout_s)

    def kill(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            try:
                self.conn.send(("stop",))
            except (OSError, BrokenPipeError):
                pass
            self.proc.join(5)
        self.kill()
        self.proc = None
