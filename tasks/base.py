"""The adapter interface: everything the loop needs to know about one kind of task, and nothing else.

An adapter never touches devices, precision, processes or checkpoints; the loop never looks inside
examples. Data flows: raw examples -> encode -> features -> model -> outputs -> decode -> predictions
-> score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from datasets import Dataset
from transformers import DataCollatorWithPadding

from finetune.config import RunConfig
from finetune.data import RawSplit


def check_text(split: RawSplit, column: str, *, allow_empty: bool = True, allow_null: bool = False) -> None:
    """Reject (stop at, or with data.bad_rows=skip leave out) every row whose `column` is not text:
    null, a number, a list. An empty string is text unless allow_empty is False."""
    for row, value in enumerate(split.dataset[column]):
        if value is None and allow_null:
            continue
        if not isinstance(value, str) or not (allow_empty or value.strip()):
            split.reject(row, f"{split.where(row)}: column '{column}' is empty or not text ({value!r}). "
                              f"Fill it in or remove the row.")


@dataclass
class NoOptions:
    pass


class Adapter:
    Options: ClassVar[type] = NoOptions
    model_class: ClassVar[Any]  # a transformers Auto class, or a builder with from_pretrained
    pipeline_task: ClassVar[str | None] = None  # the transformers pipeline an export serves
    hub_tag: ClassVar[str | None] = None  # the model card's pipeline_tag (default: pipeline_task)
    pipeline_kwargs: ClassVar[dict] = {}  # arguments the pipeline needs to give the toolkit's predictions
    predict_flags: ClassVar[str] = '--text "..."'  # what `predict` takes on the command line (model cards)
    collator_class: ClassVar[Any] = DataCollatorWithPadding  # pads a batch of features (dynamic padding)
    # Input already split into words (NER): byte-level BPE tokenizers (GPT-2) then need add_prefix_space.
    pretokenized_input: ClassVar[bool] = False
    output_keys: ClassVar[tuple[str, ...]] = ("logits",)  # model outputs decode needs
    # Feature columns batched but not given to the model (the adapter's loss reads the labels).
    feature_keys: ClassVar[tuple[str, ...]] = ("example_index", "labels")
    label_keys: ClassVar[tuple[str, ...]] = ("labels",)  # present in a batch -> the loss can be computed
    # Feature columns kept for decode only, never batched (ragged: offset mappings, word ids).
    decode_columns: ClassVar[tuple[str, ...]] = ()
    # Predictions are generated text (model.generate on the prompt), not one forward pass.
    generates: ClassVar[bool] = False
    peft_task_type: ClassVar[str | None] = None  # peft's TaskType for LoRA (lora.enabled); None: not supported

    def __init__(self, config: RunConfig):
        self.config = config
        self.options = config.options

    # -- labels and model ------------------------------------------------------------------
    def prepare_tokenizer(self, tokenizer: Any) -> None:
        """Adjust the tokenizer for the task (padding side, ...) before anything is encoded."""
    def setup_labels(self, splits: dict[str, RawSplit]) -> None:
        """Fix the label list (from the config or the training data) and check every split."""

    def model_kwargs(self) -> dict:
        """Extra from_pretrained arguments (num_labels, id2label, ...)."""
        return {}

    def restore_labels(self, model_config: Any) -> None:
        """Take the label list from a trained model's config (evaluate / predict on a run or export)."""

    # -- data -------------------------------------------------------------------------------
    def encode(self, batch: dict[str, list], indices: list[int], tokenizer: Any, split: str) -> dict:
        """Tokenise a batch of raw examples (datasets.map, batched) into features."""
        raise NotImplementedError

    def generate(self, model: Any, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Generating adapters: the output_keys tensors of one evaluation batch (generated token ids)."""
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

    # -- predictions ------------------------------------------------------------------------
    def decode(self, examples: Dataset, features: Dataset, outputs: dict[str, list[np.ndarray]]) -> list:
        """Model outputs per feature (in feature order) -> one prediction per example."""
        raise NotImplementedError

    def has_gold(self, examples: Dataset, split: str) -> bool:
        """Whether a split carries references to score against (test splits do not)."""
        raise NotImplementedError

    def score(self, predictions: list, examples: Dataset) -> dict[str, float]:
        raise NotImplementedError

    primary_metric: str = "loss"
    headline_metrics: ClassVar[tuple[str, ...] | None] = None  # shown in one-line summaries (None: all)

    def headline(self, metrics: dict[str, float]) -> str:
        """`key=value, ...` of the headline metrics, for one-line summaries."""
        keys = self.headline_metrics
        return ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if keys is None or k in keys)
    greater_is_better: bool = True

    gold_in_predictions: ClassVar[bool] = False  # a predictions file can carry the gold too (conlleval's columns)

    def score_files(self, predictions: Path, references: Path | None, null_odds: Path | None = None) -> str:
        """`python -m finetune score`: the official metrics of a predictions file, as text."""
        raise NotImplementedError

    def export_options(self, metrics: dict[str, float]) -> dict:
        """Task options an export should carry, chosen from the dev metrics (v2's null threshold)."""
        return {}

    def write_predictions(self, folder: Path, name: str, examples: Dataset, predictions: list) -> list[Path]:
        """Write predictions in the task's official format as `folder/name.*` (and companion
        files, e.g. SQuAD's nbest); returns the files written."""
        raise NotImplementedError

    def card_usage(self, folder: Path, name: str) -> str | None:
        """Python for the model card that uses an exported folder (`folder`, to be published as
        `name`) with plain transformers, for tasks no pipeline serves; None: the pipeline call."""
        return None

    def show(self, examples: Dataset, predictions: list) -> list[str]:
        """One readable line per prediction, for examples typed on the command line."""
        return [str(p) for p in predictions]

    def examples_from_flags(self, flags: dict[str, list[str]]) -> Dataset | None:
        """Examples typed on the command line (predict --text / --question ...), or None."""
        return None
