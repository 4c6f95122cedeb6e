"""Token classification with BIO tags (NER): CoNLL-2003, WNUT-17, Chinese character tagging.

Labels: a word's tag goes to its FIRST subword (found through the tokenizer's word ids); the other
subwords are ignored by the loss unless label_all_tokens (then B-X becomes I-X on them, as
transformers' run_ner does). A word's prediction is read back from its first subword.

Long sentences are never truncated: the subwords of a sentence longer than max_seq_length are cut
into windows overlapping by `stride` tokens, each with the model's own special tokens around it.
Every word belongs to the one window where its first subword has the most context on both sides;
it is labelled (trained) and predicted there only, so no word counts twice and none is dropped.
A word for which the tokenizer produces no token at all (a lone zero-width or control character)
cannot be predicted and is tagged O.

Files in IOB1 or BIOES / BMES are converted to BIO when read (tag_scheme, detected by default);
scores are entity-level with conlleval's semantics (finetune.metrics.ner).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch.nn.functional as F
from datasets import ClassLabel, Dataset
from transformers import (
    AutoModelForTokenClassification,
    DataCollatorForTokenClassification,
)

from finetune.data import conll
from finetune.data.splits import RawSplit, file_format, is_test_split
from finetune.errors import InputError
from finetune.metrics import ner as ner_metrics
from finetune.models import backbones, prompt_tuning
from tasks import card_code
from tasks import class_weights, ner_context
from tasks.base import Adapter, column_texts, require_columns
from tasks.class_weights import ClassWeights
from tasks.ner_crf import Crf
from tasks.roles import CommandLineInput, ModelCard, PredictionFiles

IGNORED = -100  # label of tokens the loss skips (transformers' convention)
SPECIAL, CONTINUATION = -2, -1  # word_index of special tokens and of a word's later subwords
# How typed text (predict --text) is cut into words: like BERT's basic tokenizer and the CoNLL
# files (punctuation apart), every character (Chinese), or at whitespace only.
WORD_PATTERNS = {"words": r"\w+|[^\w\s]", "chars": r"\S", "whitespace": r"\S+"}


@dataclass
class NerOptions:
    tokens_column: str = "tokens"  # a sentence's words (CoNLL files are read into tokens and tags)
    tags_column: str = "tags"  # a tag per word
    labels: list[str] | None = None  # BIO tags in id order; default: O, then B-/I- of each type of the train split
    tag_scheme: Literal["auto", "bio", "iob1", "bioes"] = "auto"  # of the files (bioes includes BMES); read as BIO
    label_all_tokens: bool = False  # label every subword, not only a word's first
    # Tokens shared by consecutive windows of a sentence longer than max_seq_length (default: a quarter).
    stride: int | None = None
    split_text: Literal["words", "chars", "whitespace"] = "words"  # predict --text: how text becomes words
    # Weigh the training loss by tag: balanced (n / (tags x count) over the training words' tags,
    # scikit-learn's) or one weight a tag in the order of `labels`; the dev loss stays unweighted.
    class_weights: Literal["balanced"] | list[float] | None = None
    # A linear-chain CRF on the tagger: transitions learned (invalid BIO moves forbidden), Viterbi
    # over each whole sentence's words; exported beside the weights as crf.safetensors.
    crf: bool = False
    # Subword tokens of the surrounding sentences of the same document encoded on each side of a
    # sentence, as context only (FLERT; tasks/ner_context.py); 0: each sentence alone.
    document_context: int = 0
    document_column: str = "document"  # the rows' documents (CoNLL files: their -DOCSTART- sections)


def window_starts(length: int, room: int, stride: int) -> list[int]:
    """Starts of windows of `room` tokens over `length` tokens, consecutive ones sharing `stride`."""
    starts = [0]
    while starts[-1] + room < length:
        starts.append(starts[-1] + room - stride)
    return starts


def owner_windows(positions: list[int], starts: list[int], room: int, length: int) -> list[int]:
    """For each token position, the window where it has the most context on both sides (the
    smaller of its distances to the window's two ends); ties go to the earlier window."""
    owners = []
    for p in positions:
        best, best_context = 0, -1
        for w, a in enumerate(starts):
            b = min(a + room, length)
            if a <= p < b and min(p - a, b - 1 - p) > best_context:
                best, best_context = w, min(p - a, b - 1 - p)
        owners.append(best)
    return owners


def as_bio(tags: list[list[str]], scheme: str, name: str) -> list[list[str]]:
    """Sentences of tags in `scheme` as BIO; a conversion is said, so a user knows it happened."""
    if scheme == "bio":
        return tags
    print(f"  {name}: tags read as {scheme.upper()} and converted to BIO.", file=sys.stderr)
    return [ner_metrics.to_bio(sentence, scheme) for sentence in tags]


def entity_spans(tags: list[str], spans: list[tuple[int, int]], text: str) -> list[dict]:
    """Entities of tagged words with character spans, keyed as the token-classification pipeline's
    aggregated output (entity_group, start, end, word)."""
    return [{"entity_group": kind, "start": spans[first][0], "end": spans[last - 1][1],
             "word": text[spans[first][0]:spans[last - 1][1]]}
            for kind, first, last in ner_metrics.get_entities(tags)]


class NerAdapter(Crf, ClassWeights, Adapter, PredictionFiles, CommandLineInput, ModelCard):
    Options = NerOptions
    model_class = AutoModelForTokenClassification
    prompt_task_type, position_outputs = "TOKEN_CLS", True
    pipeline_task = "token-classification"
    # The first-subword rule is the pipeline's "first" aggregation: the same entities on any text.
    pipeline_kwargs = {"aggregation_strategy": "first"}
    collator_class = DataCollatorForTokenClassification  # pads labels with -100 as well
    decode_columns = ("word_index",)
    primary_metric = "f1"
    headline_metrics = ("precision", "recall", "f1", "accuracy", "loss")  # per type: metrics.json, the model card

    def __init__(self, config):
        super().__init__(config)
        self.labels: list[str] | None = list(self.options.labels) if self.options.labels else None
        if self.labels and "O" not in self.labels:
            raise InputError(f"config key 'labels': {self.labels} has no 'O' tag; BIO labels need it.")
        self._check_crf()

    # -- labels -----------------------------------------------------------------------------
    def prepare_tokenizer(self, tokenizer):
        tokenizer = backbones.for_words(tokenizer, self.config.trust_remote_code)
        tokenizer.padding_side = "right"
        return tokenizer

    def _token_where(self, split: RawSplit, row: int, k: int) -> str:
        """The file line of token k of sentence `row` (column files hold a token a line)."""
        if split.lines is not None and split.origin != "hub" and file_format(self.config.data, split.location) == "conll":
            return f"{split.location}, line {split.lines[row] + k}"
        return f"{split.where(row)}, token {k + 1}"

    def _column_strings(self, split: RawSplit, column: str) -> list[list[str]]:
        """A column of lists of strings; a hub ClassLabel sequence (ner_tags) becomes its names.
        A row holding anything else is rejected (and reads as an empty list)."""
        feature = split.dataset.features[column]
        values = split.dataset[column]
        inner = feature[0] if isinstance(feature, list) and feature else getattr(feature, "feature", None)
        if isinstance(inner, ClassLabel):  # a list of class ids, as datasets stores the hub's ner_tags
            return [[inner.names[v] for v in row] for row in values]
        strings = []
        for row, value in enumerate(values):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                split.reject(row, f"{split.where(row)}: column '{column}' must be a list of strings, got {value!r}.")
                value = []
            strings.append(value)
        return strings

    def setup_labels(self, splits: dict[str, RawSplit], trained_config=None) -> None:
        o = self.options
        if trained_config is not None:
            self.labels = [trained_config.id2label[i] for i in range(trained_config.num_labels)]
        tagged: dict[str, list[list[str]]] = {}
        for name, split in splits.items():
            require_columns(split, {o.tokens_column: "tokens_column"})
            tokens = self._column_strings(split, o.tokens_column)
            if o.tags_column not in split.dataset.column_names:
                if not is_test_split(self.config.data, name):
                    require_columns(split, {o.tags_column: "tags_column"},
                                    "Set tags_column=<column>, or give a file with a tag column.")
                continue
            tags = self._column_strings(split, o.tags_column)
            for row, (words, row_tags) in enumerate(zip(tokens, tags)):
                if split.kept(row) and len(words) != len(row_tags):
                    split.reject(row, f"{split.where(row)}: {len(words)} tokens but {len(row_tags)} tags; give one tag a token.")
            tagged[name] = self.repair_gold(self._to_bio(split, tags))
        if self.labels is None:
            source = tagged.get("train")
            if source is None:
                raise InputError("config key 'labels' is not set and there is no labelled train split to take them from; "
                                 "set labels=[O, B-..., I-...].")
            train = splits["train"]
            kinds = sorted({tag[2:] for row, sentence in enumerate(source) if train.kept(row)
                            for tag in sentence if tag != "O"})
            self.labels = ["O"] + [f"{prefix}-{kind}" for kind in kinds for prefix in "BI"]
        allowed = set(self.labels)
        for name, tags in tagged.items():
            split = splits[name]
            for row, sentence in enumerate(tags):
                bad = next((k for k, tag in enumerate(sentence) if tag not in allowed), None)
                if split.kept(row) and bad is not None:
                    origin = "the config key 'labels'" if self.options.labels else "the train split"
                    split.reject(row, f"{self._token_where(split, row, bad)}: tag '{sentence[bad]}' is not among the "
                                      f"labels of {origin} ({', '.join(self.labels)}). Fix the tag, or add it to labels=[...].")
            split.dataset = split.dataset.remove_columns(self.options.tags_column).add_column(self.options.tags_column, tags)
        train = tagged.get("train")
        if o.class_weights is not None and (train is not None or o.class_weights != "balanced"):
            index = {label: i for i, label in enumerate(self.labels)}
            ids = [index[tag] for row, sentence in enumerate(train) if splits["train"].kept(row)
                   for tag in sentence] if train is not None else None
            self.weights = class_weights.resolve(o.class_weights, self.labels, ids)
        if o.document_context:
            ner_context.add_to_splits(splits, self.config)

    def _to_bio(self, split: RawSplit, tags: list[list[str]]) -> list[list[str]]:
        scheme = self.options.tag_scheme
        if scheme == "auto":
            scheme = ner_metrics.detect_scheme(tags)
        for row, sentence in enumerate(tags):
            problems = ((k, ner_metrics.tag_error(tag, scheme)) for k, tag in enumerate(sentence))
            k, problem = next(((k, p) for k, p in problems if p), (0, None))
            if split.kept(row) and problem:
                split.reject(row, f"{self._token_where(split, row, k)}: {problem} (tag_scheme={scheme}). Fix the tag"
                                  + (", or set tag_scheme=bio|iob1|bioes." if self.options.tag_scheme == "auto" else "."))
        return as_bio(tags, scheme, split.name)

    def texts(self, examples):
        return column_texts(examples, [self.options.tokens_column])  # the words, one by one, as they are encoded

    def model_kwargs(self) -> dict:
        return {"num_labels": len(self.labels), "id2label": dict(enumerate(self.labels)),
                "label2id": {label: i for i, label in enumerate(self.labels)}}

    # -- encoding ---------------------------------------------------------------------------
    def encode(self, batch, indices, tokenizer, split):
        o = self.options
        max_length = self.config.data.max_seq_length
        encoded = tokenizer(batch[o.tokens_column], is_split_into_words=True, truncation=False)
        contexts = ner_context.token_ids(batch, tokenizer) if ner_context.BEFORE in batch else None
        all_tags = batch.get(o.tags_column)
        token_keys = [key for key in encoded.keys() if key != "length"]
        edges = ["sentence_edges"] if o.crf else []  # crf=true: whether a window's words open and close the sentence
        out: dict[str, list] = {key: [] for key in token_keys + ["example_index", "word_index", "labels", *edges]}
        for i in range(len(encoded["input_ids"])):
            word_ids = encoded.word_ids(i)
            head = next((k for k, w in enumerate(word_ids) if w is not None), len(word_ids))
            tail = next((k for k, w in enumerate(reversed(word_ids)) if w is not None), 0)
            body = word_ids[head:len(word_ids) - tail]  # the sentence's subwords, between the special tokens
            room = max_length - head - tail
            stride = room // 4 if o.stride is None else o.stride
            if room <= stride:
                raise InputError(f"data.max_seq_length={max_length} leaves {room} tokens a window after the special "
                                 f"tokens, not more than stride={stride}. Raise max_seq_length or lower stride.")
            word_index = [w if k == 0 or body[k - 1] != w else CONTINUATION for k, w in enumerate(body)]
            labels = self._subword_labels(body, word_index, all_tags[i]) if all_tags is not None else [IGNORED] * len(body)
            starts = window_starts(len(body), room, stride)
            # A subword belongs to the window its word's first subword belongs to.
            first_of = {}
            for k, w in enumerate(body):
                first_of.setdefault(w, k)
            owners = owner_windows([first_of[w] for w in body], starts, room, len(body))
            left, right = [], []  # document_context: tokens around a sentence that fits one window
            if contexts is not None and len(starts) == 1:
                left, right = ner_context.fit(contexts[0][i], contexts[1][i], room - len(body), o.document_context)
            before, after = head + len(left), len(right) + tail  # positions that are not the sentence's
            for window, a in enumerate(starts):
                b = min(a + room, len(body))
                own = [owners[k] == window for k in range(a, b)]
                for key in token_keys:
                    values = encoded[key][i]
                    out[key].append(values[:head] + ner_context.filler(key, left) + values[head + a:head + b]
                                    + ner_context.filler(key, right) + values[len(values) - tail:])
                out["word_index"].append([SPECIAL] * before + [word_index[k] if mine else CONTINUATION
                                                               for k, mine in zip(range(a, b), own)] + [SPECIAL] * after)
                out["labels"].append([IGNORED] * before + [labels[k] if mine else IGNORED
                                                           for k, mine in zip(range(a, b), own)] + [IGNORED] * after)
                out["example_index"].append(indices[i])
                if edges:
                    out["sentence_edges"].append([not body or owners[0] == window, not body or owners[-1] == window])
        if all_tags is None:  # unlabelled text (a test file of words only)
            del out["labels"]
        return out

    def _subword_labels(self, body: list[int], word_index: list[int], tags: list[str]) -> list[int]:
        """The label of every subword: its word's tag on the first, IGNORED (or, with
        label_all_tokens, the tag with B- turned into I-: the entity goes on) on the others."""
        label2id = {label: i for i, label in enumerate(self.labels)}
        labels = []
        for w, index in zip(body, word_index):
            tag = tags[w]
            if index >= 0:
                labels.append(label2id[tag])
            elif self.options.label_all_tokens:
                labels.append(label2id.get("I-" + tag[2:], label2id[tag]) if tag.startswith("B-") else label2id[tag])
            else:
                labels.append(IGNORED)
        return labels

    def loss(self, outputs, batch):
        if self.options.crf:
            return self.crf_loss(outputs, batch)
        logits = outputs.logits.float()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["labels"].reshape(-1),
                               ignore_index=IGNORED, reduction="sum")

    # -- predictions ------------------------------------------------------------------------
    def decode(self, examples, features, outputs):
        if self.options.crf:
            return self.crf_decode(examples, features, outputs)
        predicted = [["O"] * len(words) for words in examples[self.options.tokens_column]]
        for feature, (example, word_index) in enumerate(zip(features["example_index"], features["word_index"])):
            logits = outputs["logits"][feature]
            for k, w in enumerate(word_index):
                if w >= 0:
                    predicted[example][w] = self.labels[int(np.argmax(logits[k]))]
        return predicted

    def has_gold(self, examples, split):
        # CoNLL-2003's and WNUT-17's test files carry tags: a test split is scored when it has them.
        return self.options.tags_column in examples.column_names

    def score(self, predictions, examples):
        return ner_metrics.flat_metrics(ner_metrics.score(examples[self.options.tags_column], predictions))

    def write_predictions(self, folder: Path, name: str, examples, predictions):
        """CoNLL columns, a sentence a block: `word gold predicted` (conlleval's input), or
        `word predicted` without gold. Whitespace inside a word (possible in JSON data) becomes _."""
        path = folder / f"{name}.conll"
        gold = examples[self.options.tags_column] if self.options.tags_column in examples.column_names else None
        with path.open("w", encoding="utf-8") as handle:
            for row, (words, tags) in enumerate(zip(examples[self.options.tokens_column], predictions)):
                for k, (word, tag) in enumerate(zip(words, tags)):
                    columns = [re.sub(r"\s", "_", word) or "_"] + ([gold[row][k]] if gold else []) + [tag]
                    handle.write(" ".join(columns) + "\n")
                handle.write("\n")
        return [path]

    def score_files(self, predictions, references, null_odds=None):
        """conlleval's report of a `word ... gold predicted` file; with --references, the gold tags
        come from that file and the predictions file's last column is the prediction."""
        if null_odds is not None:
            raise InputError("--null-odds is for SQuAD v2; NER has no no-answer odds.")
        predicted_set, predicted_lines = conll.read_conll(str(predictions), gold_column=references is None)
        if "tags" not in predicted_set.column_names:
            raise InputError(f"{predictions}: one column only; give `word gold predicted` columns, or "
                             f"`word predicted` with --references GOLD_FILE.")
        if references is None:
            gold, predicted = predicted_set["gold"], predicted_set["tags"]
        else:
            reference_set, _ = conll.read_conll(str(references))
            if "tags" not in reference_set.column_names:
                raise InputError(f"{references}: no tag column; the references need `word tag` columns.")
            gold, predicted = reference_set["tags"], predicted_set["tags"]
            _check_aligned(predictions, references, predicted_set, reference_set, predicted_lines)
        gold = as_bio(gold, ner_metrics.detect_scheme(gold), "gold")
        predicted = as_bio(predicted, ner_metrics.detect_scheme(predicted), "predicted")
        return ner_metrics.conlleval_report(ner_metrics.score(gold, predicted))

    # -- command line -----------------------------------------------------------------------
    def examples_from_flags(self, flags):
        texts = flags.get("text") or []
        if flags.get("text_pair"):
            raise InputError(f"{self.config.task} tags single texts: drop --text-pair.")
        if not texts:
            return None
        pattern = re.compile(WORD_PATTERNS[self.options.split_text])
        matches = [list(pattern.finditer(text)) for text in texts]
        return Dataset.from_dict({self.options.tokens_column: [[m.group() for m in found] for found in matches],
                                  "text": texts, "spans": [[list(m.span()) for m in found] for found in matches]})

    def card_usage(self, folder, name):
        if prompt_tuning.is_adapter_folder(folder):
            return card_code.TAGGING_FROM_ADAPTER.format(name=name, cut=prompt_tuning.cut_positions(folder),
                                                         words="Ada Lovelace met Charles Babbage in London .".split(),
                                                         **card_code.label_arguments(folder))
        return self.crf_card_usage(name) if self.options.crf else None

    def show(self, examples, predictions):
        lines = []
        for text, spans, tags in zip(examples["text"], examples["spans"], predictions):
            lines.append(text)
            found = entity_spans(tags, spans, text)
            lines.extend(f"  {e['entity_group']}\t{e['start']}-{e['end']}\t{e['word']}" for e in found)
            if not found:
                lines.append("  (no entities)")
        return lines


def _check_aligned(predictions: Path, references: Path, predicted: Dataset, gold: Dataset, lines: list[int]) -> None:
    if len(predicted) != len(gold):
        raise InputError(f"{predictions}: {len(predicted)} sentences but {references} has {len(gold)}; "
                         f"the predictions must follow the references sentence by sentence.")
    for row, (p, g) in enumerate(zip(predicted["tokens"], gold["tokens"])):
        if len(p) != len(g):
            raise InputError(f"{predictions}, line {lines[row]}: the sentence has {len(p)} tokens but the reference "
                             f"sentence {row + 1} has {len(g)}.")
