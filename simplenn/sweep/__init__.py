"""A sweep: grid → ordered plan → cells measured in a supervised worker process → records in the run folder.

Modules, in the order data flows: `config` (SweepConfig, the table of configuration keys, `load_config`), `plan`
(Cases, interleaved order, sentinel and its drift), `worker` (the measurement process and its protocol), `run`
(prepare a run folder, execute its plan, resume; `progress`: what it tells its caller after each cell). Resumable;
a crashed or hung worker costs one cell.

The public names below are loaded on first use, so `simplenn.sweep.config` (read by the CLI's parser) does not
pull in pandas through the run loop's results writer.
"""
from __future__ import annotations

import importlib

EXPORTS = {
    "config": ("CONFIG_KEYS", "FIELD_KEYS", "KEYS", "ConfigKey", "SweepConfig", "load_config", "preset_meta"),
    "plan": ("DRIFT_WARN", "LONG_PLAN_S", "PlanItem", "drift", "duration_text", "estimate_s", "expand",
             "long_plan_notice", "order"),
    "progress": ("Progress",),
    "run": ("RunState", "cells_left", "execute", "prepare", "resolve_devices", "resume_state"),
    "worker": ("Worker", "WorkerError"),
}
__all__ = sorted(name for names in EXPORTS.values() for name in names)


def __getattr__(name: str):
    for module, names in EXPORTS.items():
        if name in names:
            return getattr(importlib.import_module(f"simplenn.sweep.{module}"), name)
    raise AttributeError(f"module 'simplenn.sweep' has no attribute {name!r}")
