"""The tutorial's training run: shuffled minibatches, per-epoch loss, test accuracy, precision, F1 and seconds."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from simplenn.cases import check_positive, check_widths
from simplenn.data import Dataset
from simplenn.errors import UsageError
from simplenn.metrics import scores
from simplenn.model import Network, make_train_step, tf


@dataclass(frozen=True)
class TrainConfig:
    layers: tuple[int, ...]
    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 0.01
    loss: str = "sigmoid"
    device: str = "CPU:0"
    seed: int = 0

    def __post_init__(self) -> None:
        check_widths(self.layers, "--layers")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise UsageError(f"--{name.replace('_', '-')}: must be a positive integer, got {value!r}")
        check_positive(self.learning_rate, "--learning-rate")


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    loss: float  # mean training loss over the epoch's minibatches
    test_accuracy: float
    test_precision_macro: float
    test_f1_micro: float
    epoch_s: float


@dataclass(frozen=True)
class TrainResult:
    dataset: str
    config: TrainConfig
    epochs: list[EpochStats] = field(default_factory=list)

    @property
    def test_accuracy(self) -> float:
        return self.epochs[-1].test_accuracy

    def to_dict(self) -> dict:
        d = {"dataset": self.dataset, "config": asdict(self.config), "epochs": [asdict(e) for e in self.epochs]}
        d["config"]["layers"] = list(self.config.layers)
        d["test_accuracy"] = self.test_accuracy
        d["note"] = "micro-F1 equals accuracy for single-label data"
        return d


def evaluate(network: Network, data: Dataset) -> dict[str, float]:
    pred = network.predict(tf.constant(data.x_test)).numpy()
    return scores(data.y_test, pred, data.n_classes)


def train(data: Dataset, config: TrainConfig, on_epoch: Callable[[EpochStats], None] | None = None,
          progress: Callable[[int], None] | None = None) -> TrainResult:
    """Train a fresh Network on `data` with `config`; `progress(n)` is called after each minibatch of n examples."""
    if config.layers[0] != data.in_dim or config.layers[-1] != data.n_classes:
        raise UsageError(
            f"--layers: the {data.name} data needs input size {data.in_dim} and output size {data.n_classes}, "
            f"got {','.join(map(str, config.layers))}"
        )
    rng = np.random.default_rng(config.seed)
    y_onehot = np.eye(data.n_classes, dtype=np.float32)[data.y_train]
    result = TrainResult(data.name, config)
    with tf.device(config.device):
        network = Network(config.layers, seed=config.seed, loss=config.loss, learning_rate=config.learning_rate)
        step = make_train_step(network)
        for epoch in range(1, config.epochs + 1):
            t0 = time.perf_counter()
            order = rng.permutation(len(data.x_train))
            losses = []
            for start in range(0, len(order), config.batch_size):
                idx = order[start : start + config.batch_size]
                losses.append(step(tf.constant(data.x_train[idx]), tf.constant(y_onehot[idx])))
                if progress:
                    progress(len(idx))
            mean_loss = float(tf.reduce_mean(tf.stack(losses)))
            metrics = evaluate(network, data)
            stats = EpochStats(epoch, mean_loss, metrics["accuracy"], metrics["precision_macro"], metrics["f1_micro"],
                               time.perf_counter() - t0)
            result.epochs.append(stats)
            if on_epoch:
                on_epoch(stats)
    return result
