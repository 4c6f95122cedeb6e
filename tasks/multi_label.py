"""multi_label: a set of labels an example (classification's option), scored by a sigmoid each.

The label column holds a list (JSON / JSON Lines) or a string of labels joined by
`label_separator` (CSV / TSV; an empty field is the empty set). Training: binary cross-entropy on
every (example, label) pair, summed, and counted per pair, so an accumulated batch averages over
all of its pairs as torch's BCEWithLogitsLoss(reduction="mean") does. A label is predicted when its
sigmoid reaches `threshold` (one for all, or one a label); scoring also finds, on a grid, the
global threshold that maximises micro F1 (best_threshold, best_micro_f1) and each label's own
threshold that maximises its F1 (best_threshold_<label>, and best_per_label_micro_f1 with them),
which `export` stores as the model's threshold (tune_threshold: global, per_label or off). The
metrics are scikit-learn's: micro and macro F1, subset accuracy (every label of an example right),
and F1 per label.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import expit
from sklearn.metrics import accuracy_score, f1_score

from finetune.errors import InputError

THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.05), 2)  # the grid best_threshold is chosen from
METRICS = ("micro_f1", "macro_f1", "subset_accuracy")


def label_set(value, separator: str) -> list[str] | None:
    """A row's labels: None when the field is missing (a test file), else the list (maybe empty)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value]
    return [part.strip() for part in str(value).split(separator) if part.strip()]


def multi_hot(labels: list[str], chosen: list[str]) -> list[float]:
    present = set(chosen)
    return [1.0 if label in present else 0.0 for label in labels]


def loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="sum")


def thresholds(threshold: float | list[float], labels: list[str]) -> np.ndarray:
    return np.asarray(threshold if isinstance(threshold, list) else [threshold] * len(labels), dtype=np.float64)


def decode(logits: np.ndarray, labels: list[str], threshold: float | list[float]) -> list[dict]:
    """{labels, probabilities} an example: every label whose sigmoid reaches its threshold."""
    probabilities = expit(logits.astype(np.float64))
    cut = thresholds(threshold, labels)
    return [{"labels": [label for label, p, t in zip(labels, row, cut) if p >= t],
             "probabilities": dict(zip(labels, (float(p) for p in row)))} for row in probabilities]


def _scores(predicted: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    return {"micro_f1": float(f1_score(gold, predicted, average="micro", zero_division=0)),
            "macro_f1": float(f1_score(gold, predicted, average="macro", zero_division=0)),
            "subset_accuracy": float(accuracy_score(gold, predicted))}


def _best(score_of) -> float:
    """The grid threshold with the highest score; a tie goes to the one nearest 0.5."""
    return float(max(THRESHOLDS, key=lambda t: (score_of(t), -abs(t - 0.5))))


def score(probabilities: np.ndarray, gold: np.ndarray, labels: list[str],
          threshold: float | list[float]) -> dict[str, float]:
    """Metrics at `threshold`, per-label F1, and the grid thresholds with the best micro F1 (one
    for all labels) and the best F1 of each label."""
    predicted = (probabilities >= thresholds(threshold, labels)).astype(int)
    metrics = _scores(predicted, gold)
    per_label = f1_score(gold, predicted, average=None, zero_division=0)
    metrics.update({f"f1_{label}": float(v) for label, v in zip(labels, per_label)})
    def micro(cut) -> float:
        return float(f1_score(gold, (probabilities >= cut).astype(int), average="micro", zero_division=0))

    best = _best(micro)
    metrics["best_micro_f1"], metrics["best_threshold"] = micro(best), best
    per_label = [_best(lambda t, j=j: f1_score(gold[:, j], (probabilities[:, j] >= t).astype(int), zero_division=0))
                 for j in range(len(labels))]
    metrics.update({f"best_threshold_{label}": t for label, t in zip(labels, per_label)})
    metrics["best_per_label_micro_f1"] = micro(np.asarray(per_label))
    return metrics


def chosen_threshold(metrics: dict[str, float], how: str) -> dict:
    """What export stores (tune_threshold): the global best, one a label (in label order: score
    writes best_threshold_<label> in that order), or nothing."""
    if how == "global" and "best_threshold" in metrics:
        return {"threshold": metrics["best_threshold"]}
    per_label = [v for k, v in metrics.items() if k.startswith("best_threshold_")]
    if how == "per_label" and per_label:
        return {"threshold": per_label}
    return {}


def write_report(path, gold: list[list[str]], predicted: list[list[str]], labels: list[str], names: list[str]):
    """scikit-learn's classification_report over label sets: precision, recall, F1 and support a label,
    with micro, macro, weighted and samples averages."""
    from sklearn.metrics import classification_report

    report = classification_report(np.asarray([multi_hot(labels, g) for g in gold], dtype=int),
                                   np.asarray([multi_hot(labels, p) for p in predicted], dtype=int),
                                   target_names=names, digits=4, zero_division=0)
    path.write_text(f"{len(gold)} examples, {len(labels)} labels (multi-label)\n\n{report}")
    return path


def check_options(o) -> None:
    """The options that multi_label=true rules out or needs (exit 2)."""
    if o.regression or o.class_weights is not None:
        key = "regression" if o.regression else "class_weights"
        raise InputError(f"config key '{key}': not with multi_label=true (a sigmoid a label). Set {key} to its default.")
    if not all(0 < t < 1 for t in (o.threshold if isinstance(o.threshold, list) else [o.threshold])):
        raise InputError(f"config key 'threshold': {o.threshold} is not between 0 and 1 (a sigmoid's range).")
    if not o.label_separator:
        raise InputError("config key 'label_separator': empty; give the character that joins a row's labels, e.g. '|'.")
