"""The adapter core: everything the loop needs to know about one kind of task, and nothing else.

An adapter never touches devices, precision, processes or checkpoints; the loop never looks inside
examples. Data flows: raw examples -> encode -> features -> model -> outputs -> decode -> predictions
-> score. What only some tasks need (prediction files, command-line input, a model card) are the
optional roles in tasks/roles.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from datasets import Dataset
from transformers import DataCollatorWithPadding

from finetune.config.schema import RunConfig
from finetune.data.splits import RawSplit
from finetune.errors import InputError


def check_text(split: RawSplit, column: str, *, allow_empty: bool = True, allow_null: bool = False) -> None:
    """Reject (stop at, or with data.bad_rows=skip leave out) every row whose `column` is not text:
    null, a number, a list. An empty string is text unless allow_empty is False."""
    for row, value in enumerate(split.dataset[column]):
        if value is None and allow_null:
            continue
        if not isinstance(value, str) or not (allow_empty or value.strip()):
            split.reject(row, f"{split.where(row)}: column '{column}' is empty or not text ({value!r}). "
                              f"Fill it in or remove the row.")


def require_columns(split: RawSplit, columns: dict[str, str], fix: str | None = None) -> None:
    """Stop when the split lacks one of `columns` (column -> the config key naming it), saying
    which key to set."""
    present = split.dataset.column_names
    for column, key in columns.items():
        if column not in present:
            raise InputError(f"{split.location}: no column '{column}' (columns: {', '.join(present)}). "
                             f"{fix or f'Set {key}=<column> to the column that holds it.'}")


def column_texts(examples: Dataset, columns: list[str | None], distinct: bool = False) -> list[str]:
    """Every string of the given columns (lists of strings flattened; missing columns and other
    values left out): what a vocabulary scan reads and counts. distinct: each text once (a passage
    that several questions share is one text)."""
    texts = []
    for column in (c for c in columns if c and c in examples.column_names):
        for value in examples[column]:
            texts.extend(t for t in (value if isinstance(value, list) else [value]) if isinstance(t, str))
    return list(dict.fromkeys(texts)) if distinct else texts


@dataclass
class NoOptions:
    pass


class Adapter:
    Options: ClassVar[type] = NoOptions  # the task's own config keys (top-level keys of its YAML)
    model_class: ClassVar[Any]  # a transformers Auto class, or a builder with from_pretrained
    collator_class: ClassVar[Any] = DataCollatorWithPadding  # pads a batch of features (dynamic padding)
    output_keys: ClassVar[tuple[str, ...]] = ("logits",)  # model outputs decode needs
    label_keys: ClassVar[tuple[str, ...]] = ("labels",)  # feature columns the loss reads, never given to the model
    # Feature columns kept for decode only, never batched (ragged: offset mappings, word ids).
    decode_columns: ClassVar[tuple[str, ...]] = ()
    primary_metric: str  # selects the best checkpoint (greater is better)
    headline_metrics: ClassVar[tuple[str, ...] | None] = None  # shown in one-line summaries (None: all)
    # peft's TaskType for peft.method where the task needs peft's own model class (CAUSAL_LM: generate);
    # None: the generic PeftModel, the head trained in full found by name (finetune/models/peft_methods.py)
    peft_task_type: ClassVar[str | None] = None
    # peft's TaskType whose model adds prompt / prefix tuning's virtual tokens for this task, and
    # whose adapter folder AutoPeftModelFor* loads; None: those methods are refused (exit 2)
    prompt_task_type: ClassVar[str | None] = None
    position_outputs: ClassVar[bool] = False  # the outputs run over positions (prompt tuning lengthens them)
    metrics_in_percent: ClassVar[bool] = False  # the official scorer's scale (SQuAD's: percent); else fractions

    def __init__(self, config: RunConfig):
        self.config = config
        self.options = config.options

    # -- before encoding ----------------------------------------------------------------------
    def prepare_tokenizer(self, tokenizer: Any) -> Any:
        """The tokenizer the task encodes with: adjusted (padding side, ...) or replaced."""
        return tokenizer

    def setup_labels(self, splits: dict[str, RawSplit], trained_config: Any = None) -> None:
        """Fix the label list (from a trained model's config when given, else the task config or the
        training data) and check every split, rejecting malformed rows."""

    def backbone_note(self, path: str) -> str | None:
        """Settle what depends on the backbone a new head is put on (path: its folder or hub id);
        the line the run prints about it."""
        return None

    def model_kwargs(self) -> dict:
        """Extra from_pretrained arguments for a new head (num_labels, id2label, ...)."""
        return {}

    def texts(self, examples: Dataset) -> list[str]:
        """The raw text the model reads from a split (vocab.add_tokens scans it); column_texts does it."""
        raise NotImplementedError

    # -- training ---------------------------------------------------------------------------------
    def encode(self, batch: dict[str, list], indices: list[int], tokenizer: Any, split: str) -> dict:
        """Tokenise a batch of raw examples (datasets.map, batched) into features."""
        raise NotImplementedError

    def loss(self, outputs: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The SUM of per-item losses of a batch. The loop divides by count_items over the whole
        accumulated batch (all micro-batches, all processes), so accumulation equals one big batch."""
        raise NotImplementedError

    def count_items(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """How many items the loss sums over: labelled tokens for token-level labels, else examples."""
        labels = batch["labels"]
        if labels.dim() > 1 and not labels.is_floating_point():
            return (labels != -100).sum()
        return torch.tensor(labels.shape[0], device=labels.device)

    def train_loss(self, outputs: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The training objective's SUM (the loop's); the scored loss unless an option reweighs it
        (class_weights)."""
        return self.loss(outputs, batch)

    def train_items(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """What train_loss sums over: count_items, or the sum of the items' weights."""
        return self.count_items(batch)

    def objective_record(self) -> dict:
        """What a run's metrics.json records about train_loss and the head when options settled them
        (class_weights, pooling)."""
        return {}

    def objective_note(self) -> str | None:
        """The line a training run prints about it."""
        return None

    # -- predictions --------------------------------------------------------------------------------
    def predict_step(self, model: Any, inputs: dict[str, torch.Tensor]) -> Any:
        """The outputs of one evaluation batch (output_keys); generating tasks override it."""
        return model(**inputs)

    def decode(self, examples: Dataset, features: Dataset, outputs: dict[str, list[np.ndarray]]) -> list:
        """Model outputs per feature (in feature order) -> one prediction per example."""
        raise NotImplementedError

    def has_gold(self, examples: Dataset, split: str) -> bool:
        """Whether a split carries references to score against (test splits do not)."""
        raise NotImplementedError

    def score(self, predictions: list, examples: Dataset) -> dict[str, float]:
        raise NotImplementedError
