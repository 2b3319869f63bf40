"""The tutorial's multilayer perceptron, corrected and general: tf.Variable weights, matmul + ReLU, plain SGD.

Names follow the tutorial (`Network`, `forward`, `loss`, `backward`, `params`, W1/b1, …) so its readers find
their way. Fixed here: the update is `assign_sub` (no optimizer rebuilt per call), any minibatch size works,
and the compiled step has a fixed input signature so it traces once per shape.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simplenn.core.cases import DEFAULT_WIDTHS, LOSSES, check_choice, check_positive, check_widths
from simplenn.system.hostinit import on_host
from simplenn.system.tfimport import tensorflow

tf = tensorflow()


class Network:
    """An MLP over `layer_sizes`, e.g. [784, 100, 30, 10]: ReLU hidden layers, logits out."""

    def __init__(
        self,
        layer_sizes: Sequence[int] = DEFAULT_WIDTHS,
        seed: int = 0,
        loss: str = "sigmoid",
        learning_rate: float = 0.01,
        dtype: str = "float32",
    ):
        self.layer_sizes = check_widths(list(layer_sizes))
        self.loss_name = check_choice(loss, LOSSES, "loss")
        self.learning_rate = check_positive(learning_rate, "learning_rate")
        self.dtype = tf.as_dtype(dtype)
        # Drawn on the host (numpy) and cast on CPU:0, then copied to the device once by the variable: the start is
        # bit-identical on every device, and no random op has to exist on the measured one (Metal lacked
        # RngReadAndSkip: tensorflow#53505).
        rng = np.random.default_rng(seed)
        self.weights: list[tf.Variable] = []
        self.biases: list[tf.Variable] = []
        for i, (n_in, n_out) in enumerate(zip(self.layer_sizes[:-1], self.layer_sizes[1:]), start=1):
            w = rng.normal(0.0, 0.1, (n_in, n_out)).astype(np.float32)
            self.weights.append(tf.Variable(on_host(w, self.dtype), name=f"W{i}"))
            self.biases.append(tf.Variable(on_host(np.zeros((n_out,), np.float32), self.dtype), name=f"b{i}"))

    @property
    def params(self) -> list[tf.Variable]:
        """[W1, b1, W2, b2, …]."""
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    def forward(self, x: tf.Tensor) -> tf.Tensor:
        """Logits for a batch x of shape (batch, layer_sizes[0])."""
        return forward_with(self.params, x)

    def loss(self, y_true: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        """Mean cross-entropy of one-hot labels: per-class sigmoid (the tutorial's choice) or softmax."""
        return loss_from_logits(self.loss_name, y_true, logits)

    def backward(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """One SGD step on (x, y) in eager mode; returns the loss before the update."""
        return sgd_step(self, x, y)

    def predict(self, x: tf.Tensor) -> tf.Tensor:
        """Predicted class indices."""
        return tf.argmax(self.forward(x), axis=1)


def forward_with(params, x: tf.Tensor) -> tf.Tensor:
    """Logits from x and [W1, b1, W2, b2, …] (variables or plain tensors): matmul + bias, ReLU between layers."""
    h = x
    last = len(params) // 2 - 1
    for i in range(last + 1):
        h = tf.matmul(h, params[2 * i]) + params[2 * i + 1]
        if i < last:
            h = tf.nn.relu(h)
    return h


def loss_from_logits(name: str, y_true: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    if name == "sigmoid":
        per_example = tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=logits)
        return tf.reduce_mean(per_example)
    return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_true, logits=logits))


def sgd_step(network: Network, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Forward, gradients from a GradientTape, and `param -= lr × grad` for every parameter; returns the loss."""
    params = network.params
    with tf.GradientTape() as tape:
        loss = network.loss(y, network.forward(x))
    grads = tape.gradient(loss, params)
    lr = tf.cast(network.learning_rate, network.dtype)
    for p, g in zip(params, grads):
        p.assign_sub(lr * g)
    return loss


def _signature(network: Network) -> list[tf.TensorSpec]:
    # Batch dimension left open: one trace serves every minibatch size, including a shorter last batch.
    return [
        tf.TensorSpec((None, network.layer_sizes[0]), network.dtype),
        tf.TensorSpec((None, network.layer_sizes[-1]), network.dtype),
    ]


def make_train_step(network: Network, learning_rate: float | None = None, jit_compile: bool = False):
    """The compiled training step `step(x, y) -> loss` (forward + gradient + SGD update) that the benchmark times."""
    if learning_rate is not None:
        network.learning_rate = check_positive(learning_rate, "learning_rate")

    @tf.function(input_signature=_signature(network), jit_compile=jit_compile, reduce_retracing=True)
    def train_step(x, y):
        return sgd_step(network, x, y)

    return train_step


def make_train_loop(network: Network, jit_compile: bool = False):
    """`loop(x, y, n_steps) -> last loss`: n_steps SGD steps inside one compiled function (host dispatch amortised).

    The parameters are read once, carried through a `tf.while_loop` as tensors and assigned once at the end, so
    the loop pays neither a Python call nor variable reads/writes per step; the arithmetic is the same SGD step
    (the tests check the weights against n per-call steps). With jit_compile the whole loop is one XLA program.
    """
    @tf.function(
        input_signature=_signature(network) + [tf.TensorSpec((), tf.int32)], jit_compile=jit_compile
    )
    def train_loop(x, y, n_steps):
        lr = tf.cast(network.learning_rate, network.dtype)

        def body(i, loss, params):
            with tf.GradientTape() as tape:
                tape.watch(params)
                loss = network.loss(y, forward_with(params, x))
            grads = tape.gradient(loss, params)
            return i + 1, loss, [p - lr * g for p, g in zip(params, grads)]

        start = [tf.convert_to_tensor(p) for p in network.params]
        _, loss, params = tf.while_loop(lambda i, loss, params: i < n_steps, body,
                                        (tf.constant(0), tf.zeros((), network.dtype), start))
        for variable, value in zip(network.params, params):
            variable.assign(value)
        return loss

    return train_loop
