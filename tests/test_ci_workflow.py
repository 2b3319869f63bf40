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
from packaging.specifiers import SpecifierSet
from packaging.version import Version

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
    """The runner labels of the job matrix, written as `os: [a, b]` or as `- os: a` entries."""
    listed = re.search(r"^\s+os: \[([^\]]*)\]", text, flags=re.MULTILINE)
    return [r.strip() for r in listed.group(1).split(",")] if listed else re.findall(
        r"^\s+- os: (\S+)$", text, flags=re.MULTILINE)


# Hosted runner labels GitHub has retired: a job on one never starts. macos-14 is unsupported from 2026-11-02
# (actions/runner-images#13518); macos-13 before it.
RETIRED_RUNNERS = {"macos-13", "macos-14"}


def platforms_of(runner: str) -> set[str]:
    """The platform a GitHub-hosted runner label stands for (GitHub's runner-images: macos-14 and later are arm64)."""
    if runner.startswith("ubuntu-"):
        return {"linux"}
    m = re.fullmatch(r"macos-(\d+|latest)(-large|-xlarge)?", runner)
    if m:
        intel = m.group(2) == "-large" or (m.group(1) != "latest" and int(m.group(1)) < 14)
        return {"darwin-x86_64" if intel else "darwin-arm64"}
    return set()


def workflow_problems(workflow: str, ci_run: str, makefile: str, pyproject: str) -> list[str]:
    """Where the CI workflow disagrees with the project's own files or GitHub's runners (empty: it agrees)."""
    problems = []
    targets = set(re.findall(r"^([\w-]+):", makefile, flags=re.MULTILINE))
    for text, where in ((workflow, "ci.yml"), (ci_run, ".ci/run")):
        problems += [f"{where} runs `make {t}`, not a Makefile target" for t in re.findall(r"\bmake ([\w-]+)", text)
                     if t not in targets]
    tests_in = {where: set(re.findall(r"\bmake (test[\w-]*)", text)) for text, where in ((workflow, "ci.yml"),
                                                                                         (ci_run, ".ci/run"))}
    if tests_in["ci.yml"] != tests_in[".ci/run"] or "test" not in tests_in["ci.yml"]:
        problems.append(f"the workflow and .ci/run run different test targets: {tests_in}")
    allowed = SpecifierSet(re.search(r'^requires-python = "([^"]+)"', pyproject, flags=re.MULTILINE).group(1))
    pythons = re.findall(r'python-version: "([\d.]+)"', workflow)
    problems += [f"Python {v} is outside requires-python {allowed}" for v in pythons if Version(v) not in allowed]
    if not pythons:
        problems.append("no python-version set up")
    runners = _matrix_runners(workflow)
    problems += [f"{r} is a retired runner" for r in runners if r in RETIRED_RUNNERS]
    covered = set().union(*map(platforms_of, runners)) if runners else set()
    # The platforms pyproject installs TensorFlow for that a hosted runner can stand for (Intel Macs: CPU only, the
    # same code path as Linux).
    needed = {"linux"} if "sys_platform == 'linux'" in pyproject else set()
    needed |= {"darwin-arm64"} if "platform_machine == 'arm64'" in pyproject else set()
    problems += [f"no runner for {p}" for p in sorted(needed - covered)]
    return problems


def _project_files() -> tuple[str, str, str, str]:
    return (WORKFLOW.read_text(), (ROOT / ".ci" / "run").read_text(), (ROOT / "Makefile").read_text(),
            (ROOT / "pyproject.toml").read_text())


def test_the_workflow_agrees_with_the_makefile_ci_script_pyproject_and_github() -> None:
    assert workflow_problems(*_project_files()) == []


@pytest.mark.parametrize(("old", "new", "words"), [
    ('python-version: "3.11"', 'python-version: "3.13"', "outside requires-python"),
    ("run: make test", "run: make tset", "not a Makefile target"),
    ("run: make test", "run: make test-fast", "different test targets"),
    ("- os: macos-15", "- os: macos-14", "macos-14 is a retired runner"),
    ("- os: macos", "- os: ubuntu-", "no runner for darwin-arm64"),
    ("- os: ubuntu-latest", "- os: macos-15", "no runner for linux"),
])
def test_the_agreement_check_fires_on_a_planted_fault(old: str, new: str, words: str) -> None:
    workflow, *rest = _project_files()
    assert old in workflow
    problems = workflow_problems(workflow.replace(old, new), *rest)
    assert any(words in p for p in problems), problems


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
