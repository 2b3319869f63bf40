"""The GitHub Actions workflows are valid (actionlint): CI runs `make test` on Linux and Apple Silicon macOS, and the
example that runs the standard preset on many self-hosted Macs lints with its runner-label config."""

from __future__ import annotations

import os
import re
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


# The current major of each action used, all on Node 24 (GitHub removed Node 20 from its runners in September 2026):
# checkout v7.0.0 (2026-06, webrecorder/browsertrix#3455), setup-python v7.0.0 (2026-07, truenas/apps#5418),
# upload-artifact v7 (there is no v8: uutils/uutils.github.io#57), download-artifact v8 (v7 was its first Node 24
# major; v8 errors on a digest mismatch: ingen084/KyoshinEewViewerIngen#173).
CURRENT_MAJORS = {"actions/checkout": 7, "actions/setup-python": 7, "actions/upload-artifact": 7,
                  "actions/download-artifact": 8}


def _matrix_runners(text: str) -> list[str]:
    return re.findall(r"^\s+- os: (\S+)$", text, flags=re.MULTILINE)


def test_workflow_runs_make_test_on_linux_and_current_apple_silicon_runners() -> None:
    text = WORKFLOW.read_text()
    # macos-14 is unsupported from 2026-11-02 (actions/runner-images#13518); macos-26 is GA (#13739).
    assert sorted(set(_matrix_runners(text))) == ["macos-15", "macos-26", "ubuntu-latest"]
    assert not [line for line in text.splitlines() if "macos-14" in line and not line.lstrip().startswith("#")]
    assert 'python-version: "3.11"' in text and "run: make test" in text


def test_each_job_hands_its_own_python_to_make() -> None:
    text = WORKFLOW.read_text()
    assert re.search(r"uses: actions/setup-python@v\d+\n\s+id: python\n", text)
    assert 'make install PYTHON="${{ steps.python.outputs.python-path }}"' in text


def test_a_linux_leg_pins_the_tensorflow_minor_a_mac_installs() -> None:
    from simplenn.system.compat import KNOWN_GOOD_TF

    text = WORKFLOW.read_text()
    assert re.findall(r'^\s+tensorflow: "([\d.]+)"$', text, flags=re.MULTILINE) == [KNOWN_GOOD_TF]
    assert re.search(r"- os: ubuntu-latest\n\s+tensorflow:", text)  # a Linux leg, next to the plain one
    assert "PIP_CONSTRAINT" in text  # how make install honours the pin


@pytest.mark.parametrize("path", [WORKFLOW, MACS_EXAMPLE], ids=["ci", "many-macs"])
def test_actions_are_at_their_current_majors(path: Path) -> None:
    used = re.findall(r"uses: (actions/[\w-]+)@v(\d+)", path.read_text())
    assert used and all(action in CURRENT_MAJORS for action, _ in used), used
    assert [(a, int(v)) for a, v in used if int(v) != CURRENT_MAJORS[a]] == []


def test_many_macs_example_makes_its_venv_with_find_python() -> None:
    text = MACS_EXAMPLE.read_text()
    assert "sh scripts/find-python.sh --create .venv" in text
    assert "-m venv" not in text.split("name: standard preset on many Macs", 1)[1]
