"""Precision and F1 from simplenn.nn.metrics agree with scikit-learn's on the same predictions."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score

from simplenn.nn.metrics import confusion, scores


def _sklearn(y_true, y_pred):
    return {
        "accuracy": accuracy_score(y_true, y_pred),
        "precision_macro": precision_score(y_true, y_pred, average="macro", zero_division=0),
        "f1_micro": f1_score(y_true, y_pred, average="micro"),
    }


CASES = {
    # Class 2 is in y_true but never predicted: its precision is 0/0, counted as 0 (zero_division=0).
    "class never predicted": ([0, 1, 2, 2, 1, 0, 2, 1], [0, 1, 1, 0, 1, 0, 1, 1]),
    # Class 3 is predicted but never true: precision 0 for it.
    "class never true": ([0, 1, 1, 0, 2, 2], [0, 1, 3, 0, 2, 3]),
    # Classes 4–9 appear nowhere: scikit-learn averages only over labels seen in y_true or y_pred.
    "classes absent": ([0, 1, 2, 3, 0, 1], [0, 1, 2, 3, 1, 1]),
    "perfect": ([3, 1, 4, 1, 5, 9, 2, 6], [3, 1, 4, 1, 5, 9, 2, 6]),
    "all wrong": ([0, 1, 2, 3], [1, 2, 3, 0]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_scores_match_sklearn(name):
    y_true, y_pred = (np.array(a) for a in CASES[name])
    got = scores(y_true, y_pred, n_classes=10)
    want = _sklearn(y_true, y_pred)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def test_never_predicted_class_lowers_macro_precision():
    y_true, y_pred = (np.array(a) for a in CASES["class never predicted"])
    # By hand: class 0 → 2/3 correct, class 1 → 3/5, class 2 → never predicted → 0. Macro = (2/3 + 3/5 + 0) / 3.
    assert scores(y_true, y_pred, 3)["precision_macro"] == pytest.approx((2 / 3 + 3 / 5 + 0) / 3)


@pytest.mark.parametrize("seed", range(5))
def test_scores_match_sklearn_on_random_predictions(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 10, 200)
    # Mostly right, and never predicting class 7, so at least one class has no predictions.
    y_pred = np.where(rng.random(200) < 0.7, y_true, rng.integers(0, 10, 200))
    y_pred[y_pred == 7] = 6
    got = scores(y_true, y_pred, 10)
    for key, value in _sklearn(y_true, y_pred).items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def test_confusion_has_every_class():
    cm = confusion(np.array([0, 0, 2]), np.array([0, 2, 2]), n_classes=4)
    assert cm.shape == (4, 4)
    assert cm.to_numpy().tolist() == [[1, 0, 1, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
