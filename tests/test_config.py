"""`load_config`: one precedence ladder below the CLI, one check per key, defaults written once, one error path."""
from __future__ import annotations

from dataclasses import fields

import pytest

from simplenn.cli.run import FIELD_FLAGS, as_flag, build_config
from simplenn.core.errors import FieldError
from simplenn.measure.cell import Settings
from simplenn.measure.stop import StopRule
from simplenn.sweep import config
from simplenn.sweep.config import KEYS, SweepConfig, load_config, preset_meta
from simplenn.sweep.presets import available, load_preset


def test_precedence_defaults_preset_toml_overrides_without_argparse(tmp_path):
    toml = tmp_path / "sweep.toml"
    toml.write_text("batch_sizes = [4, 64]\nrounds = 2\nmin_time = 0.2\n")
    assert load_config() == SweepConfig()
    standard = load_config("standard")
    assert list(standard.batch_sizes) == load_preset("standard").config["batch_sizes"]
    layered = load_config("standard", toml, {"rounds": 3, "devices": "CPU:0", "seed": None})
    assert layered.batch_sizes == (4, 64) and layered.settings.min_time_s == 0.2  # the file over the preset
    assert layered.rounds == 3 and layered.devices == ("CPU:0",)  # overrides over the file; None is "not given"
    assert layered.impls == standard.impls  # what nothing above the preset sets
    assert preset_meta("standard", toml, {"rounds": 3}) == {
        "name": "standard", "version": load_preset("standard").version, "overrides": ["batch_sizes", "min_time",
                                                                                      "rounds"]}
    assert preset_meta(None, toml) is None


def test_overrides_take_flag_text_toml_values_or_checked_values_alike():
    as_text = load_config(overrides={"batch_sizes": "16,8", "widths": "100x30,64x64", "jit": "off,on", "min_time": "0.1"})
    as_toml = load_config(overrides={"batch_sizes": [16, 8], "widths": ["100x30", [64, 64]], "jit": [False, True],
                                     "min_time": 0.1})
    assert as_text == as_toml == load_config(overrides={"batch_sizes": (8, 16), "widths": ((100, 30), (64, 64)),
                                                         "jit": (False, True), "min_time": 0.1})


def test_a_layer_setting_widths_drops_the_wide_widths_below_it(tmp_path):
    assert load_config("quick").wide_hidden == ((256, 256),)
    assert load_config("quick", overrides={"widths": "8"}).wide_hidden == ()
    assert load_config("quick", overrides={"widths": "8", "wide_widths": "16x16"}).wide_hidden == ((16, 16),)


def test_quick_and_sustained_are_presets_the_flags_and_toml_switches_pick():
    assert {"quick", "sustained", "standard"} <= set(available())
    from simplenn.cli import build_parser

    for name in ("quick", "sustained"):
        assert build_config(build_parser().parse_args(["run", f"--{name}"])) == load_config(name)
        assert load_config(toml={name: True}) == load_config(name)
    quick, default = load_config("quick"), SweepConfig()
    assert set(quick.batch_sizes) < set(default.batch_sizes) and quick.settings.max_time_s < default.settings.max_time_s
    sustained = load_config("sustained")
    assert sustained.cooldown_s > 0 and sustained.batch_sizes == default.batch_sizes
    assert sustained.settings.min_time_s > default.settings.min_time_s


@pytest.mark.parametrize(("preset", "toml"), [(None, {"quick": True, "sustained": True}), ("standard", {"quick": True}),
                                              ("quick", {"sustained": True})])
def test_two_presets_at_once_are_refused_by_the_one_together_check(preset, toml):
    with pytest.raises(FieldError, match="each pick a base grid .*; choose one") as err:
        load_config(preset, toml)
    assert "--" not in str(err.value)  # flags only in the CLI: below it the message names fields …
    assert str(as_flag(err.value)).startswith("--preset " if preset else "sweep.toml: ")  # … the CLI names its flags


# ------------------------------------------------------------------------------------------- errors


def test_errors_name_the_key_below_the_cli_and_the_flag_in_it(tmp_path):
    with pytest.raises(FieldError) as err:
        load_config(overrides={"min_block_time": "0"})
    assert err.value.field == "min_block_time" and "must be a positive number of seconds" in err.value.detail
    assert str(as_flag(err.value)).startswith("--min-block-time: must be a positive number")
    toml = tmp_path / "sweep.toml"
    toml.write_text("rounds = 0\n")
    with pytest.raises(FieldError) as err:
        load_config(toml=toml)
    assert str(as_flag(err.value)) == "--config: key 'rounds': must be a positive integer, got 0"
    with pytest.raises(FieldError, match="^preset: 'nope' is not a preset"):
        load_config("nope")
    with pytest.raises(FieldError, match="^config: .* does not exist"):
        load_config(toml=tmp_path / "missing.toml")


def test_every_field_an_error_can_name_has_a_flag():
    named = set(config.FIELD_KEYS) | {k.name for k in KEYS} | {"config", "preset", "run_dir"}
    assert named <= set(FIELD_FLAGS) and all(flag.startswith("--") for flag in FIELD_FLAGS.values())


# ------------------------------------------------------------------------------- defaults in one place


def help_problems(keys=KEYS) -> list[str]:
    """Keys whose help text does not show their default (the default of SweepConfig or Settings)."""
    defaults = {**SweepConfig().to_dict()}
    problems = []
    for key in keys:
        if key.default != defaults[key.grid_key]:
            problems.append(f"{key.name}: default {key.default!r}, SweepConfig() has {defaults[key.grid_key]!r}")
        if config._shown(key.default) not in key.help_text:
            problems.append(f"{key.name}: help {key.help_text!r} does not show {config._shown(key.default)}")
    return problems


def test_every_key_shows_its_one_default_in_its_help():
    assert help_problems() == []


def test_the_default_check_fires_on_a_planted_help_text():
    from dataclasses import replace

    written = [replace(k, help="minimum timed seconds per cell (0.5)") if k.name == "min_time" else k for k in KEYS]
    assert help_problems(written) == ["min_time: help 'minimum timed seconds per cell (0.5)' does not show 0.3"]


def test_the_stop_rule_has_no_defaults_of_its_own():
    # It had min_time_s 0.0 where Settings had 0.3: a rule built without Settings timed cells for less.
    assert all(f.default is f.default_factory for f in fields(StopRule))  # both MISSING
    settings = Settings()
    rule = settings.stop_rule()
    assert {f.name: getattr(rule, f.name) for f in fields(StopRule)} == {
        f.name: getattr(settings, f.name) for f in fields(StopRule)}
