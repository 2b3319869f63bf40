"""`simplenn-bench share`: a real short run, copied with fingerprint fields overridden, is refused or accepted."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from simplenn import cli

from simplenn.store import share
from simplenn.store.runfolder import RUN_FILE, SAMPLES_FILE

ROOT = Path(__file__).resolve().parents[1]


def _copy(real_run: Path, tmp_path: Path, **machine) -> Path:
    """A copy of the real run with fingerprint fields overridden (None deletes the field)."""
    run = tmp_path / "run"
    shutil.copytree(real_run, run)
    meta = json.loads((run / RUN_FILE).read_text())
    for key, value in machine.items():
        if value is None:
            meta["machine"].pop(key, None)
        else:
            meta["machine"][key] = value
    (run / RUN_FILE).write_text(json.dumps(meta))
    return run


def _share(run: Path, dest: Path, capsys, *extra: str) -> tuple[int, str, str]:
    code = cli.main(["share", str(run), "--dest", str(dest), *extra])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("machine, field", [
    ({"hostname": "janes-mbp"}, "machine.hostname"),
    ({"user": "jane"}, "machine.user"),
    ({"python_executable": "/Users/jane/venv/bin/python"}, "machine.python_executable"),
    ({"project_dir": "/home/jane/simplenn-bench"}, "machine.project_dir"),
    ({"serial_number": "C02XK0XXJGH5"}, "machine.serial_number"),
    ({"model_note": "MacBook Air serial C02XK0XXJGH5"}, "machine.model_note"),
    ({"hardware_uuid": "7C2A6E1B-4F0D-5B9E-8A1C-3D2E4F5A6B7C"}, "machine.hardware_uuid"),
    ({"probe": {"ioreg": "IOPlatformUUID = 7C2A6E1B-4F0D-5B9E-8A1C-3D2E4F5A6B7C"}}, "machine.probe.ioreg"),
    ({"label": "Apple M2 (Janes-MacBook-Air.local)"}, "machine.label"),
])
def test_share_refuses_private_fields(real_run, tmp_path, capsys, machine, field):
    run = _copy(real_run, tmp_path, **machine)
    code, out, err = _share(run, tmp_path / "results", capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"run.json {field}:" in err and "private" in err
    assert not (tmp_path / "results" / "machines").exists() or not any((tmp_path / "results" / "machines").iterdir())


def test_share_refuses_this_machines_user_and_host_names():
    data = {"machine": {"label": "built by dana on lab-mac-07"}}
    assert share.private_fields(data, RUN_FILE, hostname="lab-mac-07") == ["run.json machine.label: contains the hostname"]
    assert share.private_fields(data, RUN_FILE, username="dana") == ["run.json machine.label: contains the user name"]
    assert share.private_fields(data, RUN_FILE, hostname="other", username="nobody") == []


def test_share_finds_private_values_in_samples(real_run, tmp_path, capsys):
    run = _copy(real_run, tmp_path)
    lines = (run / SAMPLES_FILE).read_text().splitlines()
    rec = json.loads(lines[0])
    rec["reason"] = "File /home/jane/.venv/lib/python3.11/site-packages/x.py"
    (run / SAMPLES_FILE).write_text("\n".join([json.dumps(rec), *lines[1:]]) + "\n")
    code, _, err = _share(run, tmp_path / "results", capsys)
    assert code == 2 and "samples.jsonl record 1 reason: contains a home path" in err


def test_share_refuses_an_unfinished_run(real_run, tmp_path, capsys):
    run = _copy(real_run, tmp_path)
    meta = json.loads((run / RUN_FILE).read_text())
    (run / RUN_FILE).write_text(json.dumps({**meta, "status": "interrupted"}))
    code, _, err = _share(run, tmp_path / "results", capsys)
    assert code == 2 and "not complete" in err and "--resume" in err


def test_share_refuses_a_run_with_missing_cells(real_run, tmp_path, capsys):
    run = _copy(real_run, tmp_path)
    lines = (run / SAMPLES_FILE).read_text().splitlines()
    last_cell = max(i for i, line in enumerate(lines) if json.loads(line)["kind"] == "cell")
    (run / SAMPLES_FILE).write_text("\n".join(lines[:last_cell] + lines[last_cell + 1:]) + "\n")
    code, _, err = _share(run, tmp_path / "results", capsys)
    assert code == 2 and "incomplete: 1 planned cells have no record" in err


def test_share_copies_a_clean_run_and_prints_git_commands(real_run, tmp_path, capsys):
    run = _copy(real_run, tmp_path, chip="Apple M2 Pro", gpu_cores=19)
    code, out, err = _share(run, tmp_path / "results", capsys)
    assert code == 0, err
    created = json.loads((run / RUN_FILE).read_text())["created"][:10]
    dest = tmp_path / "results" / "machines" / f"m2-pro-19c-{created}"
    # An allow-list, not a copy (issue 26): run.json, samples.jsonl and the report regenerated from them; never
    # run.lock (the writer's command line).
    published = {p.name for p in dest.iterdir()}
    assert {RUN_FILE, SAMPLES_FILE, "report.md", "summary.csv"} <= published and "run.lock" not in published
    assert published - {RUN_FILE, SAMPLES_FILE, "report.md", "summary.csv"} <= {p.name for p in dest.glob("*.png")}
    for name in (RUN_FILE, SAMPLES_FILE):
        assert (dest / name).read_bytes() == (run / name).read_bytes()
    assert f"git add {dest}" in out and "git push" in out
    assert [p.name for p in (tmp_path / "results" / "machines").iterdir()] == [dest.name]  # no temporary left
    # The same run again, under another name: refused by its run id (one run is shared once).
    (dest / "marker").write_text("kept")
    code, _, err = _share(run, tmp_path / "results", capsys, "--name", "again")
    assert code == 2 and "already shared as" in err and (dest / "marker").read_text() == "kept"
    # An existing destination is never overwritten.
    meta = json.loads((run / RUN_FILE).read_text())
    (run / RUN_FILE).write_text(json.dumps({**meta, "run_id": "f" * 32}))
    code, _, err = _share(run, tmp_path / "results", capsys)
    assert code == 2 and "already exists" in err and (dest / "marker").read_text() == "kept"


def test_share_bad_name_is_a_usage_error(real_run, tmp_path, capsys):
    code, _, err = _share(_copy(real_run, tmp_path), tmp_path / "results", capsys, "--name", "../escape")
    assert code == 2 and "--name" in err


def test_folder_names():
    mac = {"created": "2026-11-28T04:00:00+00:00", "machine": {"chip": "Apple M1", "gpu_cores": 7, "os": "Darwin"}}
    linux = {"created": "2026-11-27T22:39:36+00:00", "machine": {"chip": None, "gpu_cores": None, "os": "Linux",
                                                                  "arch": "x86_64", "cores_logical": 2}}
    intel = {"created": "2026-01-02T00:00:00", "machine": {"os": "Darwin", "arch": "x86_64", "cores_logical": 12}}
    assert share.folder_name(mac) == "m1-7c-2026-11-28"
    assert share.folder_name(linux) == "linux-x86_64-2cpu-2026-11-27"
    assert share.folder_name(intel) == "macos-x86_64-12cpu-2026-01-02"


def test_copy_failure_leaves_nothing(tmp_path, monkeypatch):
    src = tmp_path / "run"
    src.mkdir()
    (src / RUN_FILE).write_text("{}")
    (src / SAMPLES_FILE).write_text("")

    def broken_copy(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(share.shutil, "copyfile", broken_copy)
    dest = tmp_path / "results" / "machines" / "m1-8c-2026-11-28"
    with pytest.raises(share.UsageError, match="disk full"):
        with share.staging(dest) as stage:
            share.copy_published(src, stage)
    assert list(dest.parent.iterdir()) == []


def test_the_reference_run_is_shareable():
    ref = next((ROOT / "results").glob("**/run.json")).parent
    meta = share.check_complete(ref)
    share.check_private(ref, meta, hostname=None, username=None)
