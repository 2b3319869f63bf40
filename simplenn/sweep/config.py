"""What a sweep measures and how: `SweepConfig`, its presets, and the one table of its configuration keys."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from simplenn.core import validate
from simplenn.core.cases import DTYPES, LOSSES, MODES, check_choice, check_seconds
from simplenn.core.errors import FieldError, UsageError
from simplenn.measure.cell import Settings
from simplenn.measure.runners import IMPLS

DEFAULT_BATCH_SIZES = (1, 8, 32, 128, 512, 2048, 8192)
DEFAULT_HIDDEN = ((100, 30),)
WIDE_HIDDEN = ((256, 256), (1024, 1024))  # the default grid adds these at WIDE_BATCH
WIDE_BATCH = 512
SETTINGS_KEYS = ("min_time_s", "min_block_s", "seed", "precision", "max_time_s")  # the grid keys that are timing Settings
# The check of each scalar kind: a value as TOML gives it (flag text is read into one by validate.literal) and the
# option name for the message. One validation path for flags and sweep.toml; list kinds are parsed from text.
SCALAR_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "seconds": validate.seconds, "seconds0": validate.non_negative_seconds, "count": validate.positive_int,
    "seed": validate.seed, "fraction": validate.fraction}


@dataclass(frozen=True)
class ConfigKey:
    """One key a user can set: its sweep.toml name (= argparse dest), flag, grid key, value kind and help."""

    name: str
    flag: str
    grid_key: str  # the SweepConfig field (or timing Settings field) it sets, and its key in run.json's grid
    kind: str  # its value type: devices, ints, hidden, choices (parsed from text), or a SCALAR_CHECKS kind
    help: str
    choices: tuple[str, ...] = ()

    @property
    def check(self) -> Callable[[Any, str], Any] | None:
        """The check of a scalar key's value (None for a list key), for its flag and its sweep.toml value alike."""
        return SCALAR_CHECKS.get(self.kind)


# The one list of settable keys: the TOML reader, the `run` flags and the run.json grid all derive from it.
KEYS = (
    ConfigKey("devices", "--devices", "devices", "devices", "cpu, gpu, all (default) or TensorFlow names: CPU:0,GPU:0"),
    ConfigKey("batch_sizes", "--batch-sizes", "batch_sizes", "ints", "default 1,8,32,128,512,2048,8192"),
    # Hidden sizes; the flag keeps its name for existing scripts and configs.
    ConfigKey("widths", "--widths", "hidden", "hidden",
              "hidden sizes between input 784 and output 10, e.g. 100x30,256x256 (default: 100x30 at every batch "
              "size plus 256x256 and 1024x1024 at batch 512)"),
    ConfigKey("loss", "--loss", "losses", "choices", "sigmoid (default), softmax", LOSSES),
    ConfigKey("dtypes", "--dtypes", "dtypes", "choices", "float32 (default), float16, float64", DTYPES),
    ConfigKey("jit", "--jit", "jit", "choices", "XLA: off (default), on, or off,on", ("off", "on")),
    ConfigKey("modes", "--modes", "modes", "choices",
              "per-call (default: one compiled call per step) and/or in-graph (K steps in one call)", MODES),
    ConfigKey("impls", "--impl", "impls", "choices", f"{IMPLS[0]} (default), {', '.join(IMPLS[1:])}", IMPLS),
    ConfigKey("precision", "--precision", "precision", "fraction",
              "time each cell, in each round, until its median's 95 %% CI is within ± this fraction of the median (0.05 = ±5 %%)"),
    ConfigKey("max_time", "--max-time", "max_time_s", "seconds",
              "stop timing a cell in a round after this many seconds of blocks even if imprecise (0.5; --quick 0.3)"),
    ConfigKey("min_time", "--min-time", "min_time_s", "seconds", "minimum timed seconds per cell (0.3)"),
    ConfigKey("min_block_time", "--min-block-time", "min_block_s", "seconds", "minimum seconds per timed block (0.05)"),
    ConfigKey("cooldown", "--cooldown", "cooldown_s", "seconds0", "pause between cells (0)"),
    ConfigKey("rounds", "--rounds", "rounds", "count",
              "measure every cell N times, interleaved, each round in a fresh worker process (3: compare needs ≥ 2 a side)"),
    ConfigKey("seed", "--seed", "seed", "seed", "seed of the order shuffle, the weights and the batch: an integer ≥ 0 (0)"),
    ConfigKey("sentinel_every", "--sentinel-every", "sentinel_every", "count", "re-measure the sentinel cell every N cells (8)"),
    ConfigKey("timeout", "--timeout", "timeout_s", "seconds", "per-cell timeout in seconds (300)"),
    ConfigKey("logical_cpus", "--logical-cpus", "logical_cpus", "count",
              "split the CPU into N logical devices (how the two-device path runs without a GPU)"),
    ConfigKey("profile", "--profile", "profile", "cells",
              "after the run, trace these cells under the profiler: all, or cell ids such as cpu-b32-w100x30 "
              "(default none; into run.json's profile and traces/, never into the samples)"),
    ConfigKey("profile_steps", "--profile-steps", "profile_steps", "count",
              "steps traced per profiled cell (default: one harness block, 10 to 200 steps)"),
)
CONFIG_KEYS = tuple(k.name for k in KEYS)
# Field name -> flag, for errors raised below the CLI: the grid's keys and the Case fields they become.
FIELD_FLAGS = {**{k.grid_key: k.flag for k in KEYS}, "batch_size": "--batch-sizes", "layer_sizes": "--widths",
               "loss": "--loss", "dtype": "--dtypes", "mode": "--modes", "impl": "--impl", "device": "--devices",
               "wide_hidden": "--widths", "run_dir": "--out"}


@dataclass(frozen=True)
class SweepConfig:
    """What to measure and how. `hidden` lists hidden sizes (input 784 and output 10 are added)."""

    devices: tuple[str, ...] = ("all",)
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    hidden: tuple[tuple[int, ...], ...] = DEFAULT_HIDDEN
    wide_hidden: tuple[tuple[int, ...], ...] = WIDE_HIDDEN  # measured at wide_batch only
    wide_batch: int = WIDE_BATCH
    losses: tuple[str, ...] = ("sigmoid",)
    dtypes: tuple[str, ...] = ("float32",)
    jit: tuple[bool, ...] = (False,)
    modes: tuple[str, ...] = ("per-call",)
    impls: tuple[str, ...] = ("scratch",)
    settings: Settings = field(default_factory=Settings)  # per-cell timing (min/max time, precision, seed)
    cooldown_s: float = 0.0
    rounds: int = 3  # rounds are what makes two runs comparable (compare gives no verdict with one a side)
    sentinel_every: int = 8
    timeout_s: float = 300.0
    logical_cpus: int = 1
    profile: tuple[str, ...] = ()  # cell ids (or "all") traced after the run; checked against the plan by prepare
    profile_steps: int | None = None  # None: one harness block

    def __post_init__(self) -> None:
        for name, allowed in (("losses", LOSSES), ("dtypes", DTYPES), ("modes", MODES), ("impls", IMPLS)):
            for v in getattr(self, name):
                check_choice(v, allowed, name)
        check_seconds(self.timeout_s, "timeout_s")
        try:  # also for callers that build a SweepConfig without the CLI: a negative seed makes every cell invalid
            validate.seed(self.seed, "seed")
        except validate.ConfigValueError as e:
            raise FieldError("seed", e.problem) from None
        if not (isinstance(self.cooldown_s, (int, float)) and self.cooldown_s >= 0):
            raise FieldError("cooldown_s", f"must be ≥ 0 seconds, got {self.cooldown_s!r}")
        for name in ("rounds", "sentinel_every", "logical_cpus"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "sentinel_every" else 1):
                raise FieldError(name, f"must be a positive integer, got {v!r}")
        if not self.batch_sizes or any(isinstance(b, bool) or not isinstance(b, int) or b <= 0 for b in self.batch_sizes):
            raise FieldError("batch_sizes", f"must be positive integers, got {list(self.batch_sizes)}")
        if not self.devices:
            raise FieldError("devices", "give at least one device (cpu, gpu, all, or names like CPU:0,GPU:0)")
        self._check_together()
        # Duplicates removed, values sorted: the same grid however it was written.
        object.__setattr__(self, "batch_sizes", tuple(sorted(set(self.batch_sizes))))
        object.__setattr__(self, "hidden", tuple(sorted(set(map(tuple, self.hidden)))))
        object.__setattr__(self, "wide_hidden", tuple(sorted(set(map(tuple, self.wide_hidden)) - set(self.hidden))))
        if any(not isinstance(c, str) or not c for c in self.profile):
            raise FieldError("profile", f"must be cell ids or all, got {list(self.profile)}")
        for name in ("losses", "dtypes", "modes", "impls", "jit", "devices", "profile"):
            object.__setattr__(self, name, tuple(dict.fromkeys(getattr(self, name))))

    def _check_together(self) -> None:
        """Settings that are each fine but contradict one another: refused here, once, for flags, sweep.toml,
        presets and callers without the CLI alike (FieldError, renamed to its flag by the command)."""
        s, flag = self.settings, FIELD_FLAGS
        if s.max_time_s < s.min_time_s:
            # The minimum wins (measure.Settings), so run.json would record a limit that was never applied.
            raise FieldError("max_time_s", f"{s.max_time_s:g} s (given, or set by --quick/--sustained/a preset) is "
                                           f"below {flag['min_time_s']} {s.min_time_s:g} s: every cell is timed at "
                                           f"least {flag['min_time_s']}; raise {flag['max_time_s']} or lower "
                                           f"{flag['min_time_s']}")
        if s.max_time_s >= self.timeout_s:
            raise FieldError("max_time_s", f"{s.max_time_s:g} s is not below {flag['timeout_s']} {self.timeout_s:g} s: "
                                           "a cell still timing at its limit would be killed and recorded as a "
                                           f"timeout; lower {flag['max_time_s']} or raise {flag['timeout_s']}")

    @property
    def seed(self) -> int:
        """The seed of the order shuffle, the weights and the batch."""
        return self.settings.seed

    def to_dict(self) -> dict:
        """The run.json grid: one flat dict keyed by grid key, timing Settings included."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "settings"}
        return {**d, **{k: getattr(self.settings, k) for k in SETTINGS_KEYS}}

    @classmethod
    def from_dict(cls, grid: dict) -> "SweepConfig":
        """A config from grid keys (run.json's grid, a preset, a test's overrides); missing keys take defaults."""
        names = {f.name for f in fields(cls)} - {"settings"}
        timing = {k: grid[k] for k in SETTINGS_KEYS if k in grid}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in grid.items() if k in names}
        return cls(settings=replace(Settings(), **timing), **values)


def check_one_base(picked: list[str]) -> None:
    """Refuse two base grids at once (`picked` names where each was asked: '--quick', 'sweep.toml: sustained = true',
    '--preset standard'): they set the same keys to different values, and which one won would be an accident."""
    if len(picked) > 1:
        raise UsageError(f"{' and '.join(picked)} each pick a base grid (--preset, --quick or --sustained, by flag or "
                         "in sweep.toml); choose one")


# Presets, in grid keys.
QUICK = dict(batch_sizes=(8, 128, 2048), hidden=((100, 30),), wide_hidden=((256, 256),), wide_batch=512,
             min_time_s=0.12, min_block_s=0.02, max_time_s=0.3, sentinel_every=4)
SUSTAINED = dict(cooldown_s=5.0, min_block_s=0.2, min_time_s=2.0, max_time_s=6.0)
