"""Initial values made on the host: numpy draws, cast on CPU:0, so every device starts from the same bits."""
from __future__ import annotations

import numpy as np

from simplenn.system.tfimport import tensorflow

tf = tensorflow()
HOST = "/CPU:0"


def on_host(values: np.ndarray, dtype) -> tf.Tensor:
    """`values` as a tensor of `dtype` made on CPU:0, whatever device scope is active (a variable copies it once)."""
    with tf.device(HOST):
        return tf.cast(tf.constant(values), dtype)


def host_uniform(seed: int, shape: tuple[int, ...], dtype, scale: float = 1.0) -> tf.Tensor:
    """Uniform [0, scale) values from numpy's generator for `seed`, made on CPU:0 (no random op on any device)."""
    values = np.random.default_rng(seed).random(shape, dtype=np.float32) * np.float32(scale)
    return on_host(values, dtype)
