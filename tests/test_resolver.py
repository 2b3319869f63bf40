"""The dependency sets resolve per platform: a Mac gets TF 2.19 + tensorflow-metal 1.2.0, Linux no Metal.

`pip --platform` evaluates environment markers for the host, so it cannot check a Mac set from Linux;
`uv pip compile --python-platform` does. These tests need uv (the `test` extra) and the package index:
without uv, or when the index is unreachable, they skip; a resolution failure is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from simplenn.system.compat import KNOWN_GOOD_TF

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
UV_TIMEOUT_S = 120.0

# uv's wording when the index cannot be reached (connection refused, DNS, TLS, timeouts, offline mode).
_NETWORK_MARKERS = (
    "error sending request", "failed to fetch", "dns error", "connection refused", "tcp connect error",
    "client error (connect)", "timed out", "failed to lookup address", "network is unreachable",
    "could not connect", "certificate", "network connectivity is disabled",
)


@dataclass(frozen=True)
class Target:
    """One resolution: a uv target triple, a Python version, extras, and an optional constraint line."""

    platform: str
    python: str
    extras: tuple[str, ...] = ()
    constraint: str = ""

    @property
    def id(self) -> str:
        return "-".join([self.platform.split("-")[0] + "-" + self.platform.split("-")[-1], self.python, *self.extras,
                         *([self.constraint] if self.constraint else [])])


MAC = [Target("aarch64-apple-darwin", v) for v in ("3.10", "3.11", "3.12")]
INTEL_MAC = Target("x86_64-apple-darwin", "3.11")
LINUX = [Target("x86_64-unknown-linux-gnu", v) for v in ("3.10", "3.12")]
CUDA = Target("x86_64-unknown-linux-gnu", "3.11", ("cuda",))
# mlx-cpu publishes manylinux_2_35 wheels only (glibc ≥ 2.35, e.g. Ubuntu 22.04+): the target says so.
LINUX_TEST = Target("x86_64-manylinux_2_35", "3.11", ("test",))
MAC_PEERS = Target("aarch64-apple-darwin", "3.11", ("peers",))
# What `make test` installs on an Apple Silicon Mac and on an Intel Mac (the test extra is what CI installs).
MAC_TEST = Target("aarch64-apple-darwin", "3.11", ("test",))
INTEL_MAC_TEST = Target("x86_64-apple-darwin", "3.11", ("test",))
# CI's Linux leg on the Mac's TensorFlow minor (PIP_CONSTRAINT in .github/workflows/ci.yml).
LINUX_MAC_TF = Target("x86_64-manylinux_2_35", "3.11", ("test",), f"tensorflow=={KNOWN_GOOD_TF}.*")
# Negative control: tensorflow-metal has no cp313 wheel, so this must fail to resolve, and must be
# reported as a resolution failure (not skipped as "network").
MAC_PY313 = Target("aarch64-apple-darwin", "3.13")
ALL_TARGETS = [*MAC, INTEL_MAC, *LINUX, CUDA, LINUX_TEST, MAC_PEERS, MAC_TEST, INTEL_MAC_TEST, LINUX_MAC_TF,
               MAC_PY313]


def classify_uv_failure(stderr: str) -> str:
    """Return "resolution" when uv found no solution (a real failure), "network" when the index was unreachable."""
    text = stderr.lower()
    if "no solution found" in text:
        return "resolution"
    if any(marker in text for marker in _NETWORK_MARKERS):
        return "network"
    return "resolution"


def parse_pins(stdout: str) -> dict[str, str]:
    """Return {normalised name: version} from `uv pip compile` output."""
    pins = {}
    for match in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", stdout, re.MULTILINE):
        pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def _uv_command() -> list[str] | None:
    # Prefer the uv installed beside this interpreter (the `test` extra), then one on PATH.
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    exe = shutil.which("uv")
    return [exe] if exe else None


def _compile(uv: list[str], target: Target) -> subprocess.CompletedProcess[str]:
    cmd = [*uv, "pip", "compile", str(PYPROJECT), "--python-platform", target.platform,
           "--python-version", target.python, "--no-header", "--no-annotate",
           # Resolving for another Python needs only its markers, never a download of that interpreter.
           "--no-python-downloads"]
    for extra in target.extras:
        cmd += ["--extra", extra]
    with tempfile.TemporaryDirectory() as tmp:
        if target.constraint:
            constraints = Path(tmp) / "constraints.txt"
            constraints.write_text(target.constraint + "\n")
            cmd += ["--constraint", str(constraints)]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=UV_TIMEOUT_S, check=False,
                                  cwd=PYPROJECT.parent)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(cmd, -1, "", f"uv timed out after {UV_TIMEOUT_S:g} s")


@pytest.fixture(scope="module")
def resolutions() -> dict[Target, subprocess.CompletedProcess[str]]:
    uv = _uv_command()
    if uv is None:
        pytest.skip("uv is not installed (pip install uv, or install the project's `test` extra)")
    if os.environ.get("UV_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        # Offline, uv reports a missing package as "no version of X": indistinguishable from a real failure.
        pytest.skip("UV_OFFLINE is set; these tests need the package index")
    # All resolutions at once: each is mostly waiting on the index.
    with ThreadPoolExecutor(max_workers=len(ALL_TARGETS)) as pool:
        done = list(pool.map(lambda t: _compile(uv, t), ALL_TARGETS))
    return dict(zip(ALL_TARGETS, done, strict=True))


def _first_error(stderr: str) -> str:
    """Return uv's error line and its innermost cause, for a skip reason."""
    lines = [line.strip() for line in stderr.strip().splitlines()]
    error = next((line for line in lines if line.startswith("error")), lines[0] if lines else "")
    causes = [line for line in lines if line.startswith("cause:")]
    return f"{error} ({causes[-1]})" if causes else error


def resolved(resolutions: dict, target: Target) -> dict[str, str]:
    """Return the pins for target; skip when the index was unreachable, fail on a real resolution failure."""
    done = resolutions[target]
    if done.returncode != 0:
        if classify_uv_failure(done.stderr) == "network" or "timed out after" in done.stderr:
            pytest.skip(f"package index unreachable: {_first_error(done.stderr)}")
        pytest.fail(f"{target.id} does not resolve:\n{done.stderr}")
    return parse_pins(done.stdout)


# ---------------------------------------------------------------- live resolutions


@pytest.mark.network
@pytest.mark.parametrize("target", MAC, ids=lambda t: t.id)
def test_mac_arm64_resolves_to_known_good_pair(resolutions: dict, target: Target) -> None:
    pins = resolved(resolutions, target)
    # The pin is >=2.18.1,<2.20 (issue 25): a resolver takes its newest release, the 2.19 line.
    assert pins.get("tensorflow", "").startswith(f"{KNOWN_GOOD_TF}."), pins.get("tensorflow")
    assert pins.get("tensorflow-metal") == "1.2.0"
    assert "tensorflow-macos" not in pins
    assert not [name for name in pins if name.startswith("nvidia-")]


@pytest.mark.network
def test_intel_mac_resolves_cpu_only(resolutions: dict) -> None:
    pins = resolved(resolutions, INTEL_MAC)
    assert pins.get("tensorflow", "").startswith("2.16."), pins.get("tensorflow")
    assert "tensorflow-metal" not in pins


@pytest.mark.network
@pytest.mark.parametrize("target", LINUX, ids=lambda t: t.id)
def test_linux_resolves_without_metal(resolutions: dict, target: Target) -> None:
    pins = resolved(resolutions, target)
    assert re.match(r"2\.(18|19|20|21)\.", pins.get("tensorflow", "")), pins.get("tensorflow")
    assert "tensorflow-metal" not in pins
    assert not [name for name in pins if name.startswith("nvidia-")]


@pytest.mark.network
def test_linux_cuda_extra_brings_nvidia_libraries(resolutions: dict) -> None:
    pins = resolved(resolutions, CUDA)
    assert "tensorflow" in pins and "tensorflow-metal" not in pins
    assert {"nvidia-cudnn-cu12", "nvidia-cublas-cu12", "nvidia-cuda-runtime-cu12"} <= set(pins)


@pytest.mark.network
def test_linux_test_extra_brings_cpu_mlx_and_jax_but_not_torch(resolutions: dict) -> None:
    pins = resolved(resolutions, LINUX_TEST)
    assert {"mlx", "mlx-cpu", "jax", "jaxlib"} <= set(pins)
    assert "torch" not in pins and not [name for name in pins if name.startswith("nvidia-")]


@pytest.mark.network
def test_mac_peers_extra_brings_mlx_torch_and_jax(resolutions: dict) -> None:
    pins = resolved(resolutions, MAC_PEERS)
    assert {"mlx", "torch", "jax"} <= set(pins)
    assert "mlx-cpu" not in pins  # Metal build: the CPU-only package is for Linux


@pytest.mark.network
def test_mac_test_extra_brings_metal_mlx_and_jax(resolutions: dict) -> None:
    # `make test` on an Apple Silicon Mac tests the MLX runner (issue 25), with the Mac's TensorFlow pair.
    pins = resolved(resolutions, MAC_TEST)
    assert {"mlx", "mlx-metal", "jax", "jaxlib", "tensorflow-metal"} <= set(pins)
    assert "mlx-cpu" not in pins and pins["tensorflow"].startswith(f"{KNOWN_GOOD_TF}.")


@pytest.mark.network
def test_intel_mac_test_extra_has_no_mlx(resolutions: dict) -> None:
    pins = resolved(resolutions, INTEL_MAC_TEST)
    assert not {"mlx", "mlx-metal", "mlx-cpu", "jax", "jaxlib"} & set(pins)


@pytest.mark.network
def test_linux_resolves_on_the_macs_tensorflow_minor(resolutions: dict) -> None:
    # CI's pinned Linux leg can install: the test extra (MLX, JAX) resolves with TensorFlow 2.19.
    pins = resolved(resolutions, LINUX_MAC_TF)
    assert pins.get("tensorflow", "").startswith(f"{KNOWN_GOOD_TF}.") and {"mlx-cpu", "jax"} <= set(pins)


@pytest.mark.network
def test_python_313_on_mac_is_a_resolution_failure(resolutions: dict) -> None:
    done = resolutions[MAC_PY313]
    if done.returncode != 0 and classify_uv_failure(done.stderr) == "network":
        pytest.skip(f"package index unreachable: {_first_error(done.stderr)}")
    assert done.returncode != 0, "tensorflow-metal 1.2.0 resolved for Python 3.13: the table needs a look"
    assert classify_uv_failure(done.stderr) == "resolution"
    assert "tensorflow-metal" in done.stderr


# ---------------------------------------------------------------- the classifier (offline)

UNREACHABLE = """\
error: Request failed after 3 retries in 5.1s
  cause: Failed to fetch: http://nonexistent.invalid/simple/tensorflow/
  cause: error sending request for url (http://nonexistent.invalid/simple/tensorflow/)
  cause: client error (Connect)
  cause: dns error
  cause: error resolving DNS
  cause: failed to lookup address information: Name or service not known
"""

REFUSED = """\
error: Request failed after 3 retries in 4.4s
  cause: Failed to fetch: http://127.0.0.1:9/simple/tqdm/
  cause: error sending request for url (http://127.0.0.1:9/simple/tqdm/)
  cause: client error (Connect)
  cause: tcp connect error
  cause: Connection refused (os error 111)
"""

NO_SOLUTION = """\
warning: The requested Python version 3.13 is not available; 3.11.7 will be used to build dependencies instead.
error: No solution found when resolving dependencies
  cause: Because tensorflow-metal==1.2.0 has no wheels with a matching Python ABI tag (e.g., `cp313`) and you \
require tensorflow-metal==1.2.0, we can conclude that your requirements are unsatisfiable.
"""


def test_classify_uv_failure() -> None:
    assert classify_uv_failure(UNREACHABLE) == "network"
    assert classify_uv_failure(REFUSED) == "network"
    assert classify_uv_failure(NO_SOLUTION) == "resolution"
    assert classify_uv_failure("error: unexpected argument '--frobnicate'") == "resolution"


def test_parse_pins() -> None:
    out = ("absl-py==2.5.1\ntensorflow==2.18.1\nTensorflow_Metal==1.2.0\n"
           "nvidia-cudnn-cu12==9.3.0.75 ; sys_platform == 'linux'\n")
    assert parse_pins(out) == {
        "absl-py": "2.5.1", "tensorflow": "2.18.1", "tensorflow-metal": "1.2.0", "nvidia-cudnn-cu12": "9.3.0.75",
    }
