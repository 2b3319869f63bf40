"""The machine fingerprint: each parser on captured macOS/Linux output, and fingerprint() on this box."""

from __future__ import annotations

import json
import shutil
import subprocess
import socket
import sys
from pathlib import Path

import pytest

from simplenn import machine
from simplenn.machine import (
    chip_from_brand,
    fingerprint,
    make_label,
    parse_gpu_cores,
    parse_perflevels,
    parse_pmset_batt,
    parse_pmset_therm,
    parse_proc_cpuinfo,
    parse_sysctl_brand,
    preflight_warnings,
    tf_environment,
)

FIXTURES = Path(__file__).parent / "fixtures"


def mac(name: str) -> str:
    return (FIXTURES / "macos" / name).read_text()


def linux(name: str) -> str:
    return (FIXTURES / "linux" / name).read_text()


@pytest.mark.parametrize(
    ("fixture", "brand", "chip"),
    [
        ("sysctl_brand_m1.txt", "Apple M1", "Apple M1"),
        ("sysctl_brand_m2pro.txt", "Apple M2 Pro", "Apple M2 Pro"),
        # A chip newer than this code is still reported by its own name.
        ("sysctl_brand_m9ultra_unknown.txt", "Apple M9 Ultra", "Apple M9 Ultra"),
        ("sysctl_brand_intel.txt", "Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz", None),
        # Rosetta 2 hides the chip behind a fake brand: not an Apple chip as far as TensorFlow is concerned.
        ("sysctl_brand_rosetta.txt", "VirtualApple @ 2.50GHz processor", None),
        ("sysctl_brand_named.txt", "Apple M1 Max", "Apple M1 Max"),
    ],
)
def test_sysctl_brand_and_chip(fixture: str, brand: str, chip: str | None) -> None:
    assert parse_sysctl_brand(mac(fixture)) == brand
    assert chip_from_brand(brand) == chip


def test_sysctl_brand_empty() -> None:
    assert parse_sysctl_brand("") is None
    assert parse_sysctl_brand(None) is None
    assert chip_from_brand(None) is None


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("sysctl_perflevels_m1.txt", (4, 4)),
        ("sysctl_perflevels_m2pro.txt", (8, 4)),
        ("sysctl_perflevels_m1ultra.txt", (16, 4)),
        ("sysctl_perflevels_values_only.txt", (6, 4)),
    ],
)
def test_perflevels(fixture: str, expected: tuple[int, int]) -> None:
    assert parse_perflevels(mac(fixture)) == expected


def test_perflevels_missing() -> None:
    # Intel Macs have no perflevel sysctls; the probe returns None.
    assert parse_perflevels(None) == (None, None)
    assert parse_perflevels("hw.perflevel0.physicalcpu: 8\n") == (8, None)


@pytest.mark.parametrize(
    ("fixture", "cores"),
    [
        ("system_profiler_displays_m1.json", 8),
        ("system_profiler_displays_m2pro.json", 19),
        ("system_profiler_displays_headless_m1ultra.json", 48),
        ("system_profiler_displays_intel.json", None),  # Intel/AMD GPUs report no core count
        ("system_profiler_empty.json", None),
    ],
)
def test_gpu_cores(fixture: str, cores: int | None) -> None:
    assert parse_gpu_cores(mac(fixture)) == cores


def test_gpu_cores_odd_json() -> None:
    assert parse_gpu_cores("{}") is None
    assert parse_gpu_cores('{"SPDisplaysDataType": "oops"}') is None
    assert parse_gpu_cores('{"SPDisplaysDataType": [{"sppci_cores": "many"}, {"sppci_cores": "10"}]}') == 10


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("pmset_batt_ac_charged.txt", ("ac", 100)),
        ("pmset_batt_discharging.txt", ("battery", 63)),
        ("pmset_batt_discharging_no_estimate.txt", ("battery", 9)),
        ("pmset_batt_ac_not_charging.txt", ("ac", 80)),
        ("pmset_batt_desktop_no_battery.txt", ("ac", None)),  # Mac mini / Studio
        ("pmset_batt_ups.txt", ("battery", 87)),
    ],
)
def test_pmset_batt(fixture: str, expected: tuple[str, int | None]) -> None:
    assert parse_pmset_batt(mac(fixture)) == expected


def test_pmset_batt_unknown() -> None:
    assert parse_pmset_batt(None) == ("unknown", None)
    assert parse_pmset_batt("something else\n") == ("unknown", None)


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("pmset_therm_notes_only.txt", "nominal"),
        ("pmset_therm_nominal_power_notify.txt", "nominal"),
        ("pmset_therm_speed_limit_70.txt", "pressure: CPU_Speed_Limit=70"),
        # No warning recorded, yet clocks are capped: the cap wins.
        ("pmset_therm_no_warning_but_limited.txt", "pressure: CPU_Speed_Limit=35"),
        ("pmset_therm_scheduler_limited.txt", "pressure: CPU_Scheduler_Limit=80, CPU_Speed_Limit=62"),
        ("pmset_therm_garbled.txt", "unknown"),
    ],
)
def test_pmset_therm(fixture: str, expected: str) -> None:
    assert parse_pmset_therm(mac(fixture)) == expected


def test_pmset_therm_levels() -> None:
    assert parse_pmset_therm("") == "unknown"
    assert parse_pmset_therm(None) == "unknown"
    assert parse_pmset_therm("Thermal Warning Level = 2\n") == "pressure: thermal warning level 2"
    assert parse_pmset_therm("Thermal Warning Level = 0\n") == "nominal"


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("proc_cpuinfo_x86_64.txt", "Intel(R) Xeon(R) CPU @ 2.20GHz"),
        ("proc_cpuinfo_raspberrypi.txt", "Raspberry Pi 4 Model B Rev 1.1"),
    ],
)
def test_proc_cpuinfo(fixture: str, expected: str) -> None:
    assert parse_proc_cpuinfo(linux(fixture)) == expected


def test_proc_cpuinfo_empty() -> None:
    assert parse_proc_cpuinfo("") is None
    assert parse_proc_cpuinfo("processor\t: 0\nmodel\t\t: 85\n") is None


def test_make_label() -> None:
    assert make_label("Apple M2 Pro", "Apple M2 Pro", "Darwin", "arm64") == "Apple M2 Pro"
    assert make_label("Intel(R) Xeon(R) CPU @ 2.20GHz", None, "Linux", "x86_64") == (
        "Intel(R) Xeon(R) CPU @ 2.20GHz (Linux x86_64)"
    )
    assert make_label("Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz", None, "Darwin", "x86_64") == (
        "Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz (macOS x86_64)"
    )
    assert make_label(None, None, "Linux", "aarch64") == "unknown CPU (Linux aarch64)"


def test_preflight_warnings() -> None:
    assert preflight_warnings({"power_source": "ac", "thermal": "nominal"}) == []
    assert preflight_warnings({"power_source": "unknown", "thermal": "unknown"}) == []
    warnings = preflight_warnings(
        {"power_source": "battery", "battery_percent": 63, "thermal": "pressure: CPU_Speed_Limit=70"}
    )
    assert len(warnings) == 2
    assert "battery (63 %)" in warnings[0]
    assert "CPU_Speed_Limit=70" in warnings[1]


def test_tf_environment_keeps_tensorflow_drops_terraform() -> None:
    environ = {
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "TF_NUM_INTRAOP_THREADS": "4",
        "TF_CLI_CONFIG_FILE": "/root/.terraformrc",
        "TF_TOKEN_app_terraform_io": "abc.atlasv1.secret",
        "TF_VAR_db_password": "hunter2",
        "TF_LOG": "DEBUG",
        "TF_SOME_AUTH_TOKEN": "xyz",
        "OMP_NUM_THREADS": "4",
        "PATH": "/usr/bin",
    }
    assert tf_environment(environ) == {
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "TF_NUM_INTRAOP_THREADS": "4",
        "TF_SOME_AUTH_TOKEN": "<redacted>",
    }


def test_run_is_silent_on_failure() -> None:
    assert machine._run(["definitely-not-a-command-xyz"]) is None
    assert machine._run([sys.executable, "-c", "raise SystemExit(3)"]) is None
    assert machine._run([sys.executable, "-c", "import time; time.sleep(5)"], timeout_s=0.2) is None
    assert machine._run([sys.executable, "-c", "print('hi')"]) == "hi\n"


# ---------------------------------------------------------------- fingerprint() on this box

EXPECTED_KEYS = {
    "label", "cpu_model", "chip", "cores_logical", "cores_physical", "cores_performance", "cores_efficiency",
    "gpu_cores", "ram_bytes", "os", "os_version", "arch", "python", "versions", "threads", "tf_env",
    "power_source", "battery_percent", "thermal", "git_commit", "git_dirty", "rosetta",
}


@pytest.fixture(scope="module")
def fp() -> dict:
    return fingerprint()


def test_fingerprint_keys_and_json(fp: dict) -> None:
    assert set(fp) == EXPECTED_KEYS
    assert json.loads(json.dumps(fp)) == fp


def test_fingerprint_sane_values(fp: dict) -> None:
    assert fp["cores_logical"] >= 1
    assert fp["ram_bytes"] > 2**28
    assert fp["power_source"] in ("ac", "battery", "unknown")
    assert fp["python"] == ".".join(map(str, sys.version_info[:3]))
    assert set(fp["versions"]) >= {"tensorflow", "keras", "tensorflow-metal", "numpy"}
    assert set(fp["threads"]) == {"OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"}
    assert all(k.startswith("TF_") for k in fp["tf_env"])
    assert isinstance(fp["label"], str) and fp["label"]
    if sys.platform != "darwin":
        assert fp["chip"] is None and fp["gpu_cores"] is None and fp["thermal"] == "unknown"
        assert fp["label"].endswith(f"({fp['os']} {fp['arch']})")
        assert fp["versions"]["tensorflow-metal"] is None


def test_fingerprint_has_no_hostname(fp: dict) -> None:
    host = socket.gethostname()
    text = json.dumps(fp)
    assert "hostname" not in text and "node" not in fp
    if len(host) >= 4:
        assert host not in text
        assert host.split(".")[0] not in text


def test_fingerprint_records_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "2")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    fp = fingerprint()
    assert fp["threads"]["TF_NUM_INTRAOP_THREADS"] == "2"
    assert fp["tf_env"]["TF_CPP_MIN_LOG_LEVEL"] == "3"


def test_fingerprint_git(tmp_path: Path) -> None:
    # Not a checkout: no commit, no dirty flag, no error.
    fp = fingerprint(tmp_path)
    assert fp["git_commit"] is None and fp["git_dirty"] is None


def test_no_mac_commands_on_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    if sys.platform == "darwin":
        pytest.skip("checks the non-mac path")
    ran: list[list[str]] = []
    real_run = machine._run

    def spy(cmd, *args, **kwargs):
        ran.append(list(cmd))
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(machine, "_run", spy)
    machine.fingerprint()
    machine.thermal_state()
    machine.power_source()
    assert {cmd[0] for cmd in ran} <= {"git"}


def test_fingerprint_git_checkout(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a.txt").write_text("1\n")
    subprocess.run([*git, "-C", str(tmp_path), "add", "a.txt"], check=True)
    subprocess.run([*git, "-C", str(tmp_path), "commit", "-q", "-m", "x"], check=True)
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    (tmp_path / "untracked.json").write_text("{}")
    fp = fingerprint(tmp_path)
    assert fp["git_commit"] == head and len(head) == 40
    assert fp["git_dirty"] is False  # untracked results do not make the code dirty
    (tmp_path / "a.txt").write_text("2\n")
    assert fingerprint(tmp_path)["git_dirty"] is True
