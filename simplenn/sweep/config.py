"""What a sweep measures and how: `SweepConfig`, the one table of its configuration keys, and `load_config`.

Precedence, lowest first: the defaults (the fields of `SweepConfig` and of the timing `Settings`) < a preset
(`presets/<name>.toml`: standard, quick, sustained) < a sweep.toml < overrides (the `run` flags, or a script's
dict). Every value, whatever its source, goes through its key's one check; errors are `FieldError`s naming the
key (or `config` / `preset` for the file it came from), which the CLI renames to its flags.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from simplenn.core import validate
from simplenn.core.cases import DTYPES, LOSSES, MODES, check_choice, check_seconds
from simplenn.core.errors import FieldError
from simplenn.measure.cell import Settings
from simplenn.measure.runners import IMPLS
from simplenn.sweep.presets import load_preset

DEFAULT_BATCH_SIZES = (1, 8, 32, 128, 512, 2048, 8192)
DEFAULT_HIDDEN = ((100, 30),)
WIDE_HIDDEN = ((256, 256), (1024, 1024))  # the default grid adds these at WIDE_BATCH
WIDE_BATCH = 512
SETTINGS_KEYS = ("min_time_s", "min_block_s", "seed", "precision", "max_time_s")  # the grid keys that are timing Settings
PRESET_SWITCHES = ("quick", "sustained")  # sweep.toml booleans that pick the preset of that name


@dataclass(frozen=True)
class ConfigKey:
    """One key a user can set: its sweep.toml name (= the `run` flag's dest), the grid key it sets, its check
    (which is also its type: it turns flag text or a TOML value into the grid's value) and its help; its default is
    the field default of `SweepConfig` or `Settings`, so it is written in one place."""

    name: str
    grid_key: str  # the SweepConfig field (or timing Settings field) it sets, and its key in run.json's grid
    check: Callable[[Any, str], Any]
    help: str  # "{default}" in it is replaced by the default
    metavar: str = "LIST"
    flag: bool = True  # False: sweep.toml and presets only (no `run` flag)

    @property
    def default(self) -> Any:
        """The value the key has when nothing sets it."""
        owner = Settings if self.grid_key in SETTINGS_KEYS else SweepConfig
        f = next(f for f in fields(owner) if f.name == self.grid_key)
        return f.default if f.default is not MISSING else f.default_factory()

    @property
    def help_text(self) -> str:
        return self.help.format(default=_shown(self.default))


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple):
        items = ["x".join(map(str, v)) if isinstance(v, tuple) else ("on" if v else "off") if isinstance(v, bool)
                 else str(v) for v in value]
        return ",".join(items) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


# The one list of settable keys: the TOML reader, the presets, the `run` flags and the run.json grid derive from it.
KEYS = (
    ConfigKey("devices", "devices", validate.text_list, "cpu, gpu, all or TensorFlow names: CPU:0,GPU:0 (default {default})"),
    ConfigKey("batch_sizes", "batch_sizes", validate.int_list, "default {default}"),
    # Hidden sizes; the flag keeps its name for existing scripts and configs.
    ConfigKey("widths", "hidden", validate.hidden_list,
              "hidden sizes between input 784 and output 10, e.g. 100x30,256x256 (default: {default} at every batch "
              f"size plus {_shown(WIDE_HIDDEN)} at batch {WIDE_BATCH})"),
    ConfigKey("wide_widths", "wide_hidden", validate.hidden_list,
              "hidden sizes measured only at wide_batch (default {default}; none once widths is set)", flag=False),
    ConfigKey("wide_batch", "wide_batch", validate.positive_int, "the batch size of the wide widths ({default})",
              metavar="N", flag=False),
    ConfigKey("loss", "losses", validate.choice_list(LOSSES), f"{', '.join(LOSSES)} (default {{default}})"),
    ConfigKey("dtypes", "dtypes", validate.choice_list(DTYPES), f"{', '.join(DTYPES)} (default {{default}})"),
    ConfigKey("jit", "jit", validate.on_off_list, "XLA: off, on, or off,on (default {default})"),
    ConfigKey("modes", "modes", validate.choice_list(MODES),
              "per-call (one compiled call per step) and/or in-graph (K steps in one call) (default {default})"),
    ConfigKey("impls", "impls", validate.choice_list(IMPLS), f"{', '.join(IMPLS)} (default {{default}})"),
    ConfigKey("precision", "precision", validate.fraction,
              "time each cell, in each round, until its median's 95 %% CI is within ± this fraction of the median "
              "({default})",
              metavar="F"),
    ConfigKey("max_time", "max_time_s", validate.seconds,
              "stop timing a cell in a round after this many seconds of blocks even if imprecise ({default})",
              metavar="S"),
    ConfigKey("min_time", "min_time_s", validate.seconds, "minimum timed seconds per cell ({default})", metavar="S"),
    ConfigKey("min_block_time", "min_block_s", validate.seconds, "minimum seconds per timed block ({default})",
              metavar="S"),
    ConfigKey("cooldown", "cooldown_s", validate.non_negative_seconds, "pause between cells ({default})", metavar="S"),
    ConfigKey("rounds", "rounds", validate.positive_int,
              "measure every cell N times, interleaved, each round in a fresh worker process ({default}: compare "
              "needs ≥ 2 a side)", metavar="N"),
    ConfigKey("seed", "seed", validate.seed,
              "seed of the order shuffle, the weights and the batch: an integer ≥ 0 ({default})", metavar="N"),
    ConfigKey("sentinel_every", "sentinel_every", validate.positive_int,
              "re-measure the sentinel cell every N cells ({default})", metavar="N"),
    ConfigKey("timeout", "timeout_s", validate.seconds, "per-cell timeout in seconds ({default})", metavar="S"),
    ConfigKey("logical_cpus", "logical_cpus", validate.positive_int,
              "split the CPU into N logical devices (how the two-device path runs without a GPU) ({default})",
              metavar="N"),
    ConfigKey("profile", "profile", validate.text_list,
              "after the run, trace these cells under the profiler: all, or cell ids such as cpu-b32-w100x30 "
              "(default {default}; into run.json's profile and traces/, never into the samples)"),
    ConfigKey("profile_steps", "profile_steps", validate.positive_int,
              "steps traced per profiled cell (default {default}: one harness block, 10 to 200 steps)", metavar="N"),
)
BY_NAME = {k.name: k for k in KEYS}
CONFIG_KEYS = tuple(BY_NAME)
# Field name -> the key that sets it, for errors raised below the CLI: the grid's keys and the Case fields they become.
FIELD_KEYS = {**{k.grid_key: k.name for k in KEYS}, "batch_size": "batch_sizes", "layer_sizes": "widths",
              "loss": "loss", "dtype": "dtypes", "mode": "modes", "impl": "impls", "device": "devices"}


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
        for name in ("rounds", "sentinel_every", "logical_cpus", "wide_batch"):
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
        presets and callers without the CLI alike (FieldError, renamed to its flags by the command)."""
        s, both = self.settings, ("max_time_s", "min_time_s", "timeout_s")
        if s.max_time_s < s.min_time_s:
            # The minimum wins (measure.Settings), so run.json would record a limit that was never applied.
            raise FieldError("max_time_s", f"{s.max_time_s:g} s (given, or set by a preset) is below {{min_time_s}} "
                                           f"{s.min_time_s:g} s: every cell is timed at least {{min_time_s}}; raise "
                                           "{max_time_s} or lower {min_time_s}", both)
        if s.max_time_s >= self.timeout_s:
            raise FieldError("max_time_s", f"{s.max_time_s:g} s is not below {{timeout_s}} {self.timeout_s:g} s: a cell "
                                           "still timing at its limit would be killed and recorded as a timeout; lower "
                                           "{max_time_s} or raise {timeout_s}", both)

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
        """A config from grid keys (run.json's grid, a test's overrides); missing keys take defaults."""
        names = {f.name for f in fields(cls)} - {"settings"}
        timing = {k: grid[k] for k in SETTINGS_KEYS if k in grid}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in grid.items() if k in names}
        return cls(settings=replace(Settings(), **timing), **values)


# ------------------------------------------------------------------------------------------ loading


def read_toml(path: Path) -> dict:
    """A sweep.toml as written (keys checked against KEYS and the preset switches; values are checked later)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    path = Path(path)
    if not path.is_file():
        raise FieldError("config", f"{path} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise FieldError("config", f"{path} is not valid TOML ({e})") from None
    allowed = CONFIG_KEYS + PRESET_SWITCHES
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise FieldError("config", f"unknown keys {unknown} in {path}; allowed: {', '.join(allowed)}")
    return data


def checked(values: Mapping[str, Any], source: str = "") -> dict:
    """`values` (key name -> flag text, TOML value or checked value) through each key's check.

    `source` names a file ("config", "preset"): errors then name it and the key; without one (flags, a script's
    overrides) they name the key, and text is read as a flag's is ('0.1' is a number; in TOML it stays a string).
    """
    out = {}
    for name, value in values.items():
        field_name, option = (source, f"key {name!r}") if source else (name, name)
        if not source and isinstance(value, str):
            value = validate.literal(value)
        if name not in BY_NAME and name not in PRESET_SWITCHES:
            raise FieldError(field_name, f"unknown key {name!r}; allowed: {', '.join(CONFIG_KEYS)}")
        check = validate.boolean if name in PRESET_SWITCHES else BY_NAME[name].check
        try:
            out[name] = check(value, option)
        except validate.ConfigValueError as e:
            raise FieldError(field_name, f"{option}: {e.problem}" if source else e.problem) from None
    return out


def check_one_base(picked: list[str]) -> None:
    """Refuse two base grids at once (`picked` says where each was asked: "{preset} standard", "{quick}",
    "{config} sweep.toml: sustained = true"): they set the same keys to different values, and which one won would be
    an accident. The one place for this rule, for flags, sweep.toml and scripts alike."""
    if len(picked) > 1:
        raise FieldError("", f"{' and '.join(picked)} each pick a base grid (a preset, quick or sustained, by flag or in "
                             "sweep.toml); choose one", ("preset", "config", *PRESET_SWITCHES))


def _layers(preset: str | None, toml: Path | Mapping | None, overrides: Mapping[str, Any] | None):
    """(the preset chosen or None, the sweep.toml's values, the overrides), each checked; a preset is chosen by name,
    or by a `quick`/`sustained` switch in the sweep.toml or the overrides (never two: check_one_base)."""
    file_values = dict(toml) if isinstance(toml, Mapping) else read_toml(toml) if toml else {}
    file_values = checked(file_values, "config")
    over = checked({k: v for k, v in (overrides or {}).items() if v is not None})
    where = f"{{config}} {toml}" if toml and not isinstance(toml, Mapping) else "sweep.toml"
    chosen = [(preset, f"{{preset}} {preset}")] if preset else []
    for name in PRESET_SWITCHES:  # as asked: the switch given as an override (a flag), then in the sweep.toml
        chosen += [(name, "{" + name + "}")] if over.pop(name, False) else []
        chosen += [(name, f"{where}: {name} = true")] if file_values.pop(name, False) else []
    check_one_base([label for _, label in chosen])
    return (load_preset(chosen[0][0], CONFIG_KEYS) if chosen else None), file_values, over


def load_config(preset: str | None = None, toml: Path | Mapping | None = None,
                overrides: Mapping[str, Any] | None = None) -> SweepConfig:
    """The SweepConfig of: defaults < the preset (a name, or a sweep.toml switch) < sweep.toml < overrides.

    `toml` is a path or its already-read table; `overrides` maps key names (as in sweep.toml) to flag text, TOML
    values or checked values (None: not given). A layer that sets `widths` without `wide_widths` measures its
    widths at every batch size, and no wide widths.
    """
    p, file_values, over = _layers(preset, toml, overrides)
    grid: dict = {}
    for layer in (checked(p.config, "preset") if p else {}, file_values, over):
        if "widths" in layer and "wide_widths" not in layer:
            grid["wide_hidden"] = ()
        grid.update({BY_NAME[name].grid_key: value for name, value in layer.items()})
    return SweepConfig.from_dict(grid)


def preset_meta(preset: str | None = None, toml: Path | Mapping | None = None,
                overrides: Mapping[str, Any] | None = None) -> dict | None:
    """run.json's `preset`: name, version and the keys the sweep.toml or overrides changed (None without a preset)."""
    p, file_values, over = _layers(preset, toml, overrides)
    return None if p is None else {**p.to_meta(), "overrides": sorted({**file_values, **over})}
