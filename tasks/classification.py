"""Single-sentence and sentence-pair classification and regression (GLUE, or your own CSV)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch.nn.functional as F
from datasets import ClassLabel, Dataset
from scipy.special import softmax

from finetune.data.splits import RawSplit, is_test_split, read_file
from finetune.errors import InputError
from finetune.metrics import classification as classification_metrics
from finetune.models import pooling, prompt_tuning
from tasks import card_code
from tasks import classification_report, prediction_tsv
from tasks import class_weights, long_texts, multi_label
from tasks.base import Adapter, check_text, column_texts, require_columns
from tasks.class_weights import ClassWeights
from tasks.pooled_head import PooledHead
from tasks.roles import CommandLineInput, ModelCard, PredictionFiles


@dataclass
class ClassificationOptions:
    text_column: str = "sentence"  # the text to classify (the first of a pair)
    text_pair_column: str | None = None  # set for sentence-pair tasks
    label_column: str = "label"  # the gold label (a test file may lack it)
    labels: list[str] | None = None  # label strings in id order; default: sorted labels of the train split
    # What each label means, in the order of `labels` (SST-2: negative, positive for "0", "1"): the
    # exported model's id2label, `predict --text` and the model card show these; files keep `labels`.
    label_names: list[str] | None = None
    regression: bool = False  # one output scored by mean squared error (STS-B)
    # accuracy, f1, matthews, pearson, spearman; with two or more, `combined` is their mean (GLUE's MRPC, QQP, STS-B)
    metrics: list[str] = field(default_factory=lambda: ["accuracy"])
    primary_metric: str = "accuracy"  # one of metrics (or combined): it picks the best checkpoint
    index_column: str | None = None  # the id column of the data files, written beside predictions
    # Weigh the training loss by class: balanced (n / (classes x count), scikit-learn's) or one weight
    # a label in the order of `labels`; the dev loss stays unweighted (tasks/class_weights.py).
    class_weights: Literal["balanced"] | list[float] | None = None
    # A set of labels an example (tasks/multi_label.py): a sigmoid a label, metrics micro_f1, macro_f1,
    # subset_accuracy, best_micro_f1 and f1_<label>; the label column a list (JSON) or joined labels (CSV / TSV).
    multi_label: bool = False
    label_separator: str = "|"  # multi_label in CSV / TSV: the character that joins a row's labels
    # multi_label: a label is predicted when its sigmoid reaches the threshold (or its own: a list in the order of labels)
    threshold: float | list[float] = 0.5
    # multi_label: the threshold export stores, chosen on the dev set: global (best micro F1), per_label (each label's best F1), off
    tune_threshold: Literal["global", "per_label", "off"] = "global"
    # Texts longer than data.max_seq_length: truncate (their first tokens only), or windows of that length
    # overlapping by window_stride tokens (the tokenizer's overflow, as SQuAD's), each trained with the
    # text's label; a text's prediction comes from its windows' logits (window_aggregate).
    long_input: Literal["truncate", "windows"] = "truncate"
    window_stride: int | None = None  # long_input=windows: tokens consecutive windows share (default: a quarter)
    window_aggregate: Literal["mean", "max"] = "mean"  # long_input=windows: a text's logits, from its windows'
    # What the classifier reads: model (the architecture's own head: BERT's pooler on [CLS], a decoder's last token),
    # mean (the mean of the last hidden states), auto (mean for a sentence-transformers backbone that mean-pools)
    pooling: Literal["auto", "model", "mean"] = "auto"


def is_number(value) -> bool:
    """A finite number, or text that reads as one: a regression target (nan or inf would poison the loss)."""
    if isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


class ClassificationAdapter(PooledHead, ClassWeights, Adapter, PredictionFiles, CommandLineInput, ModelCard):
    Options = ClassificationOptions
    model_class = pooling.SequenceClassifier
    prompt_task_type = "SEQ_CLS"
    pipeline_task = "text-classification"

    def __init__(self, config):
        super().__init__(config)
        o = self.options
        if o.multi_label:
            multi_label.check_options(o)
        for name in ([] if o.multi_label else o.metrics):
            if name not in classification_metrics.METRICS:
                raise InputError(f"config key 'metrics': unknown metric '{name}'. Metrics: {', '.join(classification_metrics.METRICS)}.")
        valid_primary = o.metrics + (["combined"] if len(o.metrics) > 1 else [])
        if o.multi_label:
            valid_primary = [*multi_label.METRICS, "best_micro_f1"]
        if o.primary_metric not in valid_primary:
            raise InputError(f"config key 'primary_metric': '{o.primary_metric}' is not one of {', '.join(valid_primary)}.")
        self.primary_metric = o.primary_metric
        self.labels: list[str] | None = list(o.labels) if o.labels else None
        if o.label_names is not None and o.labels and len(o.label_names) != len(o.labels):
            self._refuse_label_names(o.labels)

    # -- labels -----------------------------------------------------------------------------
    def _text_columns(self) -> list[str]:
        return [c for c in (self.options.text_column, self.options.text_pair_column) if c]

    def _label_strings(self, dataset: Dataset) -> list:
        """The label column as text; hub ClassLabel ints become their names when those are our labels.
        multi_label: a list of label strings a row."""
        column = self.options.label_column
        if self.options.multi_label:
            return [multi_label.label_set(v, self.options.label_separator) for v in dataset[column]]
        values = dataset[column]
        feature = dataset.features[column]
        if isinstance(feature, ClassLabel):
            use_names = self.labels is not None and set(feature.names) <= set(self.labels)
            return [feature.names[v] if use_names and v >= 0 else str(v) for v in values]
        return [v if isinstance(v, str) or v is None else str(v) for v in values]

    def setup_labels(self, splits: dict[str, RawSplit], trained_config=None) -> None:
        if trained_config is not None and not self.options.regression:
            self.labels = [trained_config.id2label[i] for i in range(trained_config.num_labels)]
            if self.labels == self.options.label_names:  # the model speaks in names; files in labels
                self.labels = list(self.options.labels)
        labelled = {}
        for name, split in splits.items():
            is_test = is_test_split(self.config.data, name)
            self._check_columns(split, is_test)
            for column in self._text_columns():
                check_text(split, column)  # an empty sentence is text, as in GLUE's own files
            if not is_test:  # its label column was required above
                labelled[name] = (split, self._label_strings(split.dataset))
        if self.options.regression:
            if self.options.class_weights is not None:
                raise InputError("config key 'class_weights': regression has no classes; set class_weights=null.")
            for split, values in labelled.values():
                for row, value in enumerate(values):
                    if split.kept(row) and not is_number(value):
                        split.reject(row, f"{split.where(row)}: label '{value}' is not a number (regression). Fix the row.")
            return
        if self.labels is None and "train" in labelled:
            train, values = labelled["train"]
            if self.options.multi_label:
                self.labels = sorted({v for row, vs in enumerate(values) if vs is not None and train.kept(row) for v in vs})
            else:
                self.labels = sorted({v for row, v in enumerate(values) if v is not None and train.kept(row)})
        if self.labels is None:
            raise InputError("config key 'labels' is not set and there is no train split to take them from; set labels=[...].")
        if self.options.label_names is not None and len(self.options.label_names) != len(self.labels):
            self._refuse_label_names(self.labels)
        allowed = set(self.labels)
        for split, values in labelled.values():
            for row, value in enumerate(values):
                if self.options.multi_label:
                    unknown = [v for v in (value or []) if v not in allowed]
                    if unknown or value is None:
                        split.reject(row, f"{split.where(row)}: label '{unknown[0] if unknown else value}' is not one of "
                                          f"the labels {self.labels}. Fix the row, or add it to the config key 'labels'.")
                elif value not in allowed:
                    split.reject(row, f"{split.where(row)}: label '{value}' is not one of the labels {self.labels}. "
                                      f"Fix the row, or add it to the config key 'labels'.")
        if self.options.multi_label and isinstance(self.options.threshold, list) \
                and len(self.options.threshold) != len(self.labels):
            raise InputError(f"config key 'threshold': {len(self.options.threshold)} thresholds for {len(self.labels)} "
                             f"labels ({', '.join(self.labels)}); give one a label in that order, or one number.")
        train = labelled.get("train")
        # balanced needs the training labels; a trained model evaluated alone has no train split (nor needs weights).
        if self.options.class_weights is not None and (train is not None or self.options.class_weights != "balanced"):
            index = {label: i for i, label in enumerate(self.labels)}
            ids = [index[v] for row, v in enumerate(train[1]) if train[0].kept(row)] if train else None
            self.weights = class_weights.resolve(self.options.class_weights, self.labels, ids)

    def export_options(self, metrics: dict[str, float]) -> dict:
        """multi_label: the dev set's best threshold(s) become the exported model's (tune_threshold)."""
        if self.options.multi_label:
            return multi_label.chosen_threshold(metrics, self.options.tune_threshold)
        return {}

    def _refuse_label_names(self, labels: list[str]) -> None:
        raise InputError(f"config key 'label_names': {self.options.label_names} must name each label of {labels} "
                         f"(the config key 'labels', or those of the training data), one name a label in the same "
                         f"order; or set label_names=null.")

    def _check_columns(self, split: RawSplit, is_test: bool) -> None:
        o = self.options
        keys = {o.text_column: "text_column", o.text_pair_column: "text_pair_column"}
        if not is_test:
            keys[o.label_column] = "label_column"
        require_columns(split, {column: key for column, key in keys.items() if column})

    def texts(self, examples):
        return column_texts(examples, self._text_columns())

    def model_kwargs(self) -> dict:
        head = super().model_kwargs()  # pooling (PooledHead)
        if self.options.regression:
            return {**head, "num_labels": 1, "problem_type": "regression"}
        names = self._names()
        return {
            **head,
            "num_labels": len(self.labels),
            "id2label": dict(enumerate(names)),
            "label2id": {name: i for i, name in enumerate(names)},
            # pipeline(..., top_k=None) then gives a sigmoid a label
            "problem_type": "multi_label_classification" if self.options.multi_label else "single_label_classification",
        }

    # -- data -------------------------------------------------------------------------------
    def encode(self, batch, indices, tokenizer, split):
        o = self.options
        pairs = batch[o.text_pair_column] if o.text_pair_column else None
        if o.long_input == "windows":
            features = long_texts.windows(tokenizer, batch[o.text_column], pairs, self.config.data.max_seq_length,
                                          o.window_stride)
            rows = features.pop("overflow_to_sample_mapping")  # the batch row of each window
        else:
            features = tokenizer(batch[o.text_column], pairs, truncation=True, max_length=self.config.data.max_seq_length)
            rows = list(range(len(indices)))
        features["example_index"] = [indices[r] for r in rows]
        if o.label_column in batch and not is_test_split(self.config.data, split):
            values = [batch[o.label_column][r] for r in rows]
            if o.regression:
                features["labels"] = [float(v) for v in values]
            elif o.multi_label:
                features["labels"] = [multi_label.multi_hot(self.labels, multi_label.label_set(v, o.label_separator))
                                      for v in values]
            else:
                label2id = {label: i for i, label in enumerate(self.labels)}
                features["labels"] = [label2id[v if isinstance(v, str) else str(v)] for v in values]
        return features

    def loss(self, outputs, batch):
        logits = outputs.logits.float()
        labels = batch["labels"]
        if self.options.regression:
            total = F.mse_loss(logits.squeeze(-1), labels.float(), reduction="sum")
        elif self.options.multi_label:
            total = multi_label.loss(logits, labels)
        else:
            total = F.cross_entropy(logits, labels, reduction="sum")
        return total

    def count_items(self, batch):
        """multi_label: every (example, label) pair, as BCEWithLogitsLoss averages."""
        return batch["labels"].new_tensor(batch["labels"].numel()) if self.options.multi_label else super().count_items(batch)

    # -- predictions ------------------------------------------------------------------------
    def decode(self, examples, features, outputs):
        """Regression: the number. Classification: {label, score, probabilities}, as a transformers
        pipeline gives label and score, with every class's probability (softmax of the logits) beside."""
        # One row a text: its windows' logits combined (long_input=windows), or its one feature's.
        logits = long_texts.per_example(np.stack(outputs["logits"]).astype(np.float64), features["example_index"],
                                        len(examples), self.options.window_aggregate)
        if self.options.regression:
            return [float(v) for v in logits[:, 0]]
        if self.options.multi_label:
            return multi_label.decode(logits, self.labels, self.options.threshold)
        probabilities = softmax(logits, axis=-1)
        return [{"label": self.labels[i], "score": float(row[i]),
                 "probabilities": dict(zip(self.labels, (float(p) for p in row)))}
                for i, row in zip(probabilities.argmax(-1), probabilities)]

    def _names(self) -> list[str]:
        """The classes as people read them: label_names where the config gives them, else the labels."""
        return list(self.options.label_names or self.labels)

    @staticmethod
    def predicted_labels(predictions: list) -> list:
        """The label strings (or numbers) of decode's predictions, as the data files write them."""
        return [p["label"] if isinstance(p, dict) else p for p in predictions]

    def _gold(self, examples: Dataset) -> list:
        values = self._label_strings(examples)
        return [float(v) for v in values] if self.options.regression else values

    def score(self, predictions, examples):
        gold = self._gold(examples)
        if self.options.multi_label:
            probabilities = np.asarray([[p["probabilities"][label] for label in self.labels] for p in predictions])
            gold_matrix = np.asarray([multi_label.multi_hot(self.labels, g) for g in gold], dtype=int)
            return multi_label.score(probabilities, gold_matrix, self.labels, self.options.threshold)
        if self.options.regression:
            pred_array, gold_array = np.asarray(predictions, dtype=np.float64), np.asarray(gold, dtype=np.float64)
        else:
            label2id = {label: i for i, label in enumerate(self.labels)}
            pred_array = np.asarray([label2id[p] for p in self.predicted_labels(predictions)])
            gold_array = np.asarray([label2id[g] for g in gold])
        return classification_metrics.compute(self.options.metrics, pred_array, gold_array)

    def _index(self, examples: Dataset) -> list[str]:
        return prediction_tsv.index_values(examples, self.options.index_column)

    def has_gold(self, examples, split):
        return self.options.label_column in examples.column_names and not is_test_split(self.config.data, split)

    def show(self, examples, predictions):
        """`label<TAB>probability<TAB>text` (regression: the score instead of label and probability)."""
        texts = examples[self.options.text_column]
        if self.options.regression:
            return [f"{p:.3f}\t{t}" for p, t in zip(predictions, texts)]
        if self.options.multi_label:  # the labels predicted, joined, and the probability of each
            names = dict(zip(self.labels, self._names()))
            return ["\t".join(("|".join(names[x] for x in p["labels"]) or "(none)",
                               "|".join(format(p["probabilities"][x], ".3f") for x in p["labels"]) or "-", t))
                    for p, t in zip(predictions, texts)]
        names = dict(zip(self.labels, self._names()))
        return [f"{names[p['label']]}\t{p['score']:.3f}\t{t}" for p, t in zip(predictions, texts)]

    def card_usage(self, folder: Path, name: str) -> str:
        """The pipeline call with an input of the task's shape: a pair task takes text and text_pair;
        regression reads the raw output (no softmax)."""
        o = self.options
        if prompt_tuning.is_adapter_folder(folder):
            example = '"A man is playing a guitar.", "Someone plays an instrument."' if o.text_pair_column else '"A gripping, beautifully acted film."'
            output = card_code.CLASSIFICATION_OUTPUT["regression" if o.regression else "multi_label" if o.multi_label else "single"]
            return card_code.CLASSIFICATION_FROM_ADAPTER.format(name=name, example=example, output=output,
                                                                **card_code.label_arguments(folder))
        extra = ', function_to_apply="none"' if o.regression else ", top_k=None" if o.multi_label else ""
        remote, note = pooling.card_remote_code(folder)
        extra += remote
        example = ('{"text": "A man is playing a guitar.", "text_pair": "Someone plays an instrument."}'
                   if o.text_pair_column else '"A gripping, beautifully acted film."')
        return (f'from transformers import pipeline\n{note}pipe = pipeline("text-classification", model="{name}"{extra})\n'
                f'print(pipe({example}))')

    def examples_from_flags(self, flags):
        texts, pairs = flags.get("text") or [], flags.get("text_pair") or []
        if not texts:
            if pairs:
                raise InputError("--text-pair needs a --text for each pair.")
            return None
        columns = {self.options.text_column: texts}
        if self.options.text_pair_column:
            if len(pairs) != len(texts):
                raise InputError(f"{self.config.task} takes sentence pairs: give one --text-pair for every --text.")
            columns[self.options.text_pair_column] = pairs
        elif pairs:
            raise InputError(f"{self.config.task} classifies single sentences: drop --text-pair.")
        return Dataset.from_dict(columns)

    def write_predictions(self, folder: Path, name: str, examples, predictions):
        """`name.tsv`: index, prediction, the gold label (when the file has one) and, for classes, one
        probability column a class (`p_<name>`); with gold labels, the per-class report and confusion
        matrix beside it (tasks/classification_report.py)."""
        has_gold = self.options.label_column in examples.column_names
        gold = self._gold(examples) if has_gold else None
        header = ["index", "prediction"] + (["label"] if has_gold else [])
        if self.options.regression:
            rows = [[index, f"{p:.3f}"] for index, p in zip(self._index(examples), predictions)]
        elif self.options.multi_label:
            header += [f"p_{n}" for n in self._names()]
            rows = [[index, self.options.label_separator.join(p["labels"])]
                    + [f"{p['probabilities'][label]:.5f}" for label in self.labels]
                    for index, p in zip(self._index(examples), predictions)]
            gold = [self.options.label_separator.join(g) for g in gold] if has_gold else None
        else:
            header += [f"p_{n}" for n in self._names()]
            rows = [[index, p["label"]] + [f"{p['probabilities'][label]:.5f}" for label in self.labels]
                    for index, p in zip(self._index(examples), predictions)]
        if has_gold:
            rows = [row[:2] + [g] + row[2:] for row, g in zip(rows, gold)]
        written = [prediction_tsv.write(folder / f"{name}.tsv", header, rows)]
        if has_gold and self.options.multi_label:
            written.append(multi_label.write_report(folder / f"{name}.report.txt", self._gold(examples),
                                                    [p["labels"] for p in predictions], self.labels, self._names()))
        elif has_gold and not self.options.regression and all(g in self.labels for g in gold):
            written += classification_report.write(folder, name, gold, self.predicted_labels(predictions),
                                                   self.labels, self._names())
        return written

    def score_files(self, predictions, references, null_odds=None):
        if null_odds is not None:
            raise InputError("--null-odds is for SQuAD v2; classification has no no-answer odds.")
        references = self.needs_references(references)
        dataset, lines = read_file(self.config.data, str(references.resolve()), "validation")
        self.setup_labels({"validation": RawSplit("validation", dataset, "file", str(references), lines)})
        metrics = self.score(self.read_predictions(predictions, dataset), dataset)
        return json.dumps({"task": self.config.task, "examples": len(dataset), "metrics": metrics}, indent=1)

    def read_predictions(self, path: Path, examples: Dataset) -> list:
        """Predictions from a file in write_predictions' format, in the order of `examples`."""
        def parse(value: str, line: int):
            if self.options.regression:
                try:
                    return float(value)
                except (TypeError, ValueError):
                    raise InputError(f"{path}, line {line}: prediction '{value}' is not a number.") from None
            chosen = multi_label.label_set(value, self.options.label_separator) if self.options.multi_label else [value]
            wrong = [v for v in chosen if v not in self.labels]
            if wrong:
                raise InputError(f"{path}, line {line}: prediction '{wrong[0]}' is not one of the labels {self.labels}. "
                                 f"Write the label strings the task uses (as in its dev file).")
            return {"labels": chosen, "probabilities": {x: float(x in chosen) for x in self.labels}} \
                if self.options.multi_label else value

        return prediction_tsv.read(path, self._index(examples), parse)
