"""Per-step time: the one place a timed block's seconds are divided by its number of steps."""
from __future__ import annotations


def per_step_s(block_s, n_steps):
    """Seconds per training step of a block of `n_steps` steps that took `block_s` seconds (numbers or arrays)."""
    return block_s / n_steps
