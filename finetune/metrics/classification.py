"""Classification and regression metrics as pure functions of numpy arrays (checked in tests against
scikit-learn and scipy): accuracy, binary F1 (positive class 1), Matthews correlation, Pearson and
Spearman correlation; `compute` gives a task's list of them by name.
"""

from __future__ import annotations

import numpy as np


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    return float((predictions == labels).mean()) if len(labels) else 0.0


def f1_binary(predictions: np.ndarray, labels: np.ndarray, positive: int = 1) -> float:
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    tp = int(((predictions == positive) & (labels == positive)).sum())
    fp = int(((predictions == positive) & (labels != positive)).sum())
    fn = int(((predictions != positive) & (labels == positive)).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def matthews_corrcoef(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Multiclass Matthews correlation (Gorodkin's R_K), as scikit-learn computes it."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    classes = np.union1d(predictions, labels)
    pred_idx = np.searchsorted(classes, predictions)
    label_idx = np.searchsorted(classes, labels)
    confusion = np.zeros((len(classes), len(classes)), dtype=np.float64)
    np.add.at(confusion, (label_idx, pred_idx), 1)
    t_sum, p_sum = confusion.sum(axis=1), confusion.sum(axis=0)
    correct, samples = np.trace(confusion), confusion.sum()
    cov_ytyp = correct * samples - t_sum @ p_sum
    cov_ypyp = samples**2 - p_sum @ p_sum
    cov_ytyt = samples**2 - t_sum @ t_sum
    denominator = cov_ytyt * cov_ypyp
    return float(cov_ytyp / np.sqrt(denominator)) if denominator else 0.0


def pearson(predictions: np.ndarray, labels: np.ndarray) -> float:
    x, y = np.asarray(predictions, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x @ x) * (y @ y))
    return float(x @ y / denominator) if denominator else 0.0


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank (scipy.stats.rankdata's 'average')."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.r_[first[1:], len(values)] - 1
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = (first[group] + last[group]) / 2 + 1
    return ranks


def spearman(predictions: np.ndarray, labels: np.ndarray) -> float:
    return pearson(_average_ranks(np.asarray(predictions)), _average_ranks(np.asarray(labels)))


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
