"""`run --impl scratch,keras,mlx,torch,jax --modes per-call,in-graph` in one run: what is missing is `unsupported`
with the install hint, the sweep goes on, implementation parity is recorded and the report shows both."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ONE_CELL_FLAGS = ["--devices", "CPU:0", "--batch-sizes", "8", "--widths", "8", "--min-time", "0.02",
                  "--min-block-time", "0.005", "--rounds", "1"]  # one round (the default is 3): each round costs a fresh worker
# Every test here starts `simplenn-bench run` in a subprocess (TensorFlow import, worker, probes).
pytestmark = pytest.mark.slow
HINT = "pip install 'simplenn-bench[peers]'"


def _run(out: Path, *args: str, pythonpath: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, (*pythonpath, ROOT)))}
    return subprocess.run([sys.executable, "-m", "simplenn.cli", "run", *ONE_CELL_FLAGS, *args, "--out", str(out), "--json"],
                          capture_output=True, text=True, env=env, timeout=600)


def _cells(run_dir: Path) -> dict[str, dict]:
    lines = (run_dir / "samples.jsonl").read_text().splitlines()
    return {r["id"]: r for r in map(json.loads, lines) if r.get("kind") == "cell"}


def test_every_implementation_and_mode_in_one_run(tmp_path):
    out = tmp_path / "run"
    proc = _run(out, "--impl", "scratch,keras,mlx,torch,jax", "--modes", "per-call,in-graph")
    assert proc.returncode == 0, proc.stderr[-2000:]
    cells = _cells(out)
    assert len(cells) == 10  # five implementations × two modes, each recorded with a status
    for impl in ("scratch", "keras", "jax", "mlx", "torch"):
        suffix = "" if impl == "scratch" else f"-{impl}"
        if impl in ("mlx", "torch", "jax") and importlib.util.find_spec(impl) is None:
            cell = cells[f"cpu-b8-w8{suffix}"]
            assert cell["status"] == "unsupported" and HINT in cell["reason"], cell
        else:
            assert cells[f"cpu-b8-w8{suffix}"]["status"] == "ok", cells[f"cpu-b8-w8{suffix}"]
    assert cells["cpu-b8-w8-in-graph"]["status"] == cells["cpu-b8-w8-in-graph-jax"]["status"] == "ok"
    for impl in ("keras", "mlx", "torch"):  # one call per step: no honest in-graph mode for them
        assert cells[f"cpu-b8-w8-in-graph-{impl}"]["status"] == "unsupported"
    parity = json.loads((out / "run.json").read_text())["impl_parity"]
    by = {(r["impl"], r["mode"]): r for r in parity["rows"]}
    assert by[("jax", "in-graph")]["status"] == by[("mlx", "per-call")]["status"] == "ok"
    assert by[("keras", "in-graph")]["status"] == "unsupported"

    report = subprocess.run([sys.executable, "-m", "simplenn.cli", "report", str(out), "--out", str(tmp_path / "rep")],
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    assert report.returncode == 0, report.stderr[-2000:]
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "## Frameworks" in text and "(frameworks.png)" in text and (tmp_path / "rep" / "frameworks.png").exists()
    assert "| mlx | per-call | ok |" in text.split("### Implementation parity")[1]



def test_impl_mlx_without_mlx_installed_is_unsupported_with_the_hint_and_exits_0(tmp_path):
    # A package named mlx without mlx.core, first on the path of the run and of its worker: as if mlx were absent.
    fake = tmp_path / "fake"
    (fake / "mlx").mkdir(parents=True)
    (fake / "mlx" / "__init__.py").write_text("")
    out = tmp_path / "run"
    proc = _run(out, "--impl", "mlx", pythonpath=(fake,))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (cell,) = _cells(out).values()
    assert cell["status"] == "unsupported" and "mlx.core is not installed" in cell["reason"] and HINT in cell["reason"]
    summary = json.loads(proc.stdout)
    assert summary["status"] == "complete" and summary["cells"][0]["status"] == "unsupported"


@pytest.mark.parametrize("flags, named", [(["--impl", "scratch,nonsense"], "'nonsense' is not allowed"),
                                          (["--modes", "per-call,sideways"], "'sideways' is not allowed")])
def test_an_unknown_impl_or_mode_exits_2_naming_the_flag_and_the_allowed_values(tmp_path, flags, named):
    proc = _run(tmp_path / "run", *flags)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert flags[0] in last and named in last and "allowed values" in last
    assert not (tmp_path / "run").exists()
