"""Peer implementations of the same training step — Keras, PyTorch, JAX — behind ScratchRunner's protocol.

Every peer starts from the from-scratch `Network(case.widths, seed)`'s initial weights (copied in), trains on
the same `synthetic_batch`, with the same loss and plain SGD at the same learning rate, so a time difference
is a difference in how the step is dispatched and executed, not in what it computes (simplenn.parity checks).

The protocol (see simplenn.measure): `run(n)` enqueues n steps; `sync()` reads back on the host a value that
depends on every parameter's last update and returns it; `n_traces()` (None where the framework hides it);
`last_loss()`; `placement()` (TF device strings, or {} where TF names do not apply); `params()` (numpy copies
of [W1, b1, W2, b2, …], for parity checks).

torch and jax are optional (`pip install simplenn-bench[peers]`); a missing package, or a case a peer cannot
run, raises `Unsupported`, which measure() records as an `unsupported` cell with the reason.
"""
from __future__ import annotations

import importlib
import sys

import numpy as np

from simplenn.cases import Case, unsupported_reason
from simplenn.data import synthetic_batch

INSTALL_HINT = "pip install 'simplenn-bench[peers]'"


class Unsupported(Exception):
    """This peer cannot run this case here (package missing, mode or device not available); the message says why."""


def _require(module: str):
    """Import an optional package or raise Unsupported saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise Unsupported(f"{module} is not installed ({e.__class__.__name__}: {e}); {INSTALL_HINT}") from None


def _initial_state(case: Case, seed: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, float]:
    """The scratch Network's initial [W1, b1, …] as numpy, the timing batch (x, y), and the learning rate."""
    from simplenn.model import Network  # noqa: PLC0415

    network = Network(case.widths, seed=seed, loss=case.loss, dtype=case.dtype)
    params = [p.numpy() for p in network.params]
    x, y = synthetic_batch(case.batch_size, case.widths[0], case.widths[-1], seed=seed)
    return params, x.astype(case.dtype), y.astype(case.dtype), float(network.learning_rate)


class KerasRunner:
    """keras.Sequential of Dense layers, SGD, timed through `train_on_batch` (one call and one host read per step)."""

    def __init__(self, case: Case, seed: int = 0):
        from simplenn.model import tf  # noqa: PLC0415 — TensorFlow imported quietly first, then Keras on top

        keras = _require("keras")
        if keras.backend.backend() != "tensorflow":
            raise Unsupported(f"keras runs on the {keras.backend.backend()!r} backend; set KERAS_BACKEND=tensorflow")
        self.tf = tf
        self.case = case
        params, x, y, lr = _initial_state(case, seed)
        widths = case.widths
        with tf.device(case.device):
            layers = [keras.Input((widths[0],), dtype=case.dtype)]
            for i, n_out in enumerate(widths[1:]):
                hidden = i < len(widths) - 2
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


def torch_device(name: str, torch=None) -> str:
    """The torch device for a TF device name: CPU:* -> 'cpu'; GPU:0 -> 'mps' (macOS) or 'cuda:0'; else Unsupported."""
    torch = torch or _require("torch")
    kind, _, index = name.rsplit("device:", 1)[-1].lstrip("/").upper().partition(":")
    if kind == "CPU":
        return "cpu"  # torch has one CPU device; TF's logical CPU:1 is the same physical CPU
    if kind == "GPU":
        index = int(index or 0)
        mps = getattr(torch.backends, "mps", None)
        if sys.platform == "darwin" and mps is not None and mps.is_available():
            if index != 0:
                raise Unsupported(f"torch's MPS backend has one device; {name} has no torch counterpart")
            return "mps"
        if torch.cuda.is_available() and index < torch.cuda.device_count():
            return f"cuda:{index}"
        raise Unsupported(f"torch sees no GPU for {name} (no MPS, no CUDA) — torch {torch.__version__}")
    raise Unsupported(f"no torch device for {name}")


class TorchRunner:
    """The same MLP in PyTorch eager mode: one Python call per step, torch.optim.SGD."""

    def __init__(self, case: Case, seed: int = 0):
        torch = _require("torch")
        self.torch = torch
        self.case = case
        self.device = torch_device(case.device, torch)
        dtype = getattr(torch, case.dtype)
        if self.device == "mps" and case.dtype == "float64":
            raise Unsupported("float64 is not supported on MPS (Metal has no double type)")
        params, x, y, lr = _initial_state(case, seed)
        self.params_t = [torch.tensor(p, dtype=dtype, device=self.device, requires_grad=True) for p in params]
        self.x = torch.tensor(x, dtype=dtype, device=self.device)
        self.y = torch.tensor(y, dtype=dtype, device=self.device)
        self.optimizer = torch.optim.SGD(self.params_t, lr=lr)
        f = torch.nn.functional
        # Same loss as Network.loss: mean over batch × classes (sigmoid) or over the batch (softmax, one-hot).
        self.loss_fn = f.binary_cross_entropy_with_logits if case.loss == "sigmoid" else f.cross_entropy
        self.loss = None
        if self.device.startswith("cuda"):
            self._wait = torch.cuda.synchronize
        elif self.device == "mps":
            self._wait = torch.mps.synchronize
        else:
            self._wait = lambda: None

    def _forward(self, x):
        h = x
        pairs = list(zip(self.params_t[0::2], self.params_t[1::2]))
        for i, (w, b) in enumerate(pairs):
            h = h @ w + b
            if i < len(pairs) - 1:
                h = self.torch.relu(h)
        return h

    def run(self, n: int) -> None:
        for _ in range(n):
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self._forward(self.x), self.y)
            loss.backward()
            self.optimizer.step()
            self.loss = loss

    def sync(self) -> float:
        self._wait()
        with self.torch.no_grad():
            return float(sum(p.reshape(-1)[0].float() for p in self.params_t).item())

    def n_traces(self) -> int | None:
        return None

    def last_loss(self) -> float:
        return float(self.loss.item())

    def placement(self) -> dict:
        return {}  # torch devices have no TF name; the mapping is fixed by torch_device()

    def params(self) -> list[np.ndarray]:
        return [p.detach().cpu().numpy().copy() for p in self.params_t]


def jax_device(name: str, jax=None):
    """The jax device for a TF device name: CPU:n -> jax CPU device n (else 0); GPU:n -> n-th non-CPU device."""
    jax = jax or _require("jax")
    kind, _, index = name.rsplit("device:", 1)[-1].lstrip("/").upper().partition(":")
    index = int(index or 0)
    if kind == "CPU":
        cpus = jax.devices("cpu")
        return cpus[index] if index < len(cpus) else cpus[0]  # one physical CPU either way
    if kind == "GPU":
        accelerators = [d for d in jax.devices() if d.platform != "cpu"]
        if index < len(accelerators):
            return accelerators[index]
        raise Unsupported(f"jax sees no accelerator for {name} (backend {jax.default_backend()!r}); "
                          "install a GPU build of jaxlib (jax[cuda12] or jax-metal) to compare on the GPU")
    raise Unsupported(f"no jax device for {name}")


class JaxRunner:
    """The same MLP as a `jax.jit` step; in-graph mode runs n steps in one jit via `lax.fori_loop`."""

    def __init__(self, case: Case, seed: int = 0):
        jax = _require("jax")
        jnp = _require("jax.numpy")
        self.jax = jax
        self.case = case
        if case.dtype == "float64" and not jax.config.jax_enable_x64:
            raise Unsupported("jax computes float64 only with JAX_ENABLE_X64=1")
        device = jax_device(case.device, jax)
        params, x, y, lr = _initial_state(case, seed)
        dtype = jnp.dtype(case.dtype)
        self.params_j = [jax.device_put(jnp.asarray(p, dtype), device) for p in params]
        self.x = jax.device_put(jnp.asarray(x, dtype), device)
        self.y = jax.device_put(jnp.asarray(y, dtype), device)
        self._traces = 0
        sigmoid = case.loss == "sigmoid"
        lr = jnp.asarray(lr, dtype)

        def loss_fn(params, x, y):
            h = x
            n_layers = len(params) // 2
            for i in range(n_layers):
                h = h @ params[2 * i] + params[2 * i + 1]
                if i < n_layers - 1:
                    h = jax.nn.relu(h)
            if sigmoid:  # the numerically stable form tf.nn.sigmoid_cross_entropy_with_logits uses
                return jnp.mean(jnp.maximum(h, 0) - h * y + jnp.log1p(jnp.exp(-jnp.abs(h))))
            return jnp.mean(-jnp.sum(y * jax.nn.log_softmax(h, axis=-1), axis=-1))

        def step(params, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            return [p - lr * g for p, g in zip(params, grads)], loss

        def per_call(params, x, y):
            self._traces += 1  # Python side effect: runs once per trace, never per call
            return step(params, x, y)

        def in_graph(params, x, y, n):
            self._traces += 1

            def body(_, carry):
                return step(carry[0], x, y)

            return jax.lax.fori_loop(0, n, body, (params, jnp.zeros((), dtype)))

        # Parameters are donated: the update reuses their buffers, as TF's assign_sub and torch's in-place step do.
        if case.mode == "in-graph":
            self._fn = jax.jit(in_graph, donate_argnums=0)
        else:
            self._fn = jax.jit(per_call, donate_argnums=0)
        self._checksum = jax.jit(lambda params: sum(p.reshape(-1)[0].astype(jnp.float32) for p in params))
        self.loss = None

    def run(self, n: int) -> None:
        if self.case.mode == "in-graph":
            self.params_j, self.loss = self._fn(self.params_j, self.x, self.y, n)
        else:
            for _ in range(n):
                self.params_j, self.loss = self._fn(self.params_j, self.x, self.y)

    def sync(self) -> float:
        self.jax.block_until_ready(self.params_j)
        return float(self._checksum(self.params_j))

    def n_traces(self) -> int | None:
        return self._traces

    def last_loss(self) -> float:
        return float(self.loss)

    def placement(self) -> dict:
        return {}  # jax devices have no TF name; the mapping is fixed by jax_device()

    def params(self) -> list[np.ndarray]:
        return [np.asarray(p).copy() for p in self.params_j]


RUNNERS = {"keras": KerasRunner, "torch": TorchRunner, "jax": JaxRunner,
           "mlx": lambda case, seed=0: importlib.import_module("simplenn.mlx_runner").MlxRunner(case, seed)}


def runner(case: Case, seed: int = 0):
    """A runner for a peer implementation (case.impl in keras/torch/jax); raises Unsupported when it cannot run."""
    reason = unsupported_reason(case, backend="none")  # the implementation's own limits; measure() adds the device's
    if reason:
        raise Unsupported(reason)
    if case.impl not in RUNNERS:
        raise Unsupported(f"no peer implementation called {case.impl!r} (peers: {', '.join(RUNNERS)})")
    return RUNNERS[case.impl](case, seed)
