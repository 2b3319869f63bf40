"""SIMPLENN_PLUGIN: TensorFlow PluggableDevice libraries that every process of ours loads before devices initialise.

`SIMPLENN_PLUGIN=/path/libfoo.so[:/path/libbar.so…]` is how a device TensorFlow does not find by itself — the stand-in
GPU built by `make standin-gpu`, or any other PluggableDevice library — reaches the CLI, each sweep worker and the
pytest session alike: `simplenn.system.tfimport.tensorflow()` loads them right after importing TensorFlow, so every
process that imports TensorFlow through it sees the same devices. (tensorflow-metal needs none of this: TensorFlow
loads installed plugins from its `tensorflow-plugins` folder by itself.)
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from simplenn.core.errors import UsageError

ENV = "SIMPLENN_PLUGIN"
_loaded: set[Path] = set()


def plugin_paths(environ: Mapping[str, str] = os.environ) -> tuple[Path, ...]:
    """The libraries SIMPLENN_PLUGIN names (':'-separated, empty entries ignored); UsageError if one is not a file."""
    paths = tuple(Path(p) for p in environ.get(ENV, "").split(os.pathsep) if p.strip())
    for path in paths:
        if not path.is_file():
            raise UsageError(f"{ENV}: {path} is not a file; give the path `make standin-gpu` prints "
                             f"(or a PluggableDevice library), several separated by '{os.pathsep}'")
    return paths


def load(paths: tuple[Path, ...]) -> None:
    """Load each library as a PluggableDevice (once per process); must run before TensorFlow initialises devices."""
    from tensorflow.python.framework import load_library  # noqa: PLC0415

    for path in paths:
        resolved = path.resolve()
        if resolved in _loaded:
            continue
        try:
            load_library.load_pluggable_device_library(str(resolved))
        except Exception as e:  # noqa: BLE001 — TensorFlow raises NotFoundError, RuntimeError or others here
            text = (getattr(e, "message", None) or str(e)).strip().splitlines()
            raise UsageError(f"{ENV}: cannot load {path} as a TensorFlow PluggableDevice "
                             f"({text[0] if text else e.__class__.__name__})") from None
        _loaded.add(resolved)
