"""Named presets: the standard grid loads, covers what it promises, and is read by `run --config` unchanged."""
from __future__ import annotations

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import pytest

from simplenn.sweep import presets
from simplenn.core.cases import MODES
from simplenn.measure.runners import IMPLS
from simplenn.core.errors import UsageError
from simplenn.sweep import expand, load_config
from simplenn.sweep.config import CONFIG_KEYS


def _config_via_toml(preset: presets.Preset, tmp_path: Path):
    """The preset's grid written as a sweep.toml and read as `run --config` reads it."""
    lines = []
    for key, value in preset.config.items():
        lines.append(f"{key} = {value!r}".replace("'", '"').replace("True", "true").replace("False", "false"))
    path = tmp_path / "sweep.toml"
    path.write_text("\n".join(lines) + "\n")
    assert tomllib.loads(path.read_text()) == preset.config
    return load_config(toml=path)


def test_standard_preset_is_listed_and_versioned():
    assert "standard" in presets.available()
    p = presets.load_preset("standard")
    assert p.name == "standard" and isinstance(p.version, int) and p.version >= 1
    assert p.to_meta() == {"name": "standard", "version": p.version}


def test_standard_preset_covers_the_promised_grid(tmp_path):
    config = _config_via_toml(presets.load_preset("standard"), tmp_path)
    assert config.devices == ("all",)
    assert min(config.batch_sizes) == 1 and max(config.batch_sizes) == 8192 and {32, 2048} <= set(config.batch_sizes)
    assert set(config.hidden) | set(config.wide_hidden) == {(100, 30), (256, 256), (1024, 1024)}
    assert set(config.modes) == set(MODES) and set(config.impls) == set(IMPLS)
    cases = expand(config, ["CPU:0", "GPU:0"])
    # Every width at every batch size, on both devices: the cells any two machines share.
    assert {(c.batch_size, c.layer_sizes[1:-1]) for c in cases} == {(b, h) for b in config.batch_sizes for h in config.hidden}
    assert len(cases) == len(config.batch_sizes) * 3 * len(MODES) * len(IMPLS) * 2


def test_unknown_preset_names_the_allowed_values():
    with pytest.raises(UsageError, match=r"preset: 'quick-ish' is not a preset; allowed values: quick, standard, sustained"):
        presets.load_preset("quick-ish")


@pytest.mark.parametrize("text, message", [
    ('[preset]\nname = "x"\nversion = 1\n[grid]\nbatch_size = [1]\n', r"unknown \[grid\] keys \['batch_size'\]"),
    ('[preset]\nname = "x"\nversion = 0\n[grid]\n', "version must be a positive integer"),
    ('[preset]\nname = "other"\nversion = 1\n[grid]\n', "must match the file name"),
    ('[grid]\nseed = 1\n', r"needs exactly a \[preset\] and a \[grid\] table"),
])
def test_malformed_presets_are_refused(text, message):
    with pytest.raises(UsageError, match=message):
        presets._validate("x", tomllib.loads(text), CONFIG_KEYS)


def test_standard_preset_fits_five_minutes_on_an_m1_air_by_the_documented_estimate():
    # bench/preset_time.py is the model of results/README.md; a grid change that breaks the budget fails here.
    from bench.preset_time import estimate

    minutes = estimate("standard")
    assert {k: cells for k, (_, cells) in minutes.items()} == {"default": 90, "peers": 180}
    assert all(m <= 5.0 for m, _ in minutes.values()), minutes
    assert minutes["peers"][0] > minutes["default"][0]
