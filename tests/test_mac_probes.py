"""The macOS probes end to end, with fake tools standing in for sysctl, ioreg, system_profiler, pmset, notifyutil and
sw_vers: absolute tool paths (a launchd or self-hosted-runner shell has a short PATH), `sysctl -i` on macOS 12, and
the IORegistry GPU core count when system_profiler says nothing.

Each fake answers from a captured or reconstructed fixture (tests/fixtures/macos/, each with its source) and uses
shell built-ins only, so it runs with an empty PATH.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from simplenn.system import machine
from simplenn.system.macos import MAC_TOOLS, parse_ioreg_gpu_cores

FIXTURES = Path(__file__).parent / "fixtures" / "macos"

# Prints a fixture without its "# real/reconstructed" header, with shell built-ins only.
_PRINT = '''print_fixture() {
    while IFS= read -r line; do
        case "$line" in "# "*) ;; *) printf '%s\\n' "$line" ;; esac
    done < "$1"
}
'''

# Answers like macOS's sysctl: "name: value" (or the value with -n) for each known name; an unknown name is an error
# on stderr and a non-zero exit, unless -i is given (archspec/archspec#233: "-i ignores unknown variable names").
_SYSCTL = '''status=0; values=0; ignore=0
for arg in "$@"; do
    case "$arg" in -n) values=1; continue ;; -i) ignore=1; continue ;; esac
    found=""
    while IFS= read -r line; do
        case "$line" in "$arg: "*) found="${line#"$arg: "}" ;; esac
    done < "$TABLE"
    if [ -n "$found" ]; then
        if [ "$values" = 1 ]; then printf '%s\\n' "$found"; else printf '%s: %s\\n' "$arg" "$found"; fi
    elif [ "$ignore" = 0 ]; then
        printf "sysctl: unknown oid '%s'\\n" "$arg" >&2; status=1
    fi
done
exit $status
'''


def _tool(bin_dir: Path, name: str, body: str) -> str:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n# fake {name} for tests/test_mac_probes.py\n{_PRINT}{body}")
    path.chmod(0o755)
    return str(path)


@pytest.fixture()
def fake_mac(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An M1 Pro on macOS 12 whose system_profiler prints nothing, its tools at absolute paths, PATH empty."""
    tools = tmp_path / "usr-sbin-and-usr-bin"
    tools.mkdir()
    fixture = {name: FIXTURES / f for name, f in {
        "ioreg": "ioreg_agxaccelerator_m1pro.txt", "notifyutil": "notifyutil_thermal_nominal.txt",
        "batt": "pmset_batt_ac_charged.txt", "pmset": "pmset_g_lowpowermode_off.txt",
        "sw_vers": "sw_vers_productversion.txt", "sysctl": "sysctl_macos12_m1pro.txt"}.items()}
    bodies = {
        "sysctl": f"TABLE='{fixture['sysctl']}'\n{_SYSCTL}",
        "system_profiler": "exit 0\n",  # empty, as on GitHub's macOS runners (modular/rules_mojo#56)
        "ioreg": f"print_fixture '{fixture['ioreg']}'\n",
        "notifyutil": f"print_fixture '{fixture['notifyutil']}'\n",
        "pmset": f"""case "$2" in batt) print_fixture '{fixture["batt"]}' ;; *) print_fixture '{fixture["pmset"]}' ;; esac\n""",
        "sw_vers": f"print_fixture '{fixture['sw_vers']}'\n",
    }
    assert set(bodies) == set(MAC_TOOLS)
    for name, body in bodies.items():
        monkeypatch.setitem(MAC_TOOLS, name, _tool(tools, name, body))
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # a launchd job's PATH holds none of the tools
    monkeypatch.setattr(machine, "_is_mac", lambda: True)
    monkeypatch.setattr(machine.platform, "machine", lambda: "arm64")
    return tools


def test_every_mac_tool_is_an_absolute_path() -> None:
    assert all(path.startswith(("/usr/sbin/", "/usr/bin/")) for path in MAC_TOOLS.values())


def test_probes_find_their_tools_without_path(fake_mac: Path) -> None:
    facts = machine._mac_facts()
    assert facts["cpu_model"] == facts["chip"] == "Apple M1 Pro"
    assert facts["model"] == "MacBookPro18,3" and facts["rosetta"] is False and facts["low_power_mode"] is False
    assert facts["os_version"] == "14.6.1"
    assert machine.thermal_state() == "nominal"
    assert machine.power_source() == "ac"


def test_macos_12_clusters_come_from_sysctl_i(fake_mac: Path) -> None:
    # hw.perflevelN.name does not exist on macOS 12: without -i sysctl fails the whole query and no cluster is read.
    clusters = machine._mac_facts()["cpu_clusters"]
    assert clusters == {"perflevel0": 8, "perflevel1": 2}


def test_gpu_cores_fall_back_to_the_ioregistry(fake_mac: Path) -> None:
    assert machine._mac_facts()["gpu_cores"] == 16


def test_every_command_the_mac_fingerprint_runs_is_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    monkeypatch.setattr(machine, "_is_mac", lambda: True)
    monkeypatch.setattr(machine, "_run", lambda cmd, *a, **k: ran.append(cmd[0]))
    machine.fingerprint(Path(sys.prefix))
    assert {c for c in ran if c != "git"} <= set(MAC_TOOLS.values()) and len(ran) > 5


@pytest.mark.parametrize(("text", "cores"), [
    ((FIXTURES / "ioreg_agxaccelerator_m1pro.txt").read_text(), 16),
    ('"gpu-core-count"=40', 40),
    ("", None),  # a virtual Mac's paravirtual GPU is no AGXAccelerator: nothing is invented
    (None, None),
])
def test_parse_ioreg_gpu_cores(text: str | None, cores: int | None) -> None:
    assert parse_ioreg_gpu_cores(text) == cores
