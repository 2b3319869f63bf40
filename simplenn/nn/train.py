"""The tutorial's training run: shuffled minibatches, per-epoch loss, test accuracy, precision, F1 and seconds."""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simplenn.core.cases import check_positive, check_widths
from simplenn.nn.data import Dataset
from simplenn.core.errors import FieldError
from simplenn.nn.metrics import confusion, scores

if TYPE_CHECKING:
    from simplenn.nn.model import Network
# simplenn.nn.model (TensorFlow) is imported inside train(), so the CLI reads the defaults below without importing it.

# Chosen by measurement on mnist-5k (784-100-30-10, batch 32, 10 epochs, seeds 0–2; docs/training.md): softmax
# cross-entropy at learning rate 0.2. The tutorial's per-class sigmoid at 0.01 learns far more slowly.
DEFAULT_LOSS = "softmax"
DEFAULT_LEARNING_RATE = 0.2
DEFAULT_EPOCHS = 10
DEFAULT_BATCH_SIZE = 32
# `--preset NAME` replaces these settings; explicit flags still override it.
PRESETS: dict[str, dict[str, object]] = {
    "tutorial": {"loss": "sigmoid", "learning_rate": 0.01},
}


def settings(preset: str | None = None, **flags) -> dict[str, object]:
    """epochs, batch_size, learning_rate and loss: each flag that is not None, else the preset's, else the default."""
    if preset is not None and preset not in PRESETS:
        raise FieldError("preset", f"{preset!r} is not one of {', '.join(PRESETS)}")
    chosen = {"epochs": DEFAULT_EPOCHS, "batch_size": DEFAULT_BATCH_SIZE, "learning_rate": DEFAULT_LEARNING_RATE,
              "loss": DEFAULT_LOSS, **PRESETS.get(preset, {})}
    return {k: flags[k] if flags.get(k) is not None else v for k, v in chosen.items()}


@dataclass(frozen=True)
class TrainConfig:
    layers: tuple[int, ...]
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    learning_rate: float = DEFAULT_LEARNING_RATE
    loss: str = DEFAULT_LOSS
    device: str = "CPU:0"
    seed: int = 0

    def __post_init__(self) -> None:
        check_widths(self.layers, "layers")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise FieldError(name, f"must be a positive integer, got {value!r}")
        check_positive(self.learning_rate, "learning_rate")


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
    confusion: pd.DataFrame | None = None  # after the last epoch: true digit rows × predicted digit columns
    stopped: str | None = None  # why training stopped early (a non-finite loss), else None

    @property
    def test_accuracy(self) -> float:
        return self.epochs[-1].test_accuracy

    def to_dict(self) -> dict:
        """A summary for strict JSON: non-finite numbers become None (null), never NaN or Infinity."""
        d = {"dataset": self.dataset, "config": asdict(self.config), "epochs": [asdict(e) for e in self.epochs]}
        d["config"]["layers"] = list(self.config.layers)
        d["test_accuracy"] = self.test_accuracy if self.epochs else None
        d["stopped"] = self.stopped
        d["note"] = ("loss: mean training loss over the epoch's minibatches; accuracy, macro precision and micro-F1 "
                     "on the test split; micro-F1 equals accuracy for single-label data")
        return _finite_or_none(d)


def _finite_or_none(value):
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; `result` holds the epochs up to and including that one."""

    def __init__(self, message: str, result: TrainResult):
        super().__init__(message)
        self.result = result


def evaluate(network: Network, data: Dataset) -> tuple[dict[str, float], np.ndarray]:
    """Test-split scores and the predicted labels."""
    from simplenn.nn.model import tf  # noqa: PLC0415

    pred = network.predict(tf.constant(data.x_test)).numpy()
    return scores(data.y_test, pred, data.n_classes), pred


def train(data: Dataset, config: TrainConfig, on_epoch: Callable[[EpochStats], None] | None = None,
          progress: Callable[[int], None] | None = None) -> TrainResult:
    """Train a fresh Network on `data` with `config`; `progress(n)` is called after each minibatch of n examples.

    Raises TrainingDiverged when an epoch's mean loss is not finite: the weights are then NaN/inf and every
    later number would be meaningless.
    """
    if config.layers[0] != data.in_dim or config.layers[-1] != data.n_classes:
        raise FieldError("layers", f"the {data.name} data needs input size {data.in_dim} and output size "
                                   f"{data.n_classes}, got {','.join(map(str, config.layers))}")
    from simplenn.nn.model import Network, make_train_step, tf  # noqa: PLC0415

    rng = np.random.default_rng(config.seed)
    y_onehot = np.eye(data.n_classes, dtype=np.float32)[data.y_train]
    epochs: list[EpochStats] = []
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
            if math.isfinite(mean_loss):
                metrics, pred = evaluate(network, data)
            else:  # NaN/inf weights: their predictions would be meaningless numbers, so none are given
                metrics = dict.fromkeys(("accuracy", "precision_macro", "f1_micro"), math.nan)
            stats = EpochStats(epoch, mean_loss, metrics["accuracy"], metrics["precision_macro"], metrics["f1_micro"],
                               time.perf_counter() - t0)
            epochs.append(stats)
            if on_epoch:
                on_epoch(stats)
            if not math.isfinite(mean_loss):
                why = (f"training diverged: the mean training loss of epoch {epoch} is {mean_loss} with "
                       f"--learning-rate {config.learning_rate:g} ({config.loss} loss); try a smaller learning rate "
                       f"(the default is {DEFAULT_LEARNING_RATE:g})")
                raise TrainingDiverged(why, TrainResult(data.name, config, epochs, None, why))
    return TrainResult(data.name, config, epochs, confusion(data.y_test, pred, data.n_classes))
