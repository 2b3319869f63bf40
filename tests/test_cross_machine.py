"""The cross-machine table over three real short runs standing for three machines.

Each run is real (this machine, two logical CPUs `CPU:0,CPU:1` standing in for CPU and GPU, with --preset standard
narrowed by flags). Then each folder is edited to stand for a Mac: the fingerprint's hardware fields are
overridden, CPU:1's records are marked device kind "gpu", and CPU:1's block times are multiplied by 100 below the
machine's planted crossover batch size and by 1/100 from it on. Both logical devices run on the same physical CPU,
so their true speedup is ≈ 1, but under load one such ratio's CI was seen at 0.66–69 (a factor of 8 was too small);
a factor of 100 each way puts the CI clearly below or above 1, so each machine's crossover is known: M2 8-core at
64, M2 10-core at 512, M1 Max at 8 (faster at every size).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from simplenn import cli
from simplenn.core.errors import UsageError
from simplenn.analyse.report import analyse
from simplenn.analyse.report.cross_machine import check_rankable, machine_names
from simplenn.store.runmeta import RunMeta
from simplenn.store.runfolder import RUN_FILE, SAMPLES_FILE
from simplenn.store.several import load_many

ROOT = Path(__file__).resolve().parents[1]
BATCH_SIZES_FLAG = "8,64,512"
FACTOR = 100.0
MACHINES = {  # folder: (fingerprint overrides, planted crossover batch, extra batch sizes)
    "m2-8c": ({"label": "Apple M2", "chip": "Apple M2", "gpu_cores": 8, "ram_bytes": 16 * 2**30}, 64, ""),
    "m2-10c": ({"label": "Apple M2", "chip": "Apple M2", "gpu_cores": 10, "ram_bytes": 24 * 2**30}, 512, ""),
    "m1-max-32c": ({"label": "Apple M1 Max", "chip": "Apple M1 Max", "gpu_cores": 32, "ram_bytes": 64 * 2**30}, 8,
                   ",1024"),
}
MAC = {"os": "Darwin", "arch": "arm64", "cpu_model": None, "cores_performance": 4, "cores_efficiency": 4,
       "versions": {"tensorflow": "2.18.1", "keras": "3.6.0", "tensorflow-metal": "1.2.0"}}


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def _stand_for_a_mac(run: Path, machine: dict, crossover_at: int) -> None:
    meta = json.loads((run / RUN_FILE).read_text())
    meta["machine"].update({**MAC, **machine})
    (run / RUN_FILE).write_text(json.dumps(meta))
    lines = []
    for line in (run / SAMPLES_FILE).read_text().splitlines():
        rec = json.loads(line)
        if rec.get("kind") == "cell" and rec["case"]["device"] == "CPU:1":
            factor = FACTOR if rec["case"]["batch_size"] < crossover_at else 1 / FACTOR
            rec["device_kind"] = "gpu"
            rec["block_s"] = [t * factor for t in rec.get("block_s") or []]
        lines.append(json.dumps(rec))
    (run / SAMPLES_FILE).write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="session")
def machine_runs(tmp_path_factory) -> dict[str, Path]:
    """Three real short runs (started together: each pays TensorFlow's import), edited to stand for three Macs."""
    base = tmp_path_factory.mktemp("machines")
    procs = {}
    for name, (_, _, extra) in MACHINES.items():
        argv = ["run", "--preset", "standard", "--devices", "CPU:0,CPU:1", "--logical-cpus", "2", "--impl", "scratch",
                "--modes", "per-call", "--widths", "100x30", "--batch-sizes", BATCH_SIZES_FLAG + extra, "--min-time", "0.05",
                # One round: the planted 100× dwarfs the noise; the intervals over rounds are test_calibration's.
                "--min-block-time", "0.01", "--rounds", "1", "--out", str(base / name)]
        procs[name] = subprocess.Popen([sys.executable, "-m", "simplenn.cli", *argv], cwd=base, env=_env(),
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        machine, crossover_at, _ = MACHINES[name]
        _stand_for_a_mac(base / name, machine, crossover_at)
    return {name: base / name for name in MACHINES}


def test_one_row_per_machine_and_device_with_each_machines_crossover(machine_runs):
    result = analyse(load_many(machine_runs.values())).machines
    rows = result.table
    assert len(rows) == 6 and set(zip(rows["run"], rows["device"])) == {
        (name, dev) for name in MACHINES for dev in ("CPU:0", "CPU:1")}
    assert (result.base_device, result.other_device) == ("CPU:0", "CPU:1")
    gpu = rows[rows["device"] == "CPU:1"].set_index("run")
    assert gpu["crossover_batch"].to_dict() == {name: at for name, (_, at, _) in MACHINES.items()}
    # The planted factor shows in the best speedup: ≈ 100 × the true ≈ 1, its CI above 1.
    assert (gpu["best_speedup_ci_low"] > 1).all() and (gpu["best_speedup"] > 10).all()
    # Same label "Apple M2", different GPU cores: two machines, named apart by their hardware.
    assert gpu.loc["m2-8c", "machine"] != gpu.loc["m2-10c", "machine"]
    assert "8-core GPU" in gpu.loc["m2-8c", "machine"] and "10-core GPU" in gpu.loc["m2-10c", "machine"]
    assert gpu["grid"].nunique() == 1 and gpu["grid"].iloc[0].startswith("standard v1")
    assert (gpu["tensorflow_metal"] == "1.2.0").all() and (gpu["tensorflow"] == "2.18.1").all()
    # % of the chip's GPU peak: on the "gpu" rows only (a CPU has no published peak).
    assert gpu["pct_of_peak"].notna().all() and rows.loc[rows["device"] == "CPU:0", "pct_of_peak"].isna().all()
    assert rows[["step_b32_s", "step_b2048_s"]].isna().all().all()  # neither batch size is in this grid
    # Only the cells all three share: the M1 Max's batch 1024 (two cells) is left out.
    assert (result.n_shared, result.n_left_out) == (6, 2)
    assert set(result.curves["batch_size"]) == {8, 64, 512}
    assert result.curves.groupby("machine").size().to_dict() == {n: 3 for n in gpu["machine"]}


def test_the_report_command_writes_the_cross_machine_section_and_chart(machine_runs, tmp_path, capsys):
    out = tmp_path / "report"
    assert cli.main(["report", *map(str, machine_runs.values()), "--out", str(out)]) == 0, capsys.readouterr().err
    text = (out / "report.md").read_text()
    assert "## Machines side by side" in text and "**2 cells measured ok by some runs only are left out**" in text
    assert "Apple M2, 4P+4E CPU, 8-core GPU, 16 GB" in text and "Apple M2, 4P+4E CPU, 10-core GPU, 24 GB" in text
    assert "CPU:1 faster from batch 64 on" in text and "CPU:1 faster at every measured batch size" in text
    assert (out / "machines.png").stat().st_size > 10_000 and "](machines.png)" in text


@pytest.mark.slow
def test_a_preset_version_mismatch_is_refused_with_exit_2_and_the_reason(machine_runs, tmp_path, capsys):
    newer = tmp_path / "m1-max-v2"
    shutil.copytree(machine_runs["m1-max-32c"], newer)
    meta = json.loads((newer / RUN_FILE).read_text())
    meta["preset"]["version"] = 2
    (newer / RUN_FILE).write_text(json.dumps(meta))
    code = cli.main(["report", str(machine_runs["m2-8c"]), str(newer), "--out", str(tmp_path / "report")])
    err = capsys.readouterr().err
    assert code == 2 and "refusing to rank machines measured with different grids" in err
    assert "standard v1 with min_block_time, min_time overridden: m2-8c" in err
    assert "standard v2 with min_block_time, min_time overridden: m1-max-v2" in err
    assert not (tmp_path / "report" / "report.md").exists()


@pytest.mark.parametrize("preset, identity", [
    (None, "no preset (its own grid)"),
    ({"name": "standard", "version": 1, "overrides": []}, "standard v1"),
    ({"name": "standard", "version": 1, "overrides": ["devices", "batch_sizes"]}, "standard v1"),
    ({"name": "standard", "version": 1, "overrides": ["min_time", "devices"]}, "standard v1 with min_time overridden"),
])
def test_grid_identity(preset, identity):
    assert RunMeta(preset=preset).grid_identity == identity


def test_runs_without_a_preset_are_not_ranked_with_preset_runs():
    runs = {"a": RunMeta(preset={"name": "standard", "version": 1, "overrides": []}), "b": RunMeta()}
    with pytest.raises(UsageError, match=r"standard v1: a; no preset \(its own grid\): b"):
        check_rankable(runs)
    check_rankable({"a": RunMeta(), "b": RunMeta()})  # two runs of their own grids: compared on the cells they share


def test_machine_names_keep_same_hardware_apart_by_run_and_same_label_apart_by_field():
    m2 = {"label": "Apple M2", "chip": "Apple M2", "gpu_cores": 8, "ram_bytes": 16 * 2**30}
    names = machine_names({"a": RunMeta(machine=m2), "b": RunMeta(machine=m2), "c": RunMeta(machine={**m2, "arch": "x"}),
                           "d": RunMeta(machine={**m2, "gpu_cores": 10})})
    assert names["d"] == "Apple M2, 10-core GPU, 16 GB"
    assert len(set(names.values())) == 4 and names["a"].endswith("[arch unknown, a]") and names["c"].endswith("[arch x]")


@pytest.mark.slow
def test_the_contributing_page_shows_the_cross_machine_table_of_what_is_committed():
    from simplenn.analyse.report.markdown import cross_machine_table

    committed = sorted((ROOT / "results" / "machines").glob("*/run.json"))
    assert committed, "no run folder under results/machines/"
    expected = cross_machine_table(analyse(load_many([p.parent for p in committed])))
    readme = (ROOT / "docs" / "contributing.md").read_text()  # moved there from the README (issue 28)
    start = readme.index("<!-- cross-machine table:")
    block = readme[readme.index("\n", start) + 1: readme.index("<!-- end of the cross-machine table -->")]
    assert block.strip() == expected.strip()
    assert "No Mac results exist yet" in readme
