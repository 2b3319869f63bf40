"""The Network's gradients and SGD update against a hand-written NumPy forward/backward, and its tracing."""
from __future__ import annotations

import numpy as np
import pytest

from simplenn.core.errors import UsageError
from simplenn.nn.model import Network, make_train_loop, make_train_step, tf

# float32 TensorFlow against a float64 NumPy reference.
RTOL, ATOL = 1e-4, 1e-6


def _network(widths, loss, seed=0, learning_rate=0.01) -> Network:
    net = Network(widths, seed=seed, loss=loss, learning_rate=learning_rate)
    rng = np.random.default_rng(seed + 1)
    for b in net.biases:  # non-zero biases so the bias gradients and their effect on ReLU are exercised
        b.assign(rng.normal(0, 0.1, b.shape).astype(np.float32))
    return net


def _batch(batch_size, in_dim, n_classes, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((batch_size, in_dim), dtype=np.float32)
    y = np.eye(n_classes, dtype=np.float32)[rng.integers(0, n_classes, batch_size)]
    return x, y


def reference_loss_and_grads(weights, biases, x, y, loss):
    """Mean loss and [dW1, db1, dW2, db2, …] by hand, in float64: ReLU hidden layers, logits out."""
    ws = [np.asarray(w, np.float64) for w in weights]
    bs = [np.asarray(b, np.float64) for b in biases]
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    activations, pre = [x], []
    for i, (w, b) in enumerate(zip(ws, bs)):
        z = activations[-1] @ w + b
        pre.append(z)
        activations.append(np.maximum(z, 0) if i < len(ws) - 1 else z)
    z = activations[-1]
    batch_size, n_classes = z.shape
    if loss == "sigmoid":
        # Mean over batch × classes of max(z,0) − z·y + log(1 + e^−|z|); d/dz = (σ(z) − y) / (B·C).
        value = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
        dz = (1 / (1 + np.exp(-z)) - y) / (batch_size * n_classes)
    else:
        # Mean over the batch of −Σ y·log softmax(z); d/dz = (softmax(z) − y) / B.
        shifted = z - z.max(axis=1, keepdims=True)
        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        value = np.mean(-(y * log_softmax).sum(axis=1))
        dz = (np.exp(log_softmax) - y) / batch_size
    grads = []
    for i in reversed(range(len(ws))):
        grads.append(dz.sum(axis=0))  # db_i
        grads.append(activations[i].T @ dz)  # dW_i
        if i > 0:
            dz = (dz @ ws[i].T) * (pre[i - 1] > 0)
    return value, grads[::-1]


@pytest.mark.parametrize("loss", ["sigmoid", "softmax"])
@pytest.mark.parametrize("widths", [(12, 7, 5, 4), (784, 100, 30, 10)])
def test_gradients_match_numpy_reference(widths, loss):
    net = _network(widths, loss)
    x, y = _batch(8, widths[0], widths[-1])
    with tf.GradientTape() as tape:
        value = net.loss(tf.constant(y), net.forward(tf.constant(x)))
    grads = tape.gradient(value, net.params)
    ref_value, ref_grads = reference_loss_and_grads(
        [w.numpy() for w in net.weights], [b.numpy() for b in net.biases], x, y, loss
    )
    np.testing.assert_allclose(float(value), ref_value, rtol=RTOL, atol=ATOL)
    assert len(grads) == len(ref_grads) == 2 * (len(widths) - 1)
    for p, g, ref in zip(net.params, grads, ref_grads):
        assert g.shape == ref.shape
        np.testing.assert_allclose(g.numpy(), ref, rtol=RTOL, atol=ATOL, err_msg=p.name)
    # The reference must see something: a test of all-zero gradients would prove nothing.
    assert all(np.abs(ref).max() > 10 * ATOL for ref in ref_grads)


@pytest.mark.parametrize("loss", ["sigmoid", "softmax"])
def test_backward_is_one_sgd_step(loss):
    lr = 0.01
    net = _network((12, 7, 5, 4), loss, learning_rate=lr)
    x, y = _batch(8, 12, 4)
    before = [p.numpy().copy() for p in net.params]
    ref_value, ref_grads = reference_loss_and_grads(before[0::2], before[1::2], x, y, loss)
    returned = net.backward(tf.constant(x), tf.constant(y))
    np.testing.assert_allclose(float(returned), ref_value, rtol=RTOL, atol=ATOL)  # loss before the update
    for p, old, g in zip(net.params, before, ref_grads):
        np.testing.assert_allclose(p.numpy(), old - lr * g, rtol=RTOL, atol=ATOL, err_msg=p.name)
        assert not np.array_equal(p.numpy(), old), f"{p.name} was not updated"


def test_compiled_step_equals_eager_step():
    eager, compiled = _network((12, 7, 5, 4), "softmax"), _network((12, 7, 5, 4), "softmax")
    step = make_train_step(compiled)
    for seed in range(3):
        x, y = (tf.constant(a) for a in _batch(8, 12, 4, seed=seed))
        np.testing.assert_allclose(float(step(x, y)), float(eager.backward(x, y)), rtol=1e-6)
    for a, b in zip(eager.params, compiled.params):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_train_loop_runs_n_steps():
    stepped, looped = _network((12, 7, 5, 4), "sigmoid"), _network((12, 7, 5, 4), "sigmoid")
    x, y = (tf.constant(a) for a in _batch(8, 12, 4))
    step = make_train_step(stepped)
    for _ in range(5):
        last = step(x, y)
    looped_last = make_train_loop(looped)(x, y, tf.constant(5, tf.int32))
    np.testing.assert_allclose(float(looped_last), float(last), rtol=1e-5)
    for a, b in zip(stepped.params, looped.params):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)


def test_train_step_traces_once_across_calls_and_batch_sizes():
    net = _network((12, 7, 5, 4), "sigmoid")
    step = make_train_step(net)
    x, y = (tf.constant(a) for a in _batch(8, 12, 4))
    for _ in range(20):
        step(x, y)
    assert step.experimental_get_tracing_count() == 1
    for batch_size in (1, 3, 17, 8):
        step(*(tf.constant(a) for a in _batch(batch_size, 12, 4)))
    assert step.experimental_get_tracing_count() == 1


@pytest.mark.parametrize(
    "kwargs, option",
    [
        ({"layer_sizes": [784]}, "^layer_sizes:"),
        ({"layer_sizes": [784, 0, 10]}, "^layer_sizes:"),
        ({"layer_sizes": [784, 10], "loss": "hinge"}, "^loss:"),
        ({"layer_sizes": [784, 10], "learning_rate": 0}, "^learning_rate:"),
        ({"layer_sizes": [784, 10], "learning_rate": float("nan")}, "^learning_rate:"),
    ],
)
def test_network_rejects_bad_configuration(kwargs, option):
    with pytest.raises(UsageError, match=option):
        Network(**kwargs)
