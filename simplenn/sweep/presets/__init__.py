"""Named, versioned grids shipped with the package (`<name>.toml` beside this file) and `load_preset(name)`.

A preset file has a `[preset]` table (name, version, description) and a `[grid]` table whose keys are the
`sweep.toml` keys (sweep.config.CONFIG_KEYS), in the same TOML form. `sweep.config.load_config` layers them:
defaults < preset < sweep.toml < flags. quick and sustained are presets too (`run --quick`, `--sustained`).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from importlib import resources

from simplenn.core.errors import FieldError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class Preset:
    """One named grid: `config` holds the `[grid]` table as written (TOML keys and values)."""

    name: str
    version: int
    config: dict = field(hash=False)
    description: str = ""

    def to_meta(self) -> dict:
        """What run.json records about the preset a run was made with."""
        return {"name": self.name, "version": self.version}


def available() -> tuple[str, ...]:
    """Names of the presets shipped with the package, sorted."""
    files = resources.files(__name__).iterdir()
    return tuple(sorted(f.name[: -len(".toml")] for f in files if f.name.endswith(".toml")))


def load_preset(name: str, keys: tuple[str, ...] | None = None) -> Preset:
    """The preset called `name` (its [grid] keys among `keys` when given); FieldError("preset") naming the allowed
    names when there is none. sweep.config passes its key table: presets import nothing from it."""
    names = available()
    if name not in names:
        raise FieldError("preset", f"{name!r} is not a preset; allowed values: {', '.join(names)}")
    source = resources.files(__name__) / f"{name}.toml"
    data = tomllib.loads(source.read_text(encoding="utf-8"))
    return _validate(name, data, keys)


def _validate(name: str, data: dict, keys: tuple[str, ...] | None = None) -> Preset:
    head, grid = data.get("preset"), data.get("grid")
    where = f"preset {name!r}"
    if not isinstance(head, dict) or not isinstance(grid, dict) or set(data) - {"preset", "grid"}:
        raise FieldError("preset", f"{where}: needs exactly a [preset] and a [grid] table")
    if head.get("name") != name:
        raise FieldError("preset", f"{where}: [preset] name is {head.get('name')!r}; it must match the file name")
    version = head.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise FieldError("preset", f"{where}: [preset] version must be a positive integer, got {version!r}")
    unknown = sorted(set(grid) - set(keys)) if keys is not None else []
    if unknown:
        raise FieldError("preset", f"{where}: unknown [grid] keys {unknown}; allowed: {', '.join(keys)}")
    return Preset(name, version, dict(grid), str(head.get("description", "")))
