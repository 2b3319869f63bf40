"""scripts/find-python.sh picks the right way to make .venv, tried with fake interpreters on an otherwise empty PATH.

Each fake answers the script's probe the way that interpreter would (its version, and whether venv/ensurepip import);
a broken one stands for a pyenv shim with nothing behind it. Only the choice is checked: nothing is downloaded.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "find-python.sh"


def fake(bin_dir: Path, name: str, answer: str | None) -> Path:
    """An executable `name` that prints `answer` to the probe, or fails like a broken shim when answer is None."""
    body = "exit 127" if answer is None else f'echo "{answer}"'
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n# fake interpreter for the test\n{body}\n")
    path.chmod(0o755)
    return path


def fake_uv(bin_dir: Path) -> Path:
    path = bin_dir / "uv"
    path.write_text('#!/bin/sh\necho "uv 0.9.0 (fake)"\n')
    path.chmod(0o755)
    return path


def choose(tmp_path: Path, fakes: dict[str, str | None], uv: bool = False, python: str = "") -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, answer in fakes.items():
        fake(bin_dir, name, answer)
    if uv:
        fake_uv(bin_dir)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path / "home")}
    if python:
        env["PYTHON"] = python
    return subprocess.run(["/bin/sh", str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("version", ["3.11", "3.12"])
def test_a_working_supported_python_is_used_directly(tmp_path, version):
    # Homebrew's 3.13 is python3; the supported one is only reachable by its versioned name.
    done = choose(tmp_path, {"python3": "3.13 venv", f"python{version}": f"{version} venv"}, uv=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"python {tmp_path / 'bin' / ('python' + version)}"


def test_python_313_with_uv_on_path_uses_uv(tmp_path):
    done = choose(tmp_path, {"python3": "3.13 venv", "python3.13": "3.13 venv"}, uv=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"uv {tmp_path / 'bin' / 'uv'}"


def test_xcode_python_39_without_uv_bootstraps_uv_with_it(tmp_path):
    done = choose(tmp_path, {"python3": "3.9 venv"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"bootstrap {tmp_path / 'bin' / 'python3'}"


def test_a_broken_shim_is_run_not_trusted(tmp_path):
    # pyenv's python3.12 shim exists on PATH but fails: the script must fall through to the 3.11 that runs.
    done = choose(tmp_path, {"python3.12": None, "python3.11": "3.11 venv", "python3": "3.9 venv"})
    assert done.stdout.strip() == f"python {tmp_path / 'bin' / 'python3.11'}"


def test_only_broken_shims_and_no_uv_gives_the_two_fixes(tmp_path):
    done = choose(tmp_path, {"python3.12": None, "python3": None})
    assert done.returncode == 2
    assert done.stdout.strip() == "none"
    assert "brew install python@3.12" in done.stderr and "astral.sh/uv/install.sh" in done.stderr


def test_no_python_at_all_gives_the_two_fixes(tmp_path):
    done = choose(tmp_path, {})
    assert (done.returncode, done.stdout.strip()) == (2, "none")
    assert "brew install python@3.12" in done.stderr


def test_python_without_venv_cannot_bootstrap(tmp_path):
    # A Python 3.13 missing ensurepip (Debian without python3-venv) cannot make the bootstrap environment.
    done = choose(tmp_path, {"python3": "3.13"})
    assert (done.returncode, done.stdout.strip()) == (2, "none")


def test_python_variable_overrides_the_search(tmp_path):
    done = choose(tmp_path, {"python3": "3.13 venv"}, uv=True, python="/opt/py312/bin/python3.12")
    assert done.stdout.strip() == "python /opt/py312/bin/python3.12"


def test_the_probe_reads_a_real_interpreter(tmp_path):
    # The fakes above stand in for the probe's answer; this checks the probe itself on the interpreter running pytest.
    import sys

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    done = subprocess.run(["/bin/sh", str(SCRIPT)], cwd=tmp_path, env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=60)
    supported = (3, 10) <= sys.version_info[:2] < (3, 13)
    assert done.stdout.split()[0] == ("python" if supported else "bootstrap")


def test_create_with_uv_asks_for_a_seeded_312_venv(tmp_path):
    # The action taken on the uv branch: the fake uv records its arguments instead of downloading anything.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake(bin_dir, "python3", "3.13 venv")
    (bin_dir / "uv").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "uv-args"}\n')
    (bin_dir / "uv").chmod(0o755)
    done = subprocess.run(["/bin/sh", str(SCRIPT), "--create", ".venv"], cwd=tmp_path,
                          env={"PATH": str(bin_dir), "HOME": str(tmp_path)}, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "uv-args").read_text().splitlines()[-1] == "venv --seed --python 3.12 .venv"
