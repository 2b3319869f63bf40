"""`run --preset NAME`: the preset is the base of the grid, --config and flags override it, run.json says which."""
from __future__ import annotations

import pytest

from simplenn import cli
from simplenn.cli.run import build_config, preset_meta
from simplenn.sweep.presets import load_preset


def _args(*argv: str):
    return cli.build_parser().parse_args(["run", *argv])


def test_preset_sets_the_grid_and_flags_override_it():
    standard = load_preset("standard")
    plain = build_config(_args("--preset", "standard"))
    assert list(plain.batch_sizes) == standard.config["batch_sizes"]
    assert list(plain.impls) == standard.config["impls"] and plain.settings.min_time_s == standard.config["min_time"]
    assert plain.wide_hidden == ()  # every width at every batch size
    config = build_config(_args("--preset", "standard", "--devices", "cpu", "--min-time", "0.1"))
    assert config.devices == ("cpu",) and config.settings.min_time_s == 0.1
    assert list(config.batch_sizes) == standard.config["batch_sizes"]
    assert preset_meta(_args("--preset", "standard", "--devices", "cpu")) == {
        "name": "standard", "version": standard.version, "overrides": ["devices"]}
    assert preset_meta(_args("--preset", "standard"))["overrides"] == []
    assert preset_meta(_args()) is None


def test_config_file_overrides_the_preset_and_is_recorded(tmp_path):
    toml = tmp_path / "sweep.toml"
    toml.write_text("batch_sizes = [4, 64]\nrounds = 2\n")
    args = _args("--preset", "standard", "--config", str(toml), "--rounds", "3")
    config = build_config(args)
    assert config.batch_sizes == (4, 64) and config.rounds == 3  # flags over --config over the preset
    assert preset_meta(args)["overrides"] == ["batch_sizes", "rounds"]


@pytest.mark.parametrize("argv, message", [
    (["--preset", "nope"], "invalid choice: 'nope' (choose from 'quick', 'standard', 'sustained')"),
    (["--preset", "standard", "--quick"], "--preset standard and --quick each pick a base grid"),
    (["--resume", "somewhere", "--preset", "standard"], "--resume continues the stored grid"),
])
def test_bad_preset_flags_exit_2(argv, message, capsys):
    try:
        code = cli.main(["run", *argv])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    assert code == 2 and message in capsys.readouterr().err
