"""`info`, `train` and `run` all go through the plugin preflight before TensorFlow is imported in-process: on an arm64
Mac whose tensorflow-metal does not match TensorFlow they print one line (the reason and the fix) and exit 2.

The Mac is simulated: platform.system/machine say Darwin/arm64, the installed versions say TensorFlow 2.21 with
tensorflow-metal 1.2.0, and the probe's child is a fake interpreter that prints the captured `Library not loaded:
@rpath/_pywrap_tensorflow_internal.so` error (tests/fixtures/macos/probe_tf221_metal120_pywrap.txt) — the real probe
code path, no TensorFlow import in the child.
"""
from __future__ import annotations

import functools
from pathlib import Path

import pytest

from simplenn import cli
from simplenn.system import compat, preflight

FIXTURES = Path(__file__).parent / "fixtures" / "macos"
BROKEN = {"tensorflow": "2.21.0", "tensorflow-metal": "1.2.0", "tensorflow-macos": None, "keras": "3.12.0",
          "numpy": "2.1.3", "nvidia-cudnn-cu12": None}


def _fake_python(tmp_path: Path, fixture: str, metal: str = "1.2.0", exit_status: int = 1) -> Path:
    """An interpreter that says which tensorflow-metal it has, then fails its import like the captured output."""
    stderr = (FIXTURES / fixture).read_text()
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\necho 'SIMPLENN_METAL \"{metal}\"'\ncat >&2 <<'EOF'\n{stderr}EOF\nexit {exit_status}\n")
    fake.chmod(0o755)
    return fake


@pytest.fixture()
def broken_mac(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(preflight.platform, "machine", lambda: "arm64")
    monkeypatch.setattr(compat, "installed_versions", lambda packages=compat.PACKAGES: dict(BROKEN))
    fake = _fake_python(tmp_path, "probe_tf221_metal120_pywrap.txt")
    monkeypatch.setattr(preflight, "probe_metal_plugin", functools.partial(preflight.probe_metal_plugin, str(fake)))


@pytest.mark.parametrize("argv", [
    ["info", "--no-ceiling"],
    ["info", "--json", "--no-ceiling"],
    ["train", "--dataset", "digits", "--epochs", "1"],
    ["run", "--quick", "--out", "{tmp}/run"],
], ids=["info", "info-json", "train", "run"])
def test_a_broken_plugin_is_one_line_and_exit_2(broken_mac, argv, tmp_path: Path, capsys) -> None:
    code = cli.main([a.format(tmp=tmp_path) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == "" and "Traceback" not in err
    (line,) = err.splitlines()
    assert line.startswith(f"simplenn-bench {argv[0]}: error: tensorflow-metal does not match the installed TensorFlow")
    assert "lib_pywrap_tensorflow_common" in line and f"Fix: {compat.MAC_FIX}" in line
    assert not (tmp_path / "run").exists()  # `run` stopped before creating its folder


def test_a_slow_first_import_is_a_warning_not_a_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(preflight.platform, "machine", lambda: "arm64")
    monkeypatch.setattr(compat, "installed_versions", lambda packages=compat.PACKAGES: {
        **BROKEN, "tensorflow": "2.19.1"})
    monkeypatch.setattr(preflight, "probe_metal_plugin",
                        lambda: preflight.interpret_probe(None, "", "", timeout_s=60))
    warnings = preflight.require_loadable_tensorflow()
    assert any("did not finish after 60 s" in w and "Going on" in w for w in warnings), warnings


def test_resuming_with_a_broken_plugin_stops_before_the_worker(broken_mac, tmp_path: Path, monkeypatch, capsys) -> None:
    from tiny import FakeWorker, folder_snapshot, interrupted_fake_run

    from simplenn import sweep

    state = interrupted_fake_run(tmp_path)
    before = folder_snapshot(state.run_dir)
    started = []
    monkeypatch.setattr(sweep, "Worker", lambda logical_cpus: started.append(1) or FakeWorker())
    capsys.readouterr()
    assert cli.main(["run", "--resume", str(state.run_dir)]) == 2
    err = capsys.readouterr().err
    assert "error: tensorflow-metal does not match" in err and "Traceback" not in err
    assert started == [] and folder_snapshot(state.run_dir) == before
