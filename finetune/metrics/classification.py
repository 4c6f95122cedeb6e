"""Classification and regression metrics: scikit-learn's and scipy's, called as GLUE's scorers call
them (accuracy, binary F1 of class 1, Matthews correlation, Pearson and Spearman correlation);
`compute` gives a task's list of them by name. Where the library answers nan or raises on a
degenerate input (a constant column, no examples), the score here is 0.0: a run's best checkpoint
is chosen by comparing scores, and nan compares with nothing.
"""

from __future__ import annotations

import warnings

import numpy as np


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(np.asarray(labels), np.asarray(predictions))) if len(labels) else 0.0


def f1_binary(predictions: np.ndarray, labels: np.ndarray, positive: int = 1) -> float:
    """F1 of the `positive` class (MRPC, QQP: class 1), 0.0 without a true positive."""
    from sklearn.metrics import f1_score

    # labels=[positive] with micro averaging is that class's F1 whatever other classes occur, where
    # average="binary" refuses a `positive` absent from both arrays.
    return float(f1_score(np.asarray(labels), np.asarray(predictions), labels=[positive], average="micro",
                          zero_division=0.0))


def matthews_corrcoef(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Multiclass Matthews correlation (Gorodkin's R_K); 0.0 when a side has one class."""
    from sklearn.metrics import matthews_corrcoef as mcc

    return float(mcc(np.asarray(labels), np.asarray(predictions)))


def _correlation(kind: str, predictions: np.ndarray, labels: np.ndarray) -> float:
    from scipy import stats

    x, y = np.asarray(predictions, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return 0.0  # undefined: scipy warns and answers nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        value = (stats.pearsonr if kind == "pearson" else stats.spearmanr)(x, y)[0]
    return float(value) if np.isfinite(value) else 0.0


def pearson(predictions: np.ndarray, labels: np.ndarray) -> float:
    return _correlation("pearson", predictions, labels)


def spearman(predictions: np.ndarray, labels: np.ndarray) -> float:
    return _correlation("spearman", predictions, labels)


METRICS = {
    "accuracy": accuracy,
    "f1": f1_binary,
    "matthews": matthews_corrcoef,
    "pearson": pearson,
    "spearman": spearman,
}


def compute(names: list[str], predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The named metrics; with two or more, also their mean as `combined` (GLUE's per-task score
    for MRPC, QQP and STS-B)."""
    scores = {name: METRICS[name](predictions, labels) for name in names}
    if len(names) > 1:
        scores["combined"] = float(np.mean([scores[n] for n in names]))
    return scores
