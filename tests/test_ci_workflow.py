"""The GitHub Actions workflows are valid (actionlint): CI runs `make test` on Linux and Apple Silicon macOS, and the
example that runs the standard preset on many self-hosted Macs lints with its runner-label config."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
MACS_EXAMPLE = ROOT / "examples" / "github-actions-macs.yml"
MACS_CONFIG = ROOT / "examples" / "actionlint.yaml"  # the self-hosted runner labels the example uses


def _actionlint() -> str:
    found = shutil.which("actionlint") or shutil.which("actionlint", path=str(Path(sys.executable).parent))
    if found is None:
        message = "actionlint is not installed (it comes with the test extra: pip install -e '.[test]')"
        if os.environ.get("CI"):
            pytest.fail(message)  # in CI a missing linter must not pass as a skipped check
        pytest.skip(message)
    return found


def _lint(path: Path, config: Path | None = None) -> subprocess.CompletedProcess:
    extra = ["-config-file", str(config)] if config else []
    return subprocess.run([_actionlint(), "-no-color", *extra, str(path)], capture_output=True, text=True,
                          timeout=120, check=False)


def test_actionlint_passes_on_the_workflow() -> None:
    done = _lint(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    # The check can fail: an undefined matrix key is an error actionlint reports.
    broken = tmp_path / ".github" / "workflows" / "ci.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ${{ matrix.os }}", "runs-on: ${{ matrix.oss }}"))
    done = _lint(broken)
    assert done.returncode != 0 and "oss" in done.stdout


def test_actionlint_passes_on_the_many_macs_example() -> None:
    done = _lint(MACS_EXAMPLE, MACS_CONFIG)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_many_macs_example(tmp_path: Path) -> None:
    # Without the config its self-hosted labels are unknown; with it, a misspelt matrix key is still caught.
    assert _lint(MACS_EXAMPLE).returncode != 0
    broken = tmp_path / "macs.yml"
    broken.write_text(MACS_EXAMPLE.read_text().replace('"${{ matrix.runner }}"]', '"${{ matrix.runnr }}"]'))
    assert broken.read_text() != MACS_EXAMPLE.read_text()
    done = _lint(broken, MACS_CONFIG)
    assert done.returncode != 0 and "runnr" in done.stdout


def test_workflow_runs_make_test_on_linux_and_apple_silicon() -> None:
    text = WORKFLOW.read_text()
    assert "os: [ubuntu-latest, macos-14, macos-15]" in text
    assert 'python-version: "3.11"' in text
    assert "run: make test" in text
