"""Classification metrics from label arrays (pandas confusion matrix; checked against scikit-learn in the tests)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> pd.DataFrame:
    """Counts with true labels as rows and predicted labels as columns, every class present."""
    labels = pd.Index(range(n_classes))
    table = pd.crosstab(pd.Series(y_true, name="true"), pd.Series(y_pred, name="pred"))
    return table.reindex(index=labels, columns=labels, fill_value=0)


def scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, float]:
    """accuracy, macro precision (a class never predicted counts as 0, as scikit-learn) and micro-F1.

    For single-label data micro-F1 equals accuracy; it is reported because the tutorial reports it.
    """
    cm = confusion(y_true, y_pred, n_classes).to_numpy()
    tp = np.diag(cm)
    predicted = cm.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
    present = (cm.sum(axis=1) + predicted) > 0  # scikit-learn averages over labels seen in y_true or y_pred
    total = cm.sum()
    micro_p = micro_r = tp.sum() / total
    return {
        "accuracy": float(tp.sum() / total),
        "precision_macro": float(precision[present].mean()),
        "f1_micro": float(2 * micro_p * micro_r / (micro_p + micro_r)) if tp.sum() else 0.0,  # 0 when none right, as scikit-learn
    }
