"""class_weights: a weighted cross-entropy for imbalanced classes (classification and NER tags).

The training objective becomes sum(w_y * CE) / sum(w_y) over the whole accumulated batch (every
micro-batch, every process), exactly torch's `cross_entropy(weight=w, reduction="mean")` on that
batch: train_loss returns the weighted sum and train_items the sum of the weights, which the loop
adds up before it divides. `balanced` is scikit-learn's compute_class_weight("balanced"):
n_samples / (n_classes * count of the class) over the training labels (NER: the tags the loss
sees). The dev loss stays the plain mean cross-entropy, so that runs with and without weights
compare; the effect shows in macro F1 and the per-class report.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from finetune.errors import InputError

IGNORED = -100


def resolve(spec, labels: list[str], train_ids: list[int] | None) -> list[float] | None:
    """One weight a label (in id order), from the config value `spec`: null, balanced, or a list."""
    if spec is None:
        return None
    if spec == "balanced":
        if not train_ids:
            raise InputError("config key 'class_weights': balanced needs the labels of a train split; give "
                             "class_weights=[w1, w2, ...] or train with data.train set.")
        counts = np.bincount(np.asarray(train_ids), minlength=len(labels))
        missing = [labels[i] for i, n in enumerate(counts) if n == 0]
        if missing:
            raise InputError(f"config key 'class_weights': balanced weighs a class by 1 / its count, and the train "
                             f"split has no {', '.join(missing)}. Give class_weights=[...] or drop those labels.")
        from sklearn.utils.class_weight import compute_class_weight

        ids = np.arange(len(labels))
        return [float(w) for w in compute_class_weight("balanced", classes=ids, y=np.asarray(train_ids))]
    if len(spec) != len(labels):
        raise InputError(f"config key 'class_weights': {len(spec)} weights for {len(labels)} labels ({', '.join(labels)}). "
                         f"Give one weight a label, in that order, or class_weights=balanced.")
    bad = [w for w in spec if not (math.isfinite(w) and w > 0)]
    if bad:
        raise InputError(f"config key 'class_weights': {bad[0]} is not a positive number; every weight must be > 0.")
    return [float(w) for w in spec]


def describe(weights: list[float], labels: list[str]) -> str:
    return "Class weights (class_weights): " + ", ".join(f"{label} {w:.3f}" for label, w in zip(labels, weights))


class ClassWeights:
    """Mixin of an adapter with `self.weights` (None, or one float a label): the loop's objective."""

    weights: list[float] | None = None
    _tensor: torch.Tensor | None = None  # the weights on the training device, made once

    def _weight_of(self, labels: torch.Tensor) -> torch.Tensor:
        """Each label's weight, the ignored positions left out."""
        if self._tensor is None or self._tensor.device != labels.device:
            self._tensor = torch.tensor(self.weights, device=labels.device)
        return self._tensor[labels[labels != IGNORED]]

    def _pairs(self, outputs, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits = outputs.logits.float()
        flat, labels = logits.reshape(-1, logits.shape[-1]), batch["labels"].reshape(-1)
        keep = labels != IGNORED
        return flat[keep], labels[keep], self._weight_of(labels)

    def train_loss(self, outputs, batch) -> torch.Tensor:
        if self.weights is None:
            return self.loss(outputs, batch)
        logits, labels, weight = self._pairs(outputs, batch)
        return (weight * F.cross_entropy(logits, labels, reduction="none")).sum()

    def train_items(self, batch) -> torch.Tensor:
        if self.weights is None:
            return self.count_items(batch)
        return self._weight_of(batch["labels"].reshape(-1)).sum()

    def objective_record(self) -> dict:
        return {"class_weights": dict(zip(self.labels, self.weights))} if self.weights else {}

    def objective_note(self) -> str | None:
        return describe(self.weights, self.labels) if self.weights else None
