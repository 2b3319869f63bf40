"""Import TensorFlow once, quietly (its C++ start-up lines hidden, warnings kept), with SIMPLENN_PLUGIN's devices."""
from __future__ import annotations

import os
import sys
from types import ModuleType

from simplenn.system import plugins

_tf: ModuleType | None = None


def tensorflow() -> ModuleType:
    """The `tensorflow` module, imported with file descriptor 2 silenced for the import only.

    The absl/CUDA-stub lines printed while TensorFlow loads ignore TF_CPP_MIN_LOG_LEVEL, so the only way to hide
    them is to point fd 2 at /dev/null during the import. Python-level warnings raised later still show.
    The PluggableDevice libraries SIMPLENN_PLUGIN names are loaded right after the import, before anything
    initialises the devices (simplenn.system.plugins); a bad one is a UsageError.
    """
    global _tf
    if _tf is not None:
        return _tf
    paths = plugins.plugin_paths()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf  # noqa: PLC0415

        plugins.load(paths)
        # Enumerating physical devices prints the cuInit failure on a machine without a GPU; doing it here
        # keeps that quiet too, and it does not initialise the runtime (logical devices can still be set).
        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    tf.get_logger().setLevel("ERROR")  # retracing warnings are detected and reported by the harness itself
    _tf = tf
    return tf
