"""Sweep runner and results store: grid, order, faults, resume (fast paths use a fake worker; real ones a process)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simplenn.store import results
from simplenn.store import runfolder

from simplenn import sweep
from simplenn.core.cases import Case
from simplenn.core.records import PlanItem
from simplenn.cli import main
from simplenn.core.errors import FieldError, UsageError
from simplenn.measure.cell import Settings
from tiny import CPU0, CPU1, FAST, METAL, TINY_GRID, FakeWorker, fake_run

def test_grid_sorted_deduplicated_and_default_shape():
    config = sweep.SweepConfig(batch_sizes=(32, 8, 32), hidden=((30,), (30,)), wide_hidden=((30,),))
    assert config.batch_sizes == (8, 32) and config.hidden == ((30,),) and config.wide_hidden == ()
    default = sweep.expand(sweep.SweepConfig(), ["CPU:0"])
    assert [c.batch_size for c in default if c.hidden == "100x30"] == [1, 8, 32, 128, 512, 2048, 8192]
    assert sorted((c.hidden, c.batch_size) for c in default if c.hidden != "100x30") == [("1024x1024", 512), ("256x256", 512)]


@pytest.mark.parametrize("bad", [dict(batch_sizes=(0,)), dict(min_time_s=0), dict(cooldown_s=-1), dict(rounds=0),
                                 dict(losses=("hinge",)), dict(dtypes=("int8",)), dict(devices=())])
def test_config_rejects_bad_values(bad):
    with pytest.raises(UsageError):
        sweep.SweepConfig.from_dict(bad)


def test_order_interleaves_devices_and_places_sentinels():
    cases = sweep.expand(sweep.SweepConfig.from_dict(TINY_GRID), ["CPU:0", "CPU:1"])
    plan = sweep.order(cases, rounds=2, seed=1, sentinel_every=3)
    main_items = [p for p in plan if not p.sentinel]
    assert len(main_items) == 2 * len(cases)
    # Each cell runs on both devices back to back: consecutive main items alternate devices.
    assert all(a.case.device != b.case.device for a, b in zip(main_items[::2], main_items[1::2]))
    sentinels = [p for p in plan if p.sentinel]
    assert plan[0].sentinel and plan[-1].sentinel and len({p.case for p in sentinels}) == 1
    assert [p.seq for p in plan] == list(range(len(plan)))
    assert sweep.order(cases, 2, 1, 3) == plan  # seeded: the same order again
    assert sweep.order(cases, 2, 2, 3) != plan


def test_run_records_every_cell_once_with_ceilings(tmp_path):
    state = fake_run(tmp_path, FakeWorker())
    df = results.load(state.run_dir).table
    assert state.meta["status"] == "complete"
    assert set(df["device"]) == {"CPU:0", "CPU:1"}
    assert len(df[~df["sentinel"]]["cell_id"].unique()) == 6
    assert set(df["ceiling_gflops"]) == {120.0}  # the faster of the start and end probes
    # step_s = block_s / n_steps, computed once in results
    assert (df["step_s"] * df["n_steps"] - df["block_s"]).abs().max() < 1e-12
    assert state.meta["drift"]["ratio"] == pytest.approx(1.0)


def test_sentinels_are_timed_to_the_drift_they_resolve_cells_to_the_precision_asked(tmp_path):
    worker = FakeWorker()
    state = fake_run(tmp_path, worker, precision=0.01, max_time_s=3.0)
    cell_settings = [m[3] for m in worker.requests if m[0] == "cell"]
    planned = state.meta["plan"]
    assert len(cell_settings) == len(planned)
    for item, settings in zip(planned, cell_settings):
        if item["sentinel"]:
            assert settings.precision == sweep.DRIFT_WARN / 4 and settings.max_time_s == pytest.approx(1.0)
        else:
            assert settings.precision == 0.01 and settings.max_time_s == 3.0


def test_crashed_and_timed_out_cells_cost_one_cell(tmp_path):
    fail = {"cpu-b16-w8": ("crashed", "worker killed by SIGSEGV"), "cpu1-b8-w8": ("timeout", "no result within 1 s")}
    state = fake_run(tmp_path, FakeWorker(fail=fail))
    df = results.load(state.run_dir).table
    status = df[~df["sentinel"]].groupby("cell_id")["status"].first()
    assert status["cpu-b16-w8"] == "crashed" and status["cpu1-b8-w8"] == "timeout"
    assert (status.drop(["cpu-b16-w8", "cpu1-b8-w8"]) == "ok").all()
    assert "SIGSEGV" in df.loc[df["cell_id"] == "cpu-b16-w8", "reason"].iloc[0]


def test_oom_skips_larger_batches_on_the_same_axis_and_says_so(tmp_path):
    cases = sweep.expand(sweep.SweepConfig.from_dict(TINY_GRID), ["CPU:0", "CPU:1"])

    def b16_before_b32(seed):
        batches = [p.case.batch_size for p in sweep.order(cases, 1, seed, 0) if p.case.device == "CPU:0"]
        return batches.index(16) < batches.index(32)

    seed = next(s for s in range(50) if b16_before_b32(s))  # an order where the skip has something to skip
    state = fake_run(tmp_path, FakeWorker(oom_from=16), sentinel_every=0, seed=seed)
    df = results.load(state.run_dir).table.sort_values("seq")
    for device, rows in df.groupby("device"):
        first_oom = rows[rows["status"] == "oom"].iloc[0]
        later_larger = rows[(rows["seq"] > first_oom["seq"]) & (rows["batch_size"] > first_oom["batch_size"])]
        assert (later_larger["status"] == "skipped").all()
        assert later_larger["reason"].str.contains(f"batch {first_oom['batch_size']} already ran out of memory").all()
        assert (rows.loc[rows["batch_size"] == 8, "status"] == "ok").all()
    assert (df["status"] == "skipped").any()


def test_metal_rules_are_known_before_anything_runs(tmp_path):
    worker = FakeWorker(devices=(CPU0, METAL))
    config = sweep.SweepConfig.from_dict({**TINY_GRID, "dtypes": ("float32", "float64"), "jit": (False, True)})
    state = sweep.prepare(tmp_path / "run", config, worker, {"label": "m"}, [])
    notes = state.meta["unsupported_before_run"]
    assert any(n.startswith("gpu-b8-w8-f64") and "float64" in n for n in notes)
    assert any("xla" in n and "XLA" in n for n in notes)
    assert not any(n.startswith("cpu") for n in notes)


def test_resume_measures_only_what_is_missing(tmp_path):
    worker = FakeWorker()
    config = sweep.SweepConfig.from_dict({**TINY_GRID, "devices": ("all",)})
    state = sweep.prepare(tmp_path / "run", config, worker, {"label": "m"}, [])
    calls = {"n": 0}

    def stop_after_three(progress):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt

    state = sweep.execute(state, worker, stop_after_three)
    assert state.interrupted and state.meta["status"] == "interrupted"
    with open(tmp_path / "run" / runfolder.SAMPLES_FILE, "a") as f:
        f.write('{"kind": "cell", "seq": 99, "id": "torn')  # a write cut short by a kill
    worker2 = FakeWorker()
    state2 = sweep.execute(sweep.resume_state(tmp_path / "run"), worker2)
    assert any("torn" in w for w in state2.warnings)
    records, notes = runfolder.read_records(tmp_path / "run")
    seqs = [r["seq"] for r in records if r["kind"] == "cell"]
    assert sorted(seqs) == list(range(len(state.meta["plan"]))) and not notes
    assert len([m for m in worker2.requests if m[0] == "cell"]) == len(seqs) - 3
    # Start-of-run ceilings were already measured; only the end-of-run probes are new (one request per shape).
    from simplenn.measure.ceiling import ceiling_shapes
    shapes = ceiling_shapes(sweep.PlanItem.from_json(p).case for p in state.meta["plan"])
    probes = sorted((m[1], m[2][0].key()) for m in worker2.requests if m[0] == "ceiling")
    assert probes == sorted((d, s.key()) for d in ("CPU:0", "CPU:1") for s in shapes)


def test_existing_folder_refused_and_newer_schema_refused(tmp_path):
    fake_run(tmp_path, FakeWorker())
    with pytest.raises(UsageError, match="--resume"):
        fake_run(tmp_path, FakeWorker())
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    meta["schema_version"] = runfolder.SCHEMA_VERSION + 1
    (tmp_path / "run" / "run.json").write_text(json.dumps(meta))
    with pytest.raises(runfolder.ResultsError, match="newer"):
        results.load(tmp_path / "run")
    (tmp_path / "run" / "run.json").write_text("{not json")
    with pytest.raises(runfolder.ResultsError, match="corrupt"):
        results.load(tmp_path / "run")


def test_corrupt_line_in_the_middle_is_refused(tmp_path):
    fake_run(tmp_path, FakeWorker())
    path = tmp_path / "run" / runfolder.SAMPLES_FILE
    lines = path.read_text().splitlines()
    lines[2] = lines[2][:10]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(runfolder.ResultsError, match="line 3 is corrupt"):
        results.load(tmp_path / "run")


# ---------------------------------------------------------------- real worker processes

@pytest.mark.slow
def test_real_worker_killed_mid_cell_then_a_fresh_worker_carries_on():
    worker = sweep.Worker(logical_cpus=2)
    worker.start()
    try:
        slow = PlanItem(0, Case("CPU:0", 8, (8, 8, 10))).to_json()
        settings = Settings(min_block_s=0.01, min_time_s=30.0, max_time_s=60.0)
        pid = worker.proc.pid
        killer = subprocess.Popen([sys.executable, "-c", f"import os,time,signal; time.sleep(1.5); os.kill({pid}, signal.SIGKILL)"])
        with pytest.raises(sweep.WorkerError) as err:
            worker.request(("cell", slow, CPU0.to_dict(), settings), timeout_s=60)
        killer.wait()
        assert err.value.status == "crashed" and "SIGKILL" in err.value.reason
        msg = worker.request(("cell", PlanItem(1, Case("CPU:1", 8, (8, 8, 10))).to_json(), CPU1.to_dict(), FAST),
                             timeout_s=120)
        assert msg[0] == "result" and msg[1]["status"] == "ok" and worker.proc.pid != pid
        with pytest.raises(sweep.WorkerError) as err:
            worker.request(("cell", slow, CPU0.to_dict(), settings), timeout_s=1.0)
        assert err.value.status == "timeout"
    finally:
        worker.stop()


@pytest.mark.slow
def test_each_round_runs_in_a_fresh_worker_process(tmp_path):
    """--rounds 2, real worker: every cell record carries its worker's pid; one pid per round, never shared."""
    config = sweep.SweepConfig.from_dict({**TINY_GRID, "batch_sizes": (8, 16), "devices": ("CPU:0",), "rounds": 2,
                                          "sentinel_every": 0})
    worker = sweep.Worker(logical_cpus=1)
    state = sweep.prepare(tmp_path / "run", config, worker, {"label": "test machine"}, [])
    sweep.execute(state, worker)
    cells = [r for r in runfolder.read_records(state.run_dir)[0] if r["kind"] == "cell"]
    assert all(r["status"] == "ok" for r in cells), cells
    pids = {rnd: {r["worker_pid"] for r in cells if r["round"] == rnd} for rnd in (0, 1)}
    assert len(pids[0]) == 1 and len(pids[1]) == 1 and pids[0] != pids[1]
    assert os.getpid() not in pids[0] | pids[1]
    table = results.load(state.run_dir).table
    assert table.groupby("round")["worker_pid"].nunique().tolist() == [1, 1]


def _cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "simplenn.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


TWO_CPU_FLAGS = ["--logical-cpus", "2", "--devices", "CPU:0,CPU:1", "--batch-sizes", "8,16,32", "--widths", "8",
              "--min-time", "0.02", "--min-block-time", "0.005", "--max-time", "0.1", "--sentinel-every", "4"]


def _wait_for_cells(run_dir: Path, n: int, proc, timeout_s: float = 120) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        path = run_dir / runfolder.SAMPLES_FILE
        if path.exists() and path.read_text().count('"kind": "cell"') >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("no progress")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_parent_interrupted_or_killed_then_resumed_gives_every_cell_once(tmp_path, sig):
    run_dir = tmp_path / "run"
    proc = _cli("run", *TWO_CPU_FLAGS, "--cooldown", "0.3", "--out", str(run_dir))
    _wait_for_cells(run_dir, 2, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert f"--resume {run_dir}" in err and "Traceback" not in err
        assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    else:
        assert proc.returncode == -signal.SIGKILL
    before = [r for r in runfolder.read_records(run_dir)[0] if r["kind"] == "cell"]
    assert 2 <= len(before) < len(json.loads((run_dir / "run.json").read_text())["plan"])
    proc = _cli("run", "--resume", str(run_dir))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    meta = json.loads((run_dir / "run.json").read_text())
    cells = [r for r in runfolder.read_records(run_dir)[0] if r["kind"] == "cell"]
    assert sorted(r["seq"] for r in cells) == [p["seq"] for p in meta["plan"]]
    assert [r for r in cells if r["seq"] in {b["seq"] for b in before}] == before  # completed cells untouched
    df = results.load(run_dir).table
    assert set(df["device"]) == {"CPU:0", "CPU:1"} and (df["status"] == "ok").all()
    assert meta["status"] == "complete" and f"results: {run_dir}" in out


@pytest.mark.parametrize("args, flag", [
    (["--batch-sizes", "0,-3,abc"], "--batch-sizes"),
    (["--widths", "100xq"], "--widths"),
    (["--loss", "hinge"], "--loss"),
    (["--min-time", "0"], "--min-time"),
    (["--cooldown", "-1"], "--cooldown"),
    (["--precision", "2"], "--precision"),
    (["--precision", "0"], "--precision"),
    (["--max-time", "0"], "--max-time"),
])
def test_bad_flags_exit_2_naming_the_flag(args, flag, capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", *args])
    assert e.value.code == 2
    assert flag in capsys.readouterr().err


def test_unknown_toml_key_and_resume_with_grid_flags_exit_2(tmp_path, capsys):
    toml = tmp_path / "sweep.toml"
    toml.write_text('batch_sizes = [8, 16]\nbatch_size = 3\n')
    assert main(["run", "--config", str(toml)]) == 2
    assert "unknown keys ['batch_size']" in capsys.readouterr().err
    toml.write_text('batch_sizes = [8, 0]\n')
    assert main(["run", "--config", str(toml)]) == 2
    assert "batch_sizes" in capsys.readouterr().err
    assert main(["run", "--resume", str(tmp_path), "--quick"]) == 2
    assert main(["run", "--resume", str(tmp_path / "nope")]) == 2
    assert "no such run folder" in capsys.readouterr().err


def test_toml_config_matches_flags(tmp_path):
    from simplenn.cli import build_parser
    from simplenn.cli.run import build_config

    toml = tmp_path / "sweep.toml"
    toml.write_text('devices = ["CPU:0"]\nbatch_sizes = [16, 8, 16]\nwidths = ["100x30", [64, 64]]\n'
                    'min_time = 0.1\njit = false\nmodes = ["per-call", "in-graph"]\n')
    from_toml = build_config(build_parser().parse_args(["run", "--config", str(toml)]))
    from_flags = build_config(build_parser().parse_args(
        ["run", "--devices", "CPU:0", "--batch-sizes", "16,8", "--widths", "100x30,64x64", "--min-time", "0.1",
         "--jit", "off", "--modes", "per-call,in-graph"]))
    assert from_toml == from_flags
    assert from_toml.batch_sizes == (8, 16) and from_toml.hidden == ((64, 64), (100, 30))


# A value unlike the default for each key, as flag text (TOML gets the same text, or the number).
KEY_EXAMPLES = {"devices": "CPU:1", "batch_sizes": "3", "widths": "7x5", "wide_widths": "9x9", "wide_batch": "64",
                "loss": "softmax", "dtypes": "float64", "jit": "on", "modes": "in-graph", "impls": "mlx",
                "precision": "0.1", "max_time": "9.5", "min_time": "0.4", "min_block_time": "9.5", "cooldown": "9.5",
                "rounds": "2", "seed": "3", "sentinel_every": "3", "timeout": "9.5", "logical_cpus": "3",
                "profile": "cpu-b8-w8", "profile_steps": "3"}


def test_one_table_of_keys_drives_flags_toml_and_the_stored_grid(tmp_path):
    """Every key of sweep.KEYS is a `run` flag (unless TOML-only) and a sweep.toml key, and lands in run.json's
    grid under grid_key."""
    from simplenn.cli import build_parser
    from simplenn.cli.run import build_config, flag_of

    assert set(KEY_EXAMPLES) == set(sweep.CONFIG_KEYS)
    for key in sweep.KEYS:
        text = KEY_EXAMPLES[key.name]
        toml = tmp_path / f"{key.name}.toml"
        number = text.replace(".", "", 1).isdigit()
        toml.write_text(f"{key.name} = {text if number else json.dumps(text)}\n")  # scalars as TOML numbers
        from_toml = sweep.load_config(toml=toml)
        if key.flag:
            assert build_config(build_parser().parse_args(["run", flag_of(key), text])) == from_toml, key
        stored = json.loads(json.dumps(from_toml.to_dict()))[key.grid_key]  # as run.json stores it
        assert stored != json.loads(json.dumps(sweep.SweepConfig().to_dict()))[key.grid_key], key
        assert sweep.SweepConfig.from_dict(json.loads(json.dumps(from_toml.to_dict()))) == from_toml, key
    assert sweep.CONFIG_KEYS == tuple(k.name for k in sweep.KEYS)


def test_a_field_error_below_the_cli_names_the_field_and_the_cli_maps_it_to_the_flag():
    from simplenn.cli.run import as_flag

    with pytest.raises(FieldError, match="^min_block_s: ") as err:
        sweep.SweepConfig.from_dict({"min_block_s": 0})
    assert str(as_flag(err.value)).startswith("--min-block-time: must be a positive number")
    with pytest.raises(FieldError, match="^layer_sizes: ") as err:
        Case("CPU:0", 8, (784,))
    assert str(as_flag(err.value)).startswith("--widths: ")


def test_an_existing_run_folder_is_refused_naming_out(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "run.json").write_text("{}")
    assert main(["run", "--devices", "CPU:0", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert f"error: --out: {tmp_path / 'r'} already exists; use --resume" in err


@pytest.mark.slow
def test_unknown_device_exits_2_listing_present_devices(tmp_path):
    proc = _cli("run", "--logical-cpus", "2", "--devices", "GPU:3", "--out", str(tmp_path / "r"))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "Traceback" not in err
    assert "error: --devices: 'GPU:3' is not present" in err and "CPU:0, CPU:1" in err
    assert not (tmp_path / "r").exists()


def test_older_schema_is_upgraded_on_load(tmp_path, monkeypatch):
    fake_run(tmp_path, FakeWorker())
    # Pretend the current format is one version ahead, with an upgrade step from today's version.
    monkeypatch.setattr(runfolder, "SCHEMA_VERSION", runfolder.SCHEMA_VERSION + 1)
    monkeypatch.setitem(runfolder._UPGRADES, runfolder.SCHEMA_VERSION - 1, lambda meta: {**meta, "upgraded": True})
    meta = runfolder.read_meta(tmp_path / "run")
    assert meta["upgraded"] and meta["schema_version"] == runfolder.SCHEMA_VERSION
    monkeypatch.delitem(runfolder._UPGRADES, runfolder.SCHEMA_VERSION - 1)
    with pytest.raises(runfolder.ResultsError, match="too old"):
        runfolder.read_meta(tmp_path / "run")


@pytest.mark.parametrize("ok", [True, False])
def test_device_parity_is_recorded_and_a_mismatch_is_a_warning_in_the_report(tmp_path, ok):
    from simplenn.analyse.report import analyse, render_markdown

    state = fake_run(tmp_path, FakeWorker(parity_ok=ok))
    assert state.meta["device_parity"]["ok"] is ok
    assert any("device parity" in w for w in state.meta["warnings"]) is (not ok)
    text = render_markdown(analyse(results.load(state.run_dir)), tmp_path)
    assert "## Parity" in text and ("**MISMATCH**" in text) is (not ok)
    if not ok:
        assert "device parity: CPU:1 differs" in text.split("## Warnings")[1]


@pytest.mark.parametrize("mismatch", ["", "keras"])
def test_implementation_parity_is_recorded_when_a_run_has_several_implementations(tmp_path, mismatch):
    worker = FakeWorker(impl_mismatch=mismatch)
    state = fake_run(tmp_path, worker, impls=("scratch", "keras"), dtypes=("float32", "float64"))
    parity = state.meta["impl_parity"]
    assert parity["device"] == "CPU:0" and parity["batch_size"] == 32 and parity["layer_sizes"] == [784, 100, 30, 10]
    assert [(r["dtype"], r["impl"]) for r in parity["rows"]] == [
        ("float32", "scratch"), ("float32", "keras"), ("float64", "scratch"), ("float64", "keras")]
    assert runfolder.read_meta(state.run_dir)["impl_parity"] == parity
    flagged = [w for w in state.meta["warnings"] if w.startswith("implementation parity")]
    assert len(flagged) == (2 if mismatch else 0)
    alone = FakeWorker()  # a run of one implementation has nothing to compare
    assert fake_run(tmp_path / "alone", alone).meta["impl_parity"] is None
    assert not any(m[0] == "impl_parity" for m in alone.requests)


def test_run_summary_as_json_and_text(tmp_path, capsys):
    from simplenn.cli.run import _finish

    state = fake_run(tmp_path, FakeWorker(fail={"cpu-b16-w8": ("crashed", "worker killed by SIGABRT")}))
    assert _finish(state, as_json=True) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["run_dir"] == str(state.run_dir) and out["status"] == "complete"
    cells = {c["cell_id"]: c for c in out["cells"]}
    assert len(cells) == 6 and cells["cpu-b16-w8"]["status"] == "crashed"
    assert cells["cpu-b8-w8"]["median_step_s"] == pytest.approx(8e-4)  # FakeWorker: 1e-4 s × batch
    assert _finish(state, as_json=False) == 0
    text = capsys.readouterr().out
    assert "cpu-b16-w8                       crashed     worker killed by SIGABRT" in text
    assert f"results: {state.run_dir}" in text and "GPU: absent, not measured — no GPU here" in text


def test_implementation_limits_are_known_before_anything_runs(tmp_path):
    config = sweep.SweepConfig.from_dict({**TINY_GRID, "modes": ("per-call", "in-graph"), "impls": ("scratch", "keras")})
    state = sweep.prepare(tmp_path / "run", config, FakeWorker(), {"label": "m"}, [])
    notes = state.meta["unsupported_before_run"]
    assert any(n.startswith("cpu-b8-w8-in-graph-keras:") and "train_on_batch" in n for n in notes)
    assert not any("scratch" in n or n.split(":")[0].endswith("-keras") and "in-graph" not in n for n in notes)
