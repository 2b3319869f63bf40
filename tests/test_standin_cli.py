"""The stand-in GPU through fresh processes: SIMPLENN_PLUGIN, a two-device sweep with a memory limit, its report and
compare, and an op left out of the plugin. Each process inherits the session's SIMPLENN_PLUGIN (root conftest.py);
the stand-in's settings (SIMPLENN_STANDIN_*) are read when a process loads it, so they are set per process here.
`pytest bench` on the stand-in is in tests/test_pytest_bench.py (it times `cpu,gpu`).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from simplenn.store import results
from simplenn.sweep import SweepConfig
from simplenn.sweep.plan import expand, order
from simplenn.system import plugins, standin

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
FAST_FLAGS = ["--min-time", "0.02", "--min-block-time", "0.005", "--max-time", "0.1", "--sentinel-every", "100"]
# x alone is batch × 784 × 4 bytes: 25 KB at batch 8 fits in 8 MiB, 12.8 MB at batch 4096 does not.
MEMORY_BYTES = 8 << 20
STANDIN_BATCHES = (8, 4096, 8192)


def cli(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simplenn.cli", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def test_a_bad_plugin_path_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    from simplenn.cli import main
    from simplenn.core.errors import UsageError

    monkeypatch.setenv(plugins.ENV, str(tmp_path / "absent.so"))
    assert main(["info", "--no-ceiling"]) == 2  # refused before the command runs (no TensorFlow import)
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"simplenn-bench info: error: {plugins.ENV}: {tmp_path / 'absent.so'} is not a file")
    not_a_library = tmp_path / "not_a_plugin.so"
    not_a_library.write_text("not a library")
    with pytest.raises(UsageError, match=f"^{plugins.ENV}: cannot load .*not_a_plugin.so as a TensorFlow Pluggable"):
        plugins.load((not_a_library,))  # what tfimport does right after importing TensorFlow


def test_without_a_compiler_the_build_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    with pytest.raises(standin.CannotBuild, match="no C\\+\\+ compiler .*no-such-compiler is not an executable"):
        standin.build(tmp_path / "build")


def _seed_running_smaller_batches_first(devices: list[str]) -> int:
    """A shuffle seed whose plan measures the stand-in's float32 cells in increasing batch size, so an out-of-memory
    batch precedes the larger ones (which must then be skipped, not attempted)."""
    config = SweepConfig.from_dict({"batch_sizes": STANDIN_BATCHES, "hidden": ((8,),), "wide_hidden": ()})
    cases = expand(config, devices)
    for seed in range(100):
        batches = [p.case.batch_size for p in order(cases, 1, seed, 0)
                   if p.case.device == devices[1] and p.case.dtype == "float32"]
        if batches == sorted(batches):
            return seed
    raise AssertionError("no seed orders the batches")


@pytest.fixture(scope="module")
def sweep_run(standin_device, tmp_path_factory):
    """`run --devices CPU:0,<stand-in> --dtypes float32,float64` with an 8 MiB stand-in, then its report."""
    out = tmp_path_factory.mktemp("standin") / "run"
    devices = ["CPU:0", standin_device]
    seed = _seed_running_smaller_batches_first(devices)
    done = cli("run", "--devices", ",".join(devices), "--dtypes", "float32,float64", "--widths", "8",
               "--batch-sizes", ",".join(map(str, STANDIN_BATCHES)), "--seed", str(seed), *FAST_FLAGS, "--out", str(out),
               env={standin.MEMORY_ENV: str(MEMORY_BYTES)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = cli("report", str(out), "--out", str(out / "report"))
    assert report.returncode == 0, report.stderr
    cells = {(r["case"]["device"], r["case"]["batch_size"], r["case"]["dtype"]): r
             for r in results.read_records(out)[0] if r.get("kind") == "cell" and not r.get("sentinel")}
    return out, cells, standin_device


def test_float32_runs_on_it_and_float64_is_unsupported(sweep_run):
    out, cells, gpu = sweep_run
    # The worker process loaded the plugin too (SIMPLENN_PLUGIN): it reported the stand-in among its devices.
    devices = json.loads((out / "run.json").read_text())["devices"]
    assert {"name": gpu, "kind": "gpu", "backend": "standin", "description": standin.PLATFORM} in devices
    assert cells[(gpu, 8, "float32")]["status"] == "ok" and cells[(gpu, 8, "float32")]["backend"] == "standin"
    f64 = cells[(gpu, 8, "float64")]
    assert f64["status"] == "unsupported" and "float64" in f64["reason"] and "`MatMul`" in f64["reason"]
    assert all(c["status"] == "ok" for (device, _, _), c in cells.items() if device == "CPU:0")


def test_out_of_memory_then_larger_batches_skipped_and_the_run_goes_on(sweep_run):
    _, cells, gpu = sweep_run
    assert cells[(gpu, 4096, "float32")]["status"] == "oom"
    skipped = cells[(gpu, 8192, "float32")]
    assert skipped["status"] == "skipped" and "batch 4096 already ran out of memory" in skipped["reason"]
    assert cells[("CPU:0", 8192, "float32")]["status"] == "ok"  # the CPU's cells are unaffected
    assert cells[(gpu, 8, "float32")]["peak_bytes"] <= MEMORY_BYTES


def test_device_parity_and_the_report_pair_it_with_the_cpu(sweep_run):
    out, _, gpu = sweep_run
    parity = json.loads((out / "run.json").read_text())["device_parity"]
    assert parity["ok"] and parity["devices"] == ["CPU:0", gpu]
    text = (out / "report" / "report.md").read_text()
    assert f"## When does {gpu} beat CPU:0?" in text and "### Speedup per batch size" in text
    assert (out / "report" / "speedup.png").exists()


def test_compare_reads_the_two_device_run(sweep_run, tmp_path):
    out, _, gpu = sweep_run
    # The same samples as a second run (its own run_id): compare matches every stand-in cell and sees no change.
    again = tmp_path / "again"
    shutil.copytree(out, again, ignore=shutil.ignore_patterns("report"))
    meta = json.loads((again / "run.json").read_text())
    (again / "run.json").write_text(json.dumps({**meta, "run_id": uuid.uuid4().hex}))
    done = cli("compare", str(out), str(again))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"| {gpu} | float32 | 8 |" in done.stdout and "No regression" in done.stdout


def test_an_op_left_out_of_the_plugin_makes_its_cells_unsupported(standin_device):
    # SIMPLENN_STANDIN_EXCLUDE leaves Relu unregistered: inside the step's tf.function TensorFlow runs it on the CPU,
    # silently; the first call's placement record names it, in both modes.
    code = ("import json, sys; from simplenn.core.cases import Case; from simplenn.measure.cell import Settings, measure; "
            "from simplenn.system.devices import list_devices; d = next(d for d in list_devices() if d.name == sys.argv[1]); "
            "s = Settings(min_block_s=0.005, min_blocks=3, min_time_s=0.02, max_time_s=0.1); "
            "print(json.dumps([measure(Case(d.name, 8, (16, 8, 4), mode=m), s, d).to_json() for m in ('per-call', 'in-graph')]))")
    done = subprocess.run([sys.executable, "-c", code, standin_device], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, standin.EXCLUDE_ENV: "Relu"}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for record in json.loads(done.stdout.strip().splitlines()[-1]):
        assert record["status"] == "unsupported", record["reason"]
        assert "`Relu`" in record["reason"] and "both modes need" in record["reason"]
