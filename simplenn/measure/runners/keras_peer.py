"""Peer: keras.Sequential of Dense layers with SGD, timed through `train_on_batch`."""
from __future__ import annotations

import numpy as np

from simplenn.core.cases import Case
from simplenn.measure.runners.base import Impl, Unsupported, initial_state, require

IMPL = Impl("keras", 1, packages=("keras",), tf_allocator=True, limits={
    ("mode", "in-graph"): "keras is timed through train_on_batch (one call per step); in-graph mode is not available "
                          "for it"})


class KerasRunner:
    """keras.Sequential of Dense layers, SGD, timed through `train_on_batch` (one call and one host read per step)."""

    def __init__(self, case: Case, seed: int = 0):
        from simplenn.nn.model import tf  # noqa: PLC0415 — TensorFlow imported quietly first, then Keras on top

        keras = require("keras")
        if keras.backend.backend() != "tensorflow":
            raise Unsupported(f"keras runs on the {keras.backend.backend()!r} backend; set KERAS_BACKEND=tensorflow")
        self.tf = tf
        self.case = case
        params, x, y, lr = initial_state(case, seed)
        sizes = case.layer_sizes
        with tf.device(case.device):
            layers = [keras.Input((sizes[0],), dtype=case.dtype)]
            for i, n_out in enumerate(sizes[1:]):
                hidden = i < len(sizes) - 2
                layers.append(keras.layers.Dense(n_out, activation="relu" if hidden else None, dtype=case.dtype))
            self.model = keras.Sequential(layers)
            self.model.set_weights(params)  # Dense keeps (kernel (in, out), bias) per layer: the Network's layout
            loss = (keras.losses.BinaryCrossentropy(from_logits=True) if case.loss == "sigmoid"
                    else keras.losses.CategoricalCrossentropy(from_logits=True))
            # jit_compile stated explicitly: Keras's default "auto" would turn XLA on when a non-Mac GPU is present.
            self.model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss=loss,
                               jit_compile=bool(case.jit), steps_per_execution=1, run_eagerly=False)
            self.x = tf.identity(tf.constant(x))
            self.y = tf.identity(tf.constant(y))
        variables = [v.value for v in self.model.trainable_variables]

        @tf.function
        def checksum():
            return tf.add_n([tf.cast(tf.reshape(v, [-1])[0], tf.float32) for v in variables])

        self._checksum = checksum
        self.loss = float("nan")

    def run(self, n: int) -> None:
        # train_on_batch's tf.function is traced on its first call; the device scope makes its ops land on the
        # case's device rather than wherever the placer would put them.
        with self.tf.device(self.case.device):
            for _ in range(n):
                self.loss = self.model.train_on_batch(self.x, self.y)  # returns a Python float: a host read

    def sync(self) -> float:
        return float(self._checksum().numpy())

    def n_traces(self) -> int | None:
        return None

    def last_loss(self) -> float:
        return float(self.loss)

    def placement(self) -> dict:
        return {"variables": self.model.trainable_variables[0].value.device}

    def params(self) -> list[np.ndarray]:
        return [np.array(w) for w in self.model.get_weights()]


RUNNER = KerasRunner
