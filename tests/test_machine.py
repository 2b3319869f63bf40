"""The machine fingerprint: each parser on captured macOS/Linux output, and fingerprint() on this box."""

from __future__ import annotations

import json
import shutil
import subprocess
import socket
import sys
from pathlib import Path

import pytest

from simplenn.measure.runners import PACKAGES
from simplenn.system import machine
from simplenn.system.machine import (
    chip_from_brand,
    fingerprint,
    make_label,
    parse_gpu_cores,
    parse_clusters,
    parse_hardware_chip,
    parse_low_power_mode,
    parse_pmset_batt,
    parse_proc_cpuinfo,
    parse_sysctl_brand,
    parse_thermal_pressure,
    preflight_warnings,
    setup_warnings,
    tf_environment,
)

FIXTURES = Path(__file__).parent / "fixtures"


def mac(name: str) -> str:
    """A macOS fixture without its header lines ("# real: <source>" or "# reconstructed: ...")."""
    lines = (FIXTURES / "macos" / name).read_text().splitlines(keepends=True)
    while lines and lines[0].startswith("# "):
        lines.pop(0)
    return "".join(lines)


def test_every_macos_fixture_says_where_it_comes_from() -> None:
    for path in (FIXTURES / "macos").iterdir():
        assert path.read_text().startswith(("# real", "# reconstructed")), path.name


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


def test_generic_apple_processor_brand_names_no_chip() -> None:
    # Launch-era M1: machdep.cpu.brand_string is "Apple processor" (archspec/archspec#38).
    brand = parse_sysctl_brand(mac("sysctl_machdep_m1_launch.txt"))
    assert brand == "Apple processor"
    assert chip_from_brand(brand) is None


@pytest.mark.parametrize(
    ("fixture", "chip"),
    [("system_profiler_hardware_m1pro.txt", "Apple M1 Pro"), ("system_profiler_hardware_intel.txt", None)],
)
def test_hardware_chip(fixture: str, chip: str | None) -> None:
    assert parse_hardware_chip(mac(fixture)) == chip
    assert parse_hardware_chip(None) is None and parse_hardware_chip("      Chip: Apple processor\n") is None


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("sysctl_perflevels_m1.txt", {"Performance": 4, "Efficiency": 4}),
        ("sysctl_perflevels_m2pro.txt", {"Performance": 8, "Efficiency": 4}),
        ("sysctl_perflevels_m1ultra.txt", {"Performance": 16, "Efficiency": 4}),
        # M5: "Super" cores; M5 Pro/Max: Super + Performance and no efficiency cores (pytorch/cpuinfo#424).
        ("sysctl_perflevels_m5.txt", {"Super": 4, "Efficiency": 6}),
        ("sysctl_perflevels_m5pro.txt", {"Super": 5, "Performance": 10}),
        ("sysctl_perflevels_m5max.txt", {"Super": 6, "Performance": 12}),
        ("sysctl_perflevels_no_names.txt", {"perflevel0": 8, "perflevel1": 2}),
    ],
)
def test_clusters(fixture: str, expected: dict[str, int]) -> None:
    clusters = parse_clusters(mac(fixture))
    assert clusters == expected
    assert list(clusters) == list(expected)  # fastest cluster first, as macOS numbers them


def test_clusters_missing() -> None:
    # Intel Macs have no perflevel sysctls.
    assert parse_clusters(None) == {}
    assert parse_clusters("hw.perflevel0.name: Super\n") == {}


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
        ("notifyutil_thermal_nominal.txt", "nominal"),
        ("notifyutil_thermal_moderate.txt", "moderate"),
        ("notifyutil_thermal_heavy.txt", "heavy"),
        ("notifyutil_thermal_trapping.txt", "trapping"),
        ("notifyutil_thermal_sleeping.txt", "sleeping"),
        ("notifyutil_thermal_unknown_number.txt", "10"),  # recorded as it is, never mapped to a level
    ],
)
def test_thermal_pressure(fixture: str, expected: str) -> None:
    assert parse_thermal_pressure(mac(fixture)) == expected


def test_thermal_pressure_unreadable_is_unknown_never_nominal() -> None:
    assert parse_thermal_pressure(None) == "unknown"  # notifyutil missing or failed
    assert parse_thermal_pressure("") == "unknown"
    assert parse_thermal_pressure("com.apple.system.thermalpressurelevel\n") == "unknown"
    assert parse_thermal_pressure("com.apple.system.other 0\n") == "unknown"


def test_thermal_state_without_notifyutil_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine, "_is_mac", lambda: True)
    monkeypatch.setenv("PATH", "/nonexistent")  # no notifyutil on PATH: the probe cannot start
    assert machine.thermal_state() == "unknown"


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("pmset_g_lowpowermode_on.txt", True),
        ("pmset_g_lowpowermode_off.txt", False),
        ("pmset_g_powermode_low.txt", True),
        ("pmset_g_powermode_high.txt", False),
        ("pmset_g_desktop_no_mode.txt", None),
    ],
)
def test_low_power_mode(fixture: str, expected: bool | None) -> None:
    assert parse_low_power_mode(mac(fixture)) is expected
    assert parse_low_power_mode(None) is None


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
    assert preflight_warnings({"power_source": "ac", "thermal": "nominal", "low_power_mode": False}) == []
    assert preflight_warnings({"power_source": "unknown", "thermal": "unknown"}) == []
    warnings = preflight_warnings({"power_source": "battery", "battery_percent": 63, "thermal": "heavy"})
    assert len(warnings) == 2
    assert "battery (63 %)" in warnings[0]
    assert "Thermal pressure heavy" in warnings[1]


MAC_OK = {"os": "macOS", "rosetta": False, "power_source": "ac", "low_power_mode": False, "thermal": "nominal",
          "versions": {"tensorflow": "2.18.1", "tensorflow-metal": "1.2.0", "tensorflow-macos": None}}


@pytest.mark.parametrize(
    ("change", "python", "words"),
    [
        ({"rosetta": True}, (3, 12), ["Rosetta", "arm64 Python"]),
        ({}, (3, 13), ["Python 3.13", "python3.12 -m venv"]),
        ({"versions": {"tensorflow": "2.16.2", "tensorflow-macos": "2.16.2"}}, (3, 12),
         ["tensorflow-macos 2.16.2", "pip uninstall"]),
        ({"low_power_mode": True}, (3, 12), ["Low Power Mode is on", "lowpowermode 0"]),
        ({"power_source": "battery", "battery_percent": 40}, (3, 12), ["battery (40 %)", "plug in"]),
    ],
)
def test_setup_warnings_one_line_each_with_the_fix(change: dict, python: tuple, words: list[str]) -> None:
    assert setup_warnings(MAC_OK, (3, 12)) == []
    warnings = setup_warnings({**MAC_OK, **change}, python)
    assert len(warnings) == 1 and "\n" not in warnings[0]
    for word in words:
        assert word in warnings[0]


def test_setup_warnings_off_the_mac() -> None:
    linux = {"os": "Linux", "rosetta": None, "power_source": "unknown", "low_power_mode": None, "versions": {}}
    assert setup_warnings(linux, (3, 13)) == []


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
    "model", "cpu_clusters", "low_power_mode",
}


@pytest.fixture(scope="module")
def fp() -> dict:
    return fingerprint(packages=PACKAGES)


def test_fingerprint_keys_and_json(fp: dict) -> None:
    assert set(fp) == EXPECTED_KEYS
    assert json.loads(json.dumps(fp)) == fp


def test_fingerprint_sane_values(fp: dict) -> None:
    assert fp["cores_logical"] >= 1
    assert fp["ram_bytes"] > 2**28
    assert fp["power_source"] in ("ac", "battery", "unknown")
    assert fp["python"] == ".".join(map(str, sys.version_info[:3]))
    assert set(fp["versions"]) >= {"tensorflow", "keras", "tensorflow-metal", "numpy", "jax", "jaxlib", "mlx", "torch"}
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


@pytest.mark.skipif(sys.platform != "darwin", reason="calls the real macOS probes (sysctl, ioreg, pmset, notifyutil, "
                    "system_profiler); runs on the macos-15/macos-26 CI jobs")
def test_live_macos_probes_fill_the_fields() -> None:
    fp = fingerprint()
    assert fp["os"] == "macOS" and fp["os_version"]
    assert fp["cpu_model"] and fp["model"]
    assert fp["thermal"] in ("nominal", "moderate", "heavy", "trapping", "sleeping")  # notifyutil answered
    assert fp["power_source"] in ("ac", "battery", "unknown")
    assert fp["low_power_mode"] in (True, False, None)
    if fp["arch"] == "arm64":
        assert fp["chip"] and fp["chip"].startswith(("Apple M", machine.UNKNOWN_APPLE_CHIP))
        assert fp["cpu_clusters"] and all(n > 0 for n in fp["cpu_clusters"].values())
        assert sum(fp["cpu_clusters"].values()) <= fp["cores_physical"]
        assert fp["rosetta"] is False
