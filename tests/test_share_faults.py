"""Issue 26, groups 4 and 9: `share` publishes an allow-list and leaks nothing; misuse is a one-line error.

Runs are written by the sweep with a fake worker (complete, with a stored plan and a run id), so these tests need no
real measurement. Each failed on the code before the fix (see docs/reliability.md).
"""
from __future__ import annotations

import errno
import json
import shlex
from pathlib import Path

import pytest
from tiny import FakeWorker, fake_run

from simplenn import cli
from simplenn.store import share
from simplenn.store.runfolder import RUN_FILE, SAMPLES_FILE


@pytest.fixture
def run(tmp_path) -> Path:
    return fake_run(tmp_path / "work", FakeWorker()).run_dir


def _share(run: Path, dest: Path | str, capsys, *extra: str) -> tuple[int, str, str]:
    code = cli.main(["share", str(run), "--dest", str(dest), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err: str) -> str:
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def _published(root: Path) -> list[Path]:
    return sorted((root / share.MACHINES_DIR).iterdir()) if (root / share.MACHINES_DIR).exists() else []


# ------------------------------------------------------------------ 4. an allow-list, scanned whole


def test_4_share_publishes_an_allow_list_not_the_folder(run, tmp_path, capsys):
    # What a user's folder holds besides the run: the lock with the writer's command line, a report made in place.
    (run / "run.lock").write_text(json.dumps({"pid": 1, "argv": ["simplenn-bench", "run", "--out",
                                                                "/Users/jane/bench/run"]}))
    (run / "report.md").write_text("# report of /Users/jane/bench/run\n")
    (run / "notes.txt").write_text("call me: jane@example.com\n")
    code, out, err = _share(run, tmp_path / "results", capsys)
    assert code == 0, err
    [dest] = _published(tmp_path / "results")
    names = {p.name for p in dest.iterdir()}
    # before the fix: run.lock, the old report.md and notes.txt were copied as they were
    assert {RUN_FILE, SAMPLES_FILE, "report.md", "summary.csv"} <= names
    assert not names & {"run.lock", "notes.txt"} and all(n.endswith(".png") for n in names - {
        RUN_FILE, SAMPLES_FILE, "report.md", "summary.csv"})
    report = (dest / "report.md").read_text()
    assert "/Users/jane" not in report and f"`{dest.name}`" in report  # regenerated, labelled by the published name


def test_4_the_scan_covers_every_published_file(run, tmp_path, capsys, monkeypatch):
    from simplenn.analyse import report

    real = report.write_report

    def leaky(sources, out_dir, **kwargs):
        files = real(sources, out_dir, **kwargs)
        files.summary_csv.write_text(files.summary_csv.read_text() + "contact,jane@example.com\n")
        return files

    monkeypatch.setattr(report, "write_report", leaky)
    code, _, err = _share(run, tmp_path / "results", capsys)
    assert code == 2 and "summary.csv line" in _one_line(err) and "an e-mail address" in err
    assert _published(tmp_path / "results") == []  # and no staging folder left behind
    assert list((tmp_path / "results" / share.MACHINES_DIR).iterdir()) == []


@pytest.mark.parametrize("value, what", [
    ("contact jane.doe@example.com", "an e-mail address"),
    ("built on 192.168.1.23", "an IP address"),
    ("fe80::1c2d:3e4f:5a6b:7c8d", "an IP address"),
    ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "an IP address"),
    ("en0 a4:83:e7:12:34:56", "a MAC address"),
    ("serial c02xk0xxjgh5", "a serial number"),
    ("7c2a6e1b4f0d5b9e8a1c3d2e4f5a6b7c", "a hardware UUID"),
])
def test_4_private_values_of_every_kind_are_found(run, tmp_path, capsys, value, what):
    meta = json.loads((run / RUN_FILE).read_text())
    meta["machine"]["note"] = value
    (run / RUN_FILE).write_text(json.dumps(meta))
    code, _, err = _share(run, tmp_path / "results", capsys)
    # before the fix: none of these was found, and the run was published
    assert code == 2 and f"run.json machine.note: contains {what}" in _one_line(err)
    assert _published(tmp_path / "results") == []


def test_4_harmless_look_alikes_are_not_private():
    for text in ["cpu-b1024-w1024x1024", "MacBookAir10,1", "2026-11-28T12:34:56+00:00", "127.0.0.1",
                 "git e0fd16af1553edb6bb65b0ef87709f44cda85504", "tensorflow 2.16.2", "std::vector"]:
        assert share.private_text(text) is None, text
    run_id = "0123456789abcdef0123456789abcdef"  # the run's own random id names no machine
    assert share.private_fields({"run_id": run_id, "x": f"run {run_id}"}, RUN_FILE, allowed=[run_id]) == []


def test_4_one_run_is_shared_once(run, tmp_path, capsys):
    assert _share(run, tmp_path / "results", capsys)[0] == 0
    code, _, err = _share(run, tmp_path / "results", capsys, "--name", "the-same-run")
    # before the fix: accepted, and then `report results/machines/*/` refused the pair
    assert code == 2 and "already shared as" in _one_line(err)
    assert len(_published(tmp_path / "results")) == 1
    assert cli.main(["report", *map(str, _published(tmp_path / "results")), "--out", str(tmp_path / "rep")]) == 0


# ------------------------------------------------------------------ 9. misuse


def test_9_share_dot_from_inside_the_run_folder(run, capsys, monkeypatch):
    monkeypatch.chdir(run)
    code = cli.main(["share", "."])
    err = capsys.readouterr().err
    # before the fix: a 12 KB error, and results/machines/ left inside the run folder
    assert code == 2 and "inside the run folder" in _one_line(err)
    assert not (run / "results").exists()


def test_9_dest_at_a_file_or_a_read_only_place_is_a_one_line_error(run, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, _, err = _share(run, blocker, capsys)
    assert code == 2 and "--dest" in _one_line(err)  # before the fix: a traceback

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(share.tempfile, "mkdtemp", read_only)
    code, _, err = _share(run, tmp_path / "ro", capsys)
    assert code == 2 and "--dest" in _one_line(err) and "read-only" in err


def test_9_git_commands_quote_paths_with_spaces(run, tmp_path, capsys):
    code, out, err = _share(run, tmp_path / "my results", capsys)
    assert code == 0, err
    [dest] = _published(tmp_path / "my results")
    add = next(line.strip() for line in out.splitlines() if line.strip().startswith("git add"))
    # before the fix: `git add /tmp/.../my results/machines/…`, two paths to git
    assert shlex.split(add) == ["git", "add", str(dest)]
    commit = next(line.strip() for line in out.splitlines() if line.strip().startswith("git commit"))
    assert shlex.split(commit)[:3] == ["git", "commit", "-m"] and len(shlex.split(commit)) == 4
