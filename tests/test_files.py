"""Every write: atomic, one-line errors naming the path (and flag), no temp file left, modes from the umask."""
from __future__ import annotations

import errno
import os
import stat

import pytest

from simplenn.cli.run import as_flag
from simplenn.core import files

from simplenn.store import runfolder
from simplenn.core.errors import UsageError


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _raise(code):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    return fail


def test_disk_full_while_updating_run_json_is_one_line_and_leaves_no_tmp(tmp_path, monkeypatch):
    writer = runfolder.RunWriter(tmp_path / "run")
    writer.create({"status": "running"})
    before = (tmp_path / "run" / runfolder.RUN_FILE).read_text()
    monkeypatch.setattr(os, "fsync", _raise(errno.ENOSPC))  # the write function fails half-way
    with pytest.raises(UsageError) as e:
        writer.update_meta(status="complete")
    message = str(e.value)
    assert "\n" not in message and "run.json" in message and "disk full" in message
    assert _leftovers(tmp_path / "run") == []
    assert (tmp_path / "run" / runfolder.RUN_FILE).read_text() == before  # the old file is intact


def test_disk_full_during_append_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    writer = runfolder.RunWriter(tmp_path / "run")
    writer.create({"status": "running"})
    writer.append({"kind": "ceiling", "device": "CPU:0", "gflops": 10.0})
    samples = tmp_path / "run" / runfolder.SAMPLES_FILE
    before = samples.read_bytes()
    real_write = os.write

    def half_then_full(fd, data):  # half the line lands, then the disk is full: a torn line unless undone
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(UsageError, match="samples.jsonl: no space left"):
        writer.append({"kind": "ceiling", "device": "CPU:0", "gflops": 11.0})
    monkeypatch.undo()
    assert samples.read_bytes() == before


@pytest.mark.parametrize("code, words", [(errno.EROFS, "read-only file system"), (errno.EACCES, "permission denied")])
def test_read_only_or_forbidden_out_is_one_line_naming_flag_and_path(tmp_path, monkeypatch, code, words):
    # Tests run as root, which chmod cannot stop: the refusal is injected where the file is created.
    real_open = os.open

    def refuse(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            raise OSError(code, os.strerror(code))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(UsageError) as e:
        runfolder.RunWriter(tmp_path / "run").create({"status": "running"})
    assert str(e.value).startswith("run_dir: cannot write ") and str(e.value).endswith(words)  # the field below the CLI
    assert str(as_flag(e.value)).startswith("--out: cannot write ")  # the flag in it
    assert str(tmp_path / "run") in str(e.value)


def test_out_that_is_an_existing_file(tmp_path):
    (tmp_path / "taken").write_text("not a folder")
    with pytest.raises(UsageError, match=r"^run_dir: cannot create the folder .*taken: it exists and is not a folder$"):
        runfolder.RunWriter(tmp_path / "taken").create({"status": "running"})


def test_out_under_an_existing_file_is_not_a_directory(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="a part of the path is a file"):
        files.ensure_dir(tmp_path / "file" / "run", "--out")
    with pytest.raises(UsageError, match=r"^report --out: cannot write .*report.md: a part of the path is a file"):
        files.write_text(tmp_path / "file" / "report.md", "# r", "report --out")


def test_created_files_follow_the_umask(tmp_path, umask_022):
    writer = runfolder.RunWriter(tmp_path / "run")
    writer.create({"status": "running"})
    writer.append({"kind": "ceiling", "device": "CPU:0", "gflops": 10.0})
    writer.update_meta(status="complete")
    for name in (runfolder.RUN_FILE, runfolder.SAMPLES_FILE):
        assert stat.S_IMODE((tmp_path / "run" / name).stat().st_mode) == 0o644, name
    files.write_text(tmp_path / "report.md", "# r")
    assert stat.S_IMODE((tmp_path / "report.md").stat().st_mode) == 0o644


def test_figure_is_written_atomically_with_umask_mode(tmp_path, umask_022, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    path = files.save_figure(fig, tmp_path / "chart.png", dpi=50)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    monkeypatch.setattr(os, "replace", _raise(errno.ENOSPC))
    with pytest.raises(UsageError, match="chart2.png: no space left"):
        files.save_figure(fig, tmp_path / "chart2.png")
    plt.close(fig)
    assert _leftovers(tmp_path) == [] and not (tmp_path / "chart2.png").exists()


def test_an_interrupt_mid_write_also_removes_the_temp_file(tmp_path):
    def interrupted(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        files._replace_atomically(tmp_path / "x.json", interrupted, None)
    assert list(tmp_path.iterdir()) == []
