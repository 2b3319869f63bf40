"""`simplenn-bench info` on a Mac: the chip, clusters by name, power, thermal pressure, and one line per setup warning."""

from __future__ import annotations

from simplenn.system import machine
from simplenn.cli.info import format_mac

M5_MAX = {"os": "macOS", "chip": "Apple M5 Max", "model": "Mac17,7", "cpu_clusters": {"Super": 6, "Performance": 12},
          "gpu_cores": 40, "power_source": "battery", "battery_percent": 80, "low_power_mode": True,
          "thermal": "heavy", "rosetta": False, "versions": {"tensorflow": "2.18.1", "tensorflow-metal": "1.2.0"}}


def test_format_mac_names_the_clusters_and_the_thermal_source() -> None:
    text = format_mac(M5_MAX)
    assert "Apple M5 Max (Mac17,7)" in text and "6 Super + 12 Performance" in text
    assert "Low Power Mode on" in text and "thermal pressure heavy (notifyutil)" in text


def test_format_mac_unknowns_stay_unknown() -> None:
    text = format_mac({"os": "macOS", "chip": machine.UNKNOWN_APPLE_CHIP, "thermal": "unknown"})
    assert "unknown Apple chip" in text and "CPU unknown" in text
    assert "Low Power Mode unknown" in text and "thermal pressure unknown" in text


def test_setup_warnings_for_this_mac_are_one_line_each() -> None:
    warnings = machine.setup_warnings(M5_MAX, (3, 12, 7))
    assert [w.split(":")[0] for w in warnings] == ["Running on battery (80 %)", "Low Power Mode is on",
                                                   "Thermal pressure heavy"]
    assert all("\n" not in w for w in warnings)
