"""Configuration values are type-checked the same way from a flag and from TOML."""
from __future__ import annotations

import argparse

import pytest

from simplenn.core import validate
from simplenn.core.errors import UsageError


@pytest.mark.parametrize("value", [-1, "abc", "5", 1.5, True, None, float("nan")])
def test_seed_must_be_a_non_negative_integer(value):
    with pytest.raises(UsageError, match=r"^--config: sweep.toml: key 'seed': must be an integer ≥ 0, got "):
        validate.seed(value, "--config: sweep.toml: key 'seed'")


def test_good_seeds_pass():
    assert validate.seed(0) == 0 and validate.seed(2**40) == 2**40


@pytest.mark.parametrize("value", ["no", "false", 0, 1, "", None])
def test_booleans_must_be_real_booleans(value):
    with pytest.raises(UsageError, match=r"^--config: key 'quick': must be true or false \(without quotes\), got "):
        validate.boolean(value, "--config: key 'quick'")
    assert validate.boolean(False, "quick") is False and validate.boolean(True, "quick") is True


def test_seconds_and_counts():
    assert validate.seconds(1, "--min-time") == 1.0 and validate.non_negative_seconds(0, "--cooldown") == 0.0
    for bad in (0, -1, float("inf"), float("nan"), "0.5", True):
        with pytest.raises(UsageError, match="^--min-time: must be a positive number of seconds"):
            validate.seconds(bad, "--min-time")
    with pytest.raises(UsageError, match="^--cooldown: must be a number of seconds ≥ 0"):
        validate.non_negative_seconds(-0.1, "--cooldown")
    assert validate.positive_int(3, "--rounds") == 3
    with pytest.raises(UsageError, match="^--rounds: must be a positive integer, got 0$"):
        validate.positive_int(0, "--rounds")


def test_flag_text_goes_through_the_same_check():
    parser = argparse.ArgumentParser(prog="p", exit_on_error=False)
    parser.add_argument("--seed", type=validate.flag(validate.seed))
    parser.add_argument("--min-time", type=validate.flag(validate.seconds))
    args = parser.parse_args(["--seed", "7", "--min-time", "0.25"])
    assert (args.seed, args.min_time) == (7, 0.25)
    for argv, words in ((["--seed", "-1"], "must be an integer ≥ 0, got -1"),
                        (["--seed", "abc"], "must be an integer ≥ 0, got 'abc'"),
                        (["--seed", "1.5"], "must be an integer ≥ 0, got 1.5"),
                        (["--min-time", "nan"], "must be a positive number of seconds")):
        with pytest.raises(argparse.ArgumentError, match=words) as e:
            parser.parse_args(argv)
        assert str(e.value).startswith(f"argument {argv[0]}: must")  # argparse names the flag once


def test_literal_reads_flag_text_like_toml_scalars():
    assert validate.literal("3") == 3 and validate.literal("-3") == -3
    assert validate.literal("0.5") == 0.5 and validate.literal(" x ") == "x"
