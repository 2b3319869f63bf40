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
    elsewhere = tmp_path / "opt-py312"
    elsewhere.mkdir()
    chosen = fake(elsewhere, "python3.12", "3.12 venv")
    done = choose(tmp_path, {"python3": "3.13 venv"}, uv=True, python=str(chosen))
    assert done.returncode == 0 and done.stdout.strip() == f"python {chosen}"


@pytest.mark.parametrize(("answer", "words"), [("3.13 venv", "is Python 3.13"), (None, "does not run")])
def test_python_variable_is_version_checked(tmp_path, answer, words):
    # Issue 25: PYTHON= was taken on trust; a 3.13 there ends in pip's requires-python error with no fix shown.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    chosen = fake(elsewhere, "python3", answer)
    done = choose(tmp_path, {"python3.12": "3.12 venv"}, uv=True, python=str(chosen))
    assert (done.returncode, done.stdout.strip()) == (2, "none")
    assert f"PYTHON={chosen} {words}" in done.stderr and "3.10-3.12" in done.stderr
    assert "brew install" not in done.stderr  # not the "nothing found" advice: PYTHON= was given


def create(tmp_path: Path, fakes: dict[str, str | None], venv_python: str | None = "absent", uv: bool = False,
           python: str = "") -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run --create .venv in tmp_path with recording fakes; venv_python: "absent" (no .venv), "dangling" (a
    .venv whose bin/python links to nothing), or a version answer for an existing .venv's python.
    Returns the run and the calls that make something (interpreter or uv, with their arguments)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    for name, answer in fakes.items():
        # The probe runs `-c CODE`; only the calls that make something are logged.
        body = "exit 127" if answer is None else f'case "$1" in -c) ;; *) echo "$0 $*" >> {log} ;; esac\necho "{answer}"'
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    if uv:
        (bin_dir / "uv").write_text(f'#!/bin/sh\ncase "$1" in --version) ;; *) echo "uv $*" >> {log} ;; esac\n'
                                    'echo "uv 0.9.0 (fake)"\n')
        (bin_dir / "uv").chmod(0o755)
    venv_bin = tmp_path / ".venv" / "bin"
    if venv_python == "dangling":
        venv_bin.mkdir(parents=True)
        (venv_bin / "python").symlink_to(tmp_path / "gone" / "python3.11")
    elif venv_python != "absent":
        venv_bin.mkdir(parents=True)
        fake(venv_bin, "python", venv_python)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path / "home"), **({"PYTHON": python} if python else {})}
    done = subprocess.run(["/bin/sh", str(SCRIPT), "--create", ".venv"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=30)
    return done, log.read_text().splitlines() if log.exists() else []


def test_an_existing_venv_with_a_supported_python_is_kept(tmp_path):
    done, calls = create(tmp_path, {"python3.12": "3.12 venv"}, venv_python="3.11 venv", uv=True)
    assert done.returncode == 0 and "Using the existing .venv (Python 3.11)" in done.stdout
    assert calls == []


def test_an_existing_venv_with_python_313_is_refused_with_the_fix(tmp_path):
    # Issue 25: it used to be trusted, and `pip install` then stopped on requires-python with no fix shown.
    done, calls = create(tmp_path, {"python3.12": "3.12 venv"}, venv_python="3.13 venv", uv=True)
    assert done.returncode == 2
    assert ".venv holds Python 3.13" in done.stderr and "rm -rf .venv" in done.stderr
    assert calls == []


@pytest.mark.parametrize(("fakes", "uv", "expected"), [
    ({"python3.12": "3.12 venv"}, False, "-m venv --clear .venv"),
    ({"python3": "3.13 venv"}, True, "uv venv --seed --python 3.12 --clear .venv"),
])
def test_a_venv_whose_python_link_dangles_is_made_again(tmp_path, fakes, uv, expected):
    # Issue 25: `uv venv` refuses an existing directory ("already exists ... Use `--clear` to replace it",
    # kishaningithub/setup-python-amazon-linux#33) and the script then blamed a missing Python.
    done, calls = create(tmp_path, fakes, venv_python="dangling", uv=uv)
    assert done.returncode == 0, done.stderr
    assert "does not run" in done.stdout
    (act,) = calls
    assert act.endswith(expected)


def test_a_directory_that_is_no_venv_is_left_alone(tmp_path):
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "notes.txt").write_text("mine\n")
    done, calls = create(tmp_path, {"python3.12": "3.12 venv"}, uv=True)
    assert done.returncode == 2 and "not a virtual environment" in done.stderr
    assert calls == [] and (tmp_path / ".venv" / "notes.txt").exists()


def test_create_checks_python_variable_before_making_anything(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    chosen = fake(elsewhere, "python3", "3.13 venv")
    done, calls = create(tmp_path, {"python3.12": "3.12 venv"}, uv=True, python=str(chosen))
    assert done.returncode == 2 and "is Python 3.13" in done.stderr and calls == []


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
