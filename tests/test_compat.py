"""The version guard on faked metadata tables, and the plugin probe's parser on captured output."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from simplenn.system import compat
from simplenn.system.compat import (
    KNOWN_GOOD_METAL,
    KNOWN_GOOD_TF,
    MAC_FIX,
    METAL_TABLE,
    Finding,
    check_versions,
    installed_versions,
    lookup_pairing,
    minor,
    why_no_gpu,
)
from simplenn.system import preflight as preflight_module
from simplenn.system.preflight import ProbeResult, interpret_probe, preflight, probe_metal_plugin

FIXTURES = Path(__file__).parent / "fixtures" / "macos"
PY311 = (3, 11, 9)


def table(tf: str | None = "2.18.1", metal: str | None = "1.2.0", **more: str | None) -> dict[str, str | None]:
    return {"tensorflow": tf, "tensorflow-metal": metal, "keras": "3.8.0", "numpy": "2.0.2", **more}


def levels(findings: list[Finding]) -> list[str]:
    return [f.level for f in findings]


# ---------------------------------------------------------------- the table


def test_minor() -> None:
    assert minor("2.18.1") == "2.18"
    assert minor("2.18.0rc1") == "2.18"
    assert minor(None) is None
    assert minor("garbage") is None


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.replace(".*", ".0").split("."))


def table_problems(table=METAL_TABLE, pin: tuple[str, str] = (KNOWN_GOOD_METAL, KNOWN_GOOD_TF)) -> list[str]:
    """What is inconsistent in a compatibility table: each rule is a property of the rows, not a copy of them."""
    problems = []
    pairs = [(row.metal, row.tf) for row in table]
    problems += [f"{pair} has {pairs.count(pair)} rows" for pair in sorted(set(pairs)) if pairs.count(pair) > 1]
    for row in table:
        if row.status not in ("good", "broken"):
            problems.append(f"{row.metal}/{row.tf}: status {row.status!r}")
        if not re.search(r"#\d+", row.source) and not row.source.startswith("Apple's plugin page"):
            problems.append(f"{row.metal}/{row.tf}: no public report cited")
        if "setup.py" in row.source:  # Apple's 1.2.0 setup.py table has typos ("v2.14-v2.18 -> v1.1.0")
            problems.append(f"{row.metal}/{row.tf}: rests on Apple's setup.py")
        if lookup_pairing(row.metal.replace(".*", ".0"), f"{row.tf}.1", table) is not row:
            problems.append(f"{row.metal}/{row.tf}: not what lookup_pairing finds for it")
    releases = sorted({row.metal for row in table}, key=_version)
    for metal in releases:  # a plugin release works up to some TensorFlow, then breaks: never good again after
        rows = sorted((row for row in table if row.metal == metal), key=lambda r: _version(r.tf))
        first_broken = next((i for i, r in enumerate(rows) if r.status == "broken"), len(rows))
        problems += [f"{metal}/{r.tf}: good after broken with TF {rows[first_broken].tf}"
                     for r in rows[first_broken:] if r.status == "good"]
    newest = releases[-1]
    for tf in {row.tf for row in table if row.metal == newest and row.status == "broken"}:
        # Where the newest plugin fails, an older one (built against an older TensorFlow) cannot work either.
        problems += [f"{row.metal}/{tf}: good where {newest} is broken" for row in table
                     if row.tf == tf and row.status == "good"]
    pinned = lookup_pairing(pin[0], f"{pin[1]}.0", table)
    if pinned is None or pinned.status != "good" or pin[0] != newest:
        problems.append(f"the install pin {pin} is not a good row of the newest release {newest}")
    return problems


def test_the_table_is_consistent() -> None:
    assert table_problems() == []


def _planted(metal: str, tf: str, **change) -> tuple[MetalPairing, ...]:
    return tuple(replace(row, **change) if (row.metal, row.tf) == (metal, tf) else row for row in METAL_TABLE)


@pytest.mark.parametrize(("table", "pin", "words"), [
    ((*METAL_TABLE, METAL_TABLE[0]), None, "has 2 rows"),
    (_planted("1.1.0", "2.15", status="broken"), None, "good after broken"),
    (_planted("1.1.0", "2.20", status="good"), None, "good where 1.2.0 is broken"),
    (_planted("1.2.0", "2.19", source="works (a forum post)"), None, "no public report cited"),
    (_planted("1.1.0", "2.18", source="Apple's setup.py (#1)"), None, "rests on Apple's setup.py"),
    (_planted("1.2.0", "2.18", status="brokn"), None, "status 'brokn'"),
    (METAL_TABLE, ("1.2.0", "2.20"), "install pin"),
    (METAL_TABLE, ("1.1.0", "2.16"), "install pin"),
])
def test_the_consistency_check_fires_on_a_planted_fault(table, pin, words) -> None:
    problems = table_problems(table, pin or (KNOWN_GOOD_METAL, KNOWN_GOOD_TF))
    assert any(words in p for p in problems), problems


def test_apples_setup_py_typo_is_not_a_source() -> None:
    # Apple's 1.2.0 setup.py maps "v2.14-v2.18 -> v1.1.0"; 1.1.0 with 2.18 fails in public reports.
    assert lookup_pairing("1.1.0", "2.18.0").status == "broken"
    assert not any("setup.py" in row.source for row in METAL_TABLE)


def test_lookup_pairing_absent() -> None:
    assert lookup_pairing("1.2.0", "2.17.0") is None
    assert lookup_pairing("1.0.0", "2.18.0") is None
    assert lookup_pairing("1.10.0", "2.13.0") is None  # "1.0.*" must not match "1.10.0"
    assert lookup_pairing("1.2.0", "2.1.0") is None  # "2.1" must not match the "2.18" row


def test_table_is_frozen() -> None:
    with pytest.raises(AttributeError):
        METAL_TABLE[0].status = "broken"  # type: ignore[misc]


# ---------------------------------------------------------------- check_versions


def test_mac_known_good() -> None:
    findings = check_versions(table(), "Darwin", "arm64", PY311)
    assert levels(findings) == ["ok"]
    assert "known-good" in findings[0].message and findings[0].fix is None


def test_mac_incompatible_metal_110_with_tf_218() -> None:
    findings = check_versions(table("2.18.0", "1.1.0"), "darwin", "arm64", PY311)
    assert levels(findings) == ["error"]
    assert "#81987" in findings[0].message
    assert findings[0].fix == MAC_FIX


def test_the_mac_pin_in_pyproject_is_the_one_the_messages_give() -> None:
    # Issue 25: 1.2.0 is reported to work on 2.18.1 and 2.19 (PR #126360) and 2.19.1 is the newest it loads into.
    import tomllib

    deps = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    (mac_tf,) = [d for d in deps if re.match(r"tensorflow[><=]", d) and "platform_machine == 'arm64'" in d]
    assert mac_tf.split(";")[0] == f"tensorflow{compat.MAC_TF_SPEC}"
    assert compat.KNOWN_GOOD_TF == "2.19" and lookup_pairing(compat.KNOWN_GOOD_METAL, "2.19.1").status == "good"


def test_loads_with_reads_the_table() -> None:
    assert compat.loads_with("1.2.0") == "2.16, 2.18 or 2.19"
    assert compat.loads_with("1.1.0") == "2.13, 2.14, 2.15, 2.16 or 2.17"
    assert compat.loads_with("0.9.0") == "no TensorFlow release in the compatibility table"


def test_mac_tf_221_with_metal() -> None:
    findings = check_versions(table("2.21.0", "1.2.0"), "Darwin", "arm64", PY311)
    assert levels(findings) == ["error"]
    assert "#126384" in findings[0].message and "_pywrap_tensorflow_internal" in findings[0].message


def test_mac_tf_220_with_metal_is_an_abi_error() -> None:
    findings = check_versions(table("2.20.0", "1.2.0"), "Darwin", "arm64", PY311)
    assert levels(findings) == ["error"] and "ABI" in findings[0].message and findings[0].fix == MAC_FIX


def test_mac_tf_219_does_not_warn() -> None:
    findings = check_versions(table("2.19.0", "1.2.0"), "Darwin", "arm64", PY311)
    assert levels(findings) == ["ok"]
    assert "#126360" in findings[0].message


def test_mac_pair_not_in_table() -> None:
    findings = check_versions(table("2.17.0", "1.2.0"), "Darwin", "arm64", PY311)
    assert levels(findings) == ["warning"]
    assert "not in the compatibility table" in findings[0].message


def test_mac_plugin_missing() -> None:
    findings = check_versions(table("2.18.1", None), "Darwin", "arm64", PY311)
    assert levels(findings) == ["warning"]
    assert "tensorflow-metal is not installed" in findings[0].message
    assert findings[0].fix == MAC_FIX


def test_mac_python_313() -> None:
    findings = check_versions(table("2.18.1", None), "Darwin", "arm64", (3, 13, 1))
    assert levels(findings) == ["error", "warning"]
    assert "Python 3.13" in findings[0].message and "no wheel" in findings[0].message


def test_tensorflow_missing() -> None:
    mac = check_versions(table(None, None), "Darwin", "arm64", PY311)
    assert levels(mac) == ["error"] and mac[0].fix == MAC_FIX
    lin = check_versions(table(None, None), "Linux", "x86_64", PY311)
    assert levels(lin) == ["error"] and lin[0].fix == "pip install -e ."


def test_legacy_tensorflow_macos() -> None:
    findings = check_versions(table(**{"tensorflow-macos": "2.16.2"}), "Darwin", "arm64", PY311)
    assert levels(findings) == ["warning", "ok"]
    assert "tensorflow-macos 2.16.2" in findings[0].message


def test_linux() -> None:
    assert levels(check_versions(table("2.21.0", None), "linux", "x86_64", PY311)) == ["ok"]
    old = check_versions(table("2.15.1", None), "Linux", "x86_64", PY311)
    assert levels(old) == ["warning"] and "2.18-2.21" in old[0].message
    stray = check_versions(table("2.21.0", "1.2.0"), "Linux", "x86_64", PY311)
    assert levels(stray) == ["warning"] and "cannot provide a GPU" in stray[0].message
    assert levels(check_versions(table("2.21.0", None), "Linux", "x86_64", (3, 13, 0))) == ["warning"]


def test_intel_mac() -> None:
    assert levels(check_versions(table("2.16.2", None), "Darwin", "x86_64", PY311)) == ["ok"]
    findings = check_versions(table("2.16.2", "1.0.0"), "Darwin", "x86_64", PY311)
    assert levels(findings) == ["warning"] and "Intel Mac" in findings[0].message


# ---------------------------------------------------------------- why_no_gpu


def test_why_no_gpu_mac() -> None:
    assert "not installed" in why_no_gpu(table("2.18.1", None), "darwin", "arm64", PY311)
    assert MAC_FIX in why_no_gpu(table("2.18.1", None), "darwin", "arm64", PY311)
    py313 = why_no_gpu(table("2.18.1", None), "darwin", "arm64", (3, 13, 0))
    assert py313.startswith("Python 3.13 has no tensorflow-metal wheel")
    mismatch = why_no_gpu(table("2.18.0", "1.1.0"), "darwin", "arm64", PY311)
    assert mismatch.startswith("tensorflow-metal 1.1.0 does not match TensorFlow 2.18.0") and MAC_FIX in mismatch
    assert "does not match" in why_no_gpu(table("2.20.0", "1.2.0"), "darwin", "arm64", PY311)
    assert "cause unknown" in why_no_gpu(table(), "darwin", "arm64", PY311)
    assert "TensorFlow is not installed" in why_no_gpu(table(None, None), "darwin", "arm64", PY311)


def test_why_no_gpu_intel_mac_and_rosetta() -> None:
    assert why_no_gpu(table("2.16.2", None), "darwin", "x86_64", PY311).startswith(
        "Intel Mac: TensorFlow has no GPU support here"
    )
    assert "Rosetta 2" in why_no_gpu(table("2.16.2", None), "darwin", "x86_64", PY311, translated=True)


def test_why_no_gpu_linux() -> None:
    no_driver = why_no_gpu(table("2.21.0", None), "linux", "x86_64", PY311, has_nvidia_smi=False)
    assert no_driver.startswith("CPU-only environment: no NVIDIA driver found (nvidia-smi is missing)")
    no_cuda = why_no_gpu(table("2.21.0", None), "linux", "x86_64", PY311, has_nvidia_smi=True)
    assert "pip install '.[cuda]'" in no_cuda
    both = why_no_gpu(table("2.21.0", None, **{"nvidia-cudnn-cu12": "9.3.0.75"}), "Linux", "x86_64", PY311,
                      has_nvidia_smi=True)
    assert "CUDA 12" in both
    assert "CPU-only" in why_no_gpu(table("2.21.0", None), "linux", "aarch64", PY311)


def test_why_no_gpu_on_this_box() -> None:
    import platform

    text = why_no_gpu(installed_versions(), sys.platform, platform.machine(), sys.version_info[:3])
    # The branch this box's own facts select (the nvidia-smi lookup is the function's, left to its default).
    machine, nvidia = platform.machine().lower(), shutil.which("nvidia-smi") is not None
    if sys.platform.startswith("linux") and machine in ("x86_64", "amd64") and not nvidia:
        assert text.startswith("CPU-only environment: no NVIDIA driver found (nvidia-smi is missing)")
    elif sys.platform.startswith("linux") and machine in ("x86_64", "amd64"):
        assert "NVIDIA driver" in text and "CPU-only" not in text
    elif sys.platform.startswith("linux"):
        assert f"Linux {platform.machine()} wheels are CPU-only" in text
    elif sys.platform == "darwin" and machine == "arm64":
        assert "tensorflow-metal" in text or "Python" in text or "TensorFlow is not installed" in text
    else:
        assert "CPU" in text


# ---------------------------------------------------------------- the probe


def test_interpret_symbol_not_found() -> None:
    result = interpret_probe(1, "", (FIXTURES / "probe_symbol_not_found_tf218_metal110.txt").read_text())
    assert result.status == "plugin-mismatch"
    assert "__ZN3tsl8internal10LogMessageC1EPKcii" in result.message
    assert result.fix == MAC_FIX
    assert not result.has_gpu
    assert "Expected in:" in result.detail


def test_interpret_flat_namespace() -> None:
    result = interpret_probe(1, "", (FIXTURES / "probe_flat_namespace.txt").read_text())
    assert result.status == "plugin-mismatch" and "_TF_AllocateOutput" in result.message


def test_interpret_library_not_loaded() -> None:
    result = interpret_probe(1, "", (FIXTURES / "probe_library_not_loaded.txt").read_text())
    assert result.status == "plugin-mismatch"
    assert "@rpath/libtensorflow_framework.2.dylib" in result.message and result.fix == MAC_FIX


@pytest.mark.parametrize(
    ("fixture", "words"),
    [
        # TF 2.19 beside tensorflow-metal 1.1.0: a missing symbol.
        ("probe_tf219_metal110_symbol.txt", ["__ZN3tsl8internal10LogMessageC1EPKcii", "does not export"]),
        # TF 2.20 / 2.21 beside tensorflow-metal 1.2.0: the ABI change, never "a library is missing".
        # The 2.20/2.21 wheels still ship _pywrap_tensorflow_internal.so; its symbols moved (issue 25).
        ("probe_tf220_metal120_pywrap.txt", ["TensorFlow 2.20 changed its ABI", "_pywrap_tensorflow_internal.so",
                                              "lib_pywrap_tensorflow_common", "loads with TensorFlow 2.16, 2.18 or 2.19"]),
        ("probe_tf221_metal120_pywrap.txt", ["TensorFlow 2.20 changed its ABI", "2.16, 2.18 or 2.19"]),
    ],
)
def test_interpret_failures_by_tensorflow_release(fixture: str, words: list[str]) -> None:
    result = interpret_probe(1, "", (FIXTURES / fixture).read_text())
    assert result.status == "plugin-mismatch" and result.fix == MAC_FIX
    for word in words:
        assert word in result.message
    assert "is missing" not in result.message and "no longer ships" not in result.message
    assert "\n" not in result.message


def test_the_abi_message_names_the_installed_plugin() -> None:
    # tensorflow-metal 1.1.0 with TF 2.20+ fails the same way; the message must not call it 1.2.0 (issue 25).
    stderr = (FIXTURES / "probe_tf221_metal120_pywrap.txt").read_text()
    old = interpret_probe(1, 'SIMPLENN_METAL "1.1.0"\n', stderr).message
    assert "tensorflow-metal 1.1.0 loads with TensorFlow 2.13, 2.14, 2.15, 2.16 or 2.17" in old
    assert "tensorflow-metal 1.2.0, its last release, loads with TensorFlow 2.16, 2.18 or 2.19" in old
    new = interpret_probe(1, "", stderr, metal="1.2.0").message
    assert "the symbols tensorflow-metal 1.2.0 binds" in new and "1.1.0" not in new


def test_the_probe_child_names_its_plugin_before_importing(tmp_path: Path) -> None:
    # A fake child naming tensorflow-metal 1.1.0; then the real probe code up to its import, where none is installed.
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\necho 'SIMPLENN_METAL \"1.1.0\"'\ncat >&2 <<'EOF'\n"
                    f"{(FIXTURES / 'probe_tf220_metal120_pywrap.txt').read_text()}EOF\nexit 1\n")
    fake.chmod(0o755)
    assert "tensorflow-metal 1.1.0 loads with" in probe_metal_plugin(str(fake), timeout=10).message
    assert 'SIMPLENN_METAL null' in subprocess.run([sys.executable, "-c", preflight_module._PROBE_CODE.split("import tensorflow")[0]],
                                                   capture_output=True, text=True, timeout=60).stdout


def test_interpret_gpu_found() -> None:
    result = interpret_probe(0, (FIXTURES / "probe_gpu_stdout.txt").read_text(),
                             (FIXTURES / "probe_gpu_stderr.txt").read_text())
    assert result.status == "gpu" and result.has_gpu
    assert result.tf_version == "2.18.1" and result.gpus == ("/physical_device:GPU:0",)


def test_interpret_no_gpu_no_tf_crash_timeout() -> None:
    no_gpu = interpret_probe(0, 'SIMPLENN_PROBE {"tf": "2.21.0", "gpus": []}\n', "cuInit failed\n")
    assert no_gpu.status == "no-gpu" and no_gpu.tf_version == "2.21.0"
    no_tf = interpret_probe(1, "", (FIXTURES / "probe_no_tensorflow.txt").read_text())
    assert no_tf.status == "import-failed" and "not installed" in no_tf.message
    crash = interpret_probe(-6, "", "libc++abi: terminating\n")
    assert crash.status == "crashed" and "signal 6" in crash.message
    timeout = interpret_probe(None, "", "", timeout_s=60)
    assert timeout.status == "timeout" and "60 s" in timeout.message
    other = interpret_probe(1, "", "Traceback ...\nImportError: numpy.core.multiarray failed to import\n")
    assert other.status == "import-failed" and other.message.endswith("numpy.core.multiarray failed to import")


def test_probe_runs_a_child(tmp_path: Path) -> None:
    # A fake "python" that behaves like a broken Metal install: the real probe path, no TensorFlow needed.
    fake = tmp_path / "python"
    stderr = (FIXTURES / "probe_symbol_not_found_tf218_metal110.txt").read_text()
    fake.write_text(f"#!/bin/sh\ncat >&2 <<'EOF'\n{stderr}EOF\nexit 1\n")
    fake.chmod(0o755)
    assert probe_metal_plugin(str(fake), timeout=10).status == "plugin-mismatch"
    assert probe_metal_plugin(str(tmp_path / "missing"), timeout=10).status == "import-failed"
    slow = tmp_path / "slow"
    slow.write_text("#!/bin/sh\nsleep 5\n")
    slow.chmod(0o755)
    assert probe_metal_plugin(str(slow), timeout=0.3).status == "timeout"


def test_installed_versions_never_imports_tensorflow() -> None:
    already = "tensorflow" in sys.modules
    versions = installed_versions()
    assert set(versions) == set(compat.PACKAGES)
    assert versions["tensorflow-metal"] is None or sys.platform == "darwin"
    assert versions["numpy"] is not None
    if not already:
        assert "tensorflow" not in sys.modules


@pytest.mark.slow
def test_probe_with_the_real_tensorflow() -> None:
    # Imports TensorFlow in a child (~5 s); proves the probe's own code runs against a real install.
    versions = installed_versions()
    if versions["tensorflow"] is None:
        pytest.skip("TensorFlow is not installed in this venv")
    result = probe_metal_plugin(timeout=120)
    assert result.status in ("gpu", "no-gpu"), result
    assert result.tf_version == versions["tensorflow"]


# ---------------------------------------------------------------- preflight (the guard run before a sweep)

def test_preflight_turns_a_broken_plugin_into_a_fatal_message_with_the_fix():

    seen = []

    def probe():
        seen.append(1)
        return ProbeResult("plugin-mismatch", "tensorflow-metal does not match", MAC_FIX)

    verdict = preflight({"tensorflow": "2.18.1", "tensorflow-metal": "1.1.0"}, "Darwin", "arm64", (3, 11), probe=probe)
    assert seen and verdict.fatal.startswith("tensorflow-metal does not match") and MAC_FIX in verdict.fatal
    assert any("known to fail" in w for w in verdict.warnings)


def test_preflight_explains_a_missing_gpu_and_never_probes_off_the_mac():

    verdict = preflight({"tensorflow": "2.18.1", "tensorflow-metal": None}, "Darwin", "arm64", (3, 12),
                        probe=lambda: ProbeResult("no-gpu", "no GPU"))
    assert verdict.fatal is None and any(w.startswith("no Metal GPU visible") for w in verdict.warnings)

    def must_not_run():
        raise AssertionError("probed on Linux")

    assert preflight({"tensorflow": "2.21.0"}, "Linux", "x86_64", (3, 11), probe=must_not_run).fatal is None
