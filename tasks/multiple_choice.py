"""Multiple choice, SWAG style: a context, the start of an ending, N candidate endings, one right.

Each example is tokenised as N pairs (context, start of ending + ending_i), so its features are
[choices, length]; the collator pads a batch to [batch, choices, length] (longest pair in the
batch); the model flattens to [batch * choices, length], scores every pair, and reshapes the scores
to [batch, choices] for a cross-entropy over the choices (tasks.multiple_choice_heads).

Tokenizers that mark a pair boundary (BERT's [SEP]) get the two texts as a pair. Decoder tokenizers
(GPT-2, Llama) have none: the texts are joined with a space and read as one text, cut from the left
when too long, because a decoder scores the pair from its LAST token.

zero_shot=true scores each ending by a causal LM's mean log-likelihood of the ending's tokens given
the context, with no new head: what the base model knows before fine-tuning.

Data: the SWAG CSV (sent1, sent2, ending0..3, label), CODAH's TSV (the prompt holds the context
and the start of the ending), or JSONL with a `choices` list (choices_column).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset

from finetune.data.splits import RawSplit, is_test_split, read_file
from finetune.errors import InputError
from finetune.metrics import classification as classification_metrics
from finetune.models import pooling
from tasks import prediction_tsv
from tasks.base import Adapter, column_texts, require_columns
from tasks.multiple_choice_heads import LikelihoodChoiceScorer, MultipleChoiceModel
from tasks.pooled_head import PooledHead
from tasks.roles import CommandLineInput, ModelCard, PredictionFiles

CARD_USAGE = """import torch
from transformers import AutoTokenizer, {cls}
{note}tokenizer = AutoTokenizer.from_pretrained("{name}"{remote})
model = {cls}.from_pretrained("{name}"{remote}).eval()
context = "{context}"
endings = [{endings}]
{call}print(endings[int(scores.argmax())])"""
ENCODER_CALL = """inputs = tokenizer([context] * len(endings), endings, return_tensors="pt", padding=True)
with torch.no_grad():  # one example of [choices, length] gives scores [1, choices]
    scores = model(**{k: v.unsqueeze(0) for k, v in inputs.items()}).logits[0]
"""
DECODER_CALL = """# One label: the score of a "context ending" text, read at its last token (the tokenizer pads on the right).
inputs = tokenizer([f"{context} {ending}" for ending in endings], return_tensors="pt", padding=True)
with torch.no_grad():
    scores = model(**inputs).logits[:, 0]
"""


def marks_pairs(tokenizer) -> bool:
    """Whether the tokenizer marks the boundary of a text pair (BERT's [SEP]): then the context and
    the ending go in as a pair; a decoder's tokenizer reads them joined as one text."""
    return tokenizer.num_special_tokens_to_add(pair=True) > tokenizer.num_special_tokens_to_add(pair=False)


@dataclass
class MultipleChoiceOptions:
    context_column: str = "sent1"  # the context every ending continues (SWAG's sent1, CODAH's prompt)
    start_column: str | None = "sent2"  # the start every ending continues (SWAG's sent2); null: none
    ending_columns: list[str] = field(default_factory=lambda: [f"ending{i}" for i in range(4)])  # one column an ending
    choices_column: str | None = None  # a column holding the list of endings (JSONL), instead of ending_columns
    num_choices: int = 4  # every example has exactly this many endings
    label_column: str = "label"  # the index of the right ending, 0 .. num_choices - 1
    index_column: str | None = None  # the id column of the data files, written beside predictions
    zero_shot: bool = False  # score endings by a causal LM's mean log-likelihood (no new head)
    # What scores a (context, ending) pair: model (the architecture's own head: BERT's pooler on [CLS], a decoder's
    # last token), mean (the mean of the last hidden states), auto (mean for a sentence-transformers backbone that mean-pools)
    pooling: Literal["auto", "model", "mean"] = "auto"


@dataclass
class ChoiceCollator:
    """Examples of [choices, length] features -> a [batch, choices, length] batch, padded to the
    longest pair in the batch (dynamic padding); per-example values (labels) stay [batch].
    transformers' DataCollatorForMultipleChoice does the same but needs labels (a test file has none)."""

    tokenizer: Any
    pad_to_multiple_of: int | None = None

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        nested = [k for k, v in examples[0].items() if isinstance(v, list)]
        batch, choices = len(examples), len(examples[0]["input_ids"])
        padded_keys = [k for k in nested if k != "choice_mask"]  # tokenizer.pad knows these
        flat = [{k: example[k][c] for k in padded_keys} for example in examples for c in range(choices)]
        padded = self.tokenizer.pad(flat, padding=True, pad_to_multiple_of=self.pad_to_multiple_of, return_tensors="pt")
        out = {k: v.view(batch, choices, -1) for k, v in padded.items()}
        if "choice_mask" in nested:  # the ending's tokens (zero-shot), padded like the ids (right)
            length = out["input_ids"].shape[-1]
            masks = [m + [0] * (length - len(m)) for example in examples for m in example["choice_mask"]]
            out["choice_mask"] = torch.tensor(masks).view(batch, choices, length)
        for key in examples[0]:
            if key not in nested:
                out[key] = torch.tensor([example[key] for example in examples])
        return out


class MultipleChoiceAdapter(PooledHead, Adapter, PredictionFiles, CommandLineInput, ModelCard):
    Options = MultipleChoiceOptions
    model_class = MultipleChoiceModel
    hub_tag = "multiple-choice"  # transformers has no multiple-choice pipeline: the card shows the model call
    collator_class = ChoiceCollator
    primary_metric = "accuracy"

    def __init__(self, config):
        super().__init__(config)
        o = self.options
        if o.num_choices < 2:
            raise InputError(f"config key 'num_choices': {o.num_choices}; multiple choice needs at least 2.")
        if o.choices_column is None and len(o.ending_columns) != o.num_choices:
            raise InputError(f"config key 'ending_columns': {len(o.ending_columns)} columns but num_choices is "
                             f"{o.num_choices}. Give one column per choice.")
        if o.zero_shot:
            if o.pooling == "mean":
                raise InputError("pooling=mean with zero_shot=true: zero-shot scoring reads the language model's "
                                 "likelihood of each ending, no pooled head. Drop one of them.")
            self.model_class = LikelihoodChoiceScorer

    def backbone_note(self, path: str) -> str | None:
        return None if self.options.zero_shot else super().backbone_note(path)

    # -- labels and checks ----------------------------------------------------------------------
    def prepare_tokenizer(self, tokenizer):
        tokenizer.padding_side = "right"  # the zero-shot mask and the decoder's last-token score assume it
        if not marks_pairs(tokenizer):
            tokenizer.truncation_side = "left"  # keep the ending: a decoder scores the last token
        return tokenizer

    def _columns(self) -> list[str]:
        o = self.options
        endings = [o.choices_column] if o.choices_column else list(o.ending_columns)
        return [o.context_column] + ([o.start_column] if o.start_column else []) + endings

    def _endings(self, row: dict) -> list:
        o = self.options
        return row[o.choices_column] if o.choices_column else [row[c] for c in o.ending_columns]

    def _label(self, value) -> int | None:
        """The label as an index; None when absent (-1 is the hub's mark of an unlabelled row)."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            index = int(str(value).strip())
        except ValueError:
            return -2  # reported as not a choice index
        return None if index == -1 else index

    def setup_labels(self, splits: dict[str, RawSplit], trained_config=None) -> None:
        o = self.options
        for name, split in splits.items():
            require_columns(split, dict.fromkeys(self._columns(), ""),
                            "Set context_column / start_column / ending_columns / choices_column to the "
                            "columns that hold the context, the start of the ending and the endings.")
            labelled = o.label_column in split.dataset.column_names and not is_test_split(self.config.data, name)
            for row, example in enumerate(split.dataset):
                self._check_row(split, row, example, labelled)

    def _check_row(self, split: RawSplit, row: int, example: dict, labelled: bool) -> None:
        problem = self._row_problem(example, labelled)
        if problem:
            split.reject(row, f"{split.where(row)}: {problem}")

    def _row_problem(self, example: dict, labelled: bool) -> str | None:
        """What is wrong with one example and how to fix it; None: nothing."""
        o = self.options
        if not isinstance(example[o.context_column], str):
            return f"'{o.context_column}' (the context) is missing or not text."
        if o.start_column and not isinstance(example[o.start_column], str):
            return f"'{o.start_column}' (the start of the ending) is missing or not text."
        endings = self._endings(example)
        if not isinstance(endings, list) or len(endings) != o.num_choices:
            count = len(endings) if isinstance(endings, list) else "no list of"
            return (f"{count} endings where num_choices is {o.num_choices}. "
                    f"Give every example {o.num_choices} endings (or set num_choices).")
        for i, ending in enumerate(endings):
            if not isinstance(ending, str) or not ending.strip():
                column = o.choices_column + f"[{i}]" if o.choices_column else o.ending_columns[i]
                return f"ending {i} ('{column}') is empty. Fill it in or remove the row."
        if labelled:
            label = self._label(example[o.label_column])
            if label is None or not 0 <= label < o.num_choices:
                return f"label {example[o.label_column]!r} is not a choice index 0..{o.num_choices - 1}. Fix the row."
        return None

    # -- data ---------------------------------------------------------------------------------------
    def _texts(self, batch: dict, i: int) -> tuple[str, list[str]]:
        """(context, endings) of example i: the start of the ending goes before every ending."""
        o = self.options
        start = batch[o.start_column][i].strip() if o.start_column else ""
        endings = batch[o.choices_column][i] if o.choices_column else [batch[c][i] for c in o.ending_columns]
        return batch[o.context_column][i], [f"{start} {e.strip()}".strip() for e in endings]

    def texts(self, examples):
        return column_texts(examples, self._columns())

    def encode(self, batch, indices, tokenizer, split):
        o = self.options
        size = len(batch[o.context_column])
        contexts, endings = zip(*(self._texts(batch, i) for i in range(size)))
        if o.zero_shot:
            features = self._encode_likelihood(contexts, endings, tokenizer)
        else:
            first = [c for c, e in zip(contexts, endings) for _ in e]
            second = [x for e in endings for x in e]
            if marks_pairs(tokenizer):
                flat = tokenizer(first, second, truncation=True, max_length=self.config.data.max_seq_length)
            else:
                flat = tokenizer([f"{a} {b}" for a, b in zip(first, second)], truncation=True,
                                 max_length=self.config.data.max_seq_length)
            n = len(endings[0])  # the same for every example (checked in setup_labels)
            features = {k: [v[i:i + n] for i in range(0, len(v), n)] for k, v in flat.items()}
        features["length"] = [max(len(ids) for ids in choices) for choices in features["input_ids"]]
        features["example_index"] = list(indices)
        if o.label_column in batch and not is_test_split(self.config.data, split):
            labels = [self._label(v) for v in batch[o.label_column]]
            if all(label is not None for label in labels):
                features["labels"] = labels
        return features

    def _encode_likelihood(self, contexts, endings, tokenizer) -> dict:
        """Context + " " + ending as one text; the ending's tokens are those past the context's own
        tokens (lm-evaluation-harness's split), marked in choice_mask. Cut from the context side
        when too long: the ending is what is scored."""
        limit = self.config.data.max_seq_length
        context_lengths = [len(ids) for ids in tokenizer(list(contexts))["input_ids"]]
        wholes = tokenizer([f"{c} {e}" for c, choices in zip(contexts, endings) for e in choices])["input_ids"]
        n = len(endings[0])
        features = {"input_ids": [], "attention_mask": [], "choice_mask": []}
        for i, context_length in enumerate(context_lengths):
            ids = [whole[-limit:] for whole in wholes[i * n:(i + 1) * n]]
            scored = [min(max(len(whole) - context_length, 1), len(kept))
                      for whole, kept in zip(wholes[i * n:(i + 1) * n], ids)]
            features["input_ids"].append(ids)
            features["attention_mask"].append([[1] * len(x) for x in ids])
            features["choice_mask"].append([[0] * (len(x) - k) + [1] * k for x, k in zip(ids, scored)])
        return features

    def loss(self, outputs, batch):
        return F.cross_entropy(outputs.logits.float(), batch["labels"], reduction="sum")

    # -- predictions --------------------------------------------------------------------------------
    def decode(self, examples, features, outputs):
        return [{"choice": int(np.argmax(scores)), "scores": [float(s) for s in scores]} for scores in outputs["logits"]]

    def has_gold(self, examples, split):
        # CODAH's test fold carries labels; SWAG's test file has no label column (the hub marks them -1).
        column = self.options.label_column
        return column in examples.column_names and all(self._label(v) is not None for v in examples[column])

    def _gold(self, examples: Dataset) -> list[int]:
        return [self._label(v) for v in examples[self.options.label_column]]

    def score(self, predictions, examples):
        predicted = np.asarray([p["choice"] for p in predictions])
        return classification_metrics.compute(["accuracy"], predicted, np.asarray(self._gold(examples)))

    def write_predictions(self, folder: Path, name: str, examples, predictions):
        """TSV: index, the chosen ending's index, the gold index (when known), each choice's score."""
        gold = self._gold(examples) if self.has_gold(examples, "validation") else None
        choices = len(predictions[0]["scores"]) if predictions else self.options.num_choices
        header = ["index", "prediction"] + (["label"] if gold else []) + [f"score{i}" for i in range(choices)]
        indices = prediction_tsv.index_values(examples, self.options.index_column)
        rows = [[index, p["choice"]] + ([gold[row]] if gold else []) + [f"{s:.5f}" for s in p["scores"]]
                for row, (index, p) in enumerate(zip(indices, predictions))]
        return [prediction_tsv.write(folder / f"{name}.tsv", header, rows)]

    def score_files(self, predictions, references, null_odds=None):
        if null_odds is not None:
            raise InputError("--null-odds is for SQuAD v2; multiple choice has no no-answer odds.")
        references = self.needs_references(references)
        dataset, lines = read_file(self.config.data, str(references.resolve()), "validation")
        self.setup_labels({"validation": RawSplit("validation", dataset, "file", str(references), lines)})
        if not self.has_gold(dataset, "validation"):
            raise InputError(f"{references}: no '{self.options.label_column}' column with a label on every row.")

        def parse(value: str, line: int) -> int:
            choice = self._label(value)
            if choice is None or not 0 <= choice < self.options.num_choices:
                raise InputError(f"{predictions}, line {line}: prediction {value!r} is not a choice index "
                                 f"0..{self.options.num_choices - 1}.")
            return choice

        chosen = prediction_tsv.read(predictions, prediction_tsv.index_values(dataset, self.options.index_column), parse)
        metrics = self.score([{"choice": c} for c in chosen], dataset)
        return json.dumps({"task": self.config.task, "examples": len(dataset), "metrics": metrics}, indent=1)

    def card_usage(self, folder: Path, name: str) -> str:
        config = json.loads((folder / "config.json").read_text())
        encoder = any(a.endswith("ForMultipleChoice") for a in config.get("architectures") or [])
        # Trained with a start column (SWAG's sent2), the start of the ending goes before each ending.
        start, context = ("It ", "The glass slipped off the table.") if self.options.start_column else \
            ("", "The glass slipped off the table. It")
        endings = ", ".join(f'"{start}{e}"' for e in ("shattered on the floor.", "flew back up to the shelf.",
                                                       "sang a quiet song.", "became a table."))
        remote, note = pooling.card_remote_code(folder)
        return CARD_USAGE.format(cls="AutoModelForMultipleChoice" if encoder else "AutoModelForSequenceClassification",
                                 name=name, remote=remote, note=note, context=context, endings=endings, call=ENCODER_CALL if encoder else DECODER_CALL)

    # -- command line -------------------------------------------------------------------------------
    def examples_from_flags(self, flags):
        contexts, choices = flags.get("context") or [], flags.get("choice") or []
        if not contexts and not choices:
            return None
        o = self.options
        if len(contexts) != 1 or len(choices) != o.num_choices:
            raise InputError(f"{self.config.task}: give one --context and {o.num_choices} --choice (the endings to choose "
                             f"from; num_choices={o.num_choices}).")
        columns = {o.context_column: contexts, **({o.start_column: [""]} if o.start_column else {})}
        if o.choices_column:
            columns[o.choices_column] = [choices]
        else:
            columns.update({column: [ending] for column, ending in zip(o.ending_columns, choices)})
        return Dataset.from_dict(columns)

    def show(self, examples, predictions):
        lines = []
        for example, p in zip(examples, predictions):
            probabilities = torch.tensor(p["scores"]).softmax(-1).tolist()
            lines.append(example[self.options.context_column])
            for i, (ending, score, prob) in enumerate(zip(self._endings(example), p["scores"], probabilities)):
                mark = ">" if i == p["choice"] else " "
                lines.append(f"{mark} {i}  score {score:8.4f}  p {prob:.3f}  {ending}")
        return lines
