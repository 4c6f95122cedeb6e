"""document_context: a sentence is encoded with the words of the sentences around it in its
document, as context only (FLERT: Schweter & Akbik 2020, "FLERT: Document-Level Features for Named
Entity Recognition"): [CLS] before ... sentence ... after [SEP]. Context tokens carry no label and no
prediction; only the model's view of the sentence changes, as a reader's does ("Jordan" in a
basketball report).

Documents are the `document` column (consecutive rows with one value; CoNLL files' -DOCSTART-
sections are read into it), or -DOCSTART- rows where a copy keeps them as sentences. The hub's
CoNLL-2003 (eriktks/conll2003) drops them: its sentences have no documents to take context from, and
a model trained on it reads none (add_to_splits). Up to
`document_context` subword tokens are taken on each side, never across a document's edge, and never
more than the room max_seq_length leaves beside the sentence (split between the two sides). A
sentence cut into windows (longer than max_seq_length) has its own context and gets none.
"""

from __future__ import annotations

import sys

from finetune.data.conll import DOCSTART
from finetune.data.splits import TYPED, RawSplit
from finetune.errors import InputError

BEFORE, AFTER = "context_before", "context_after"  # the columns added: the words on each side


def documents(split: RawSplit, tokens: list[list[str]], column: str) -> list | None:
    """The document of every row (None for a -DOCSTART- row), or None when the split marks none."""
    if column in split.dataset.column_names:
        return list(split.dataset[column])
    if not any(words == [DOCSTART] for words in tokens):
        return None
    marks, current = [], 0
    for words in tokens:
        if words == [DOCSTART]:
            current += 1
            marks.append(None)
        else:
            marks.append(current)
    return marks


def context_words(tokens: list[list[str]], marks: list, size: int) -> tuple[list[list[str]], list[list[str]]]:
    """The last `size` words of the document before each sentence and the first `size` after it
    (a word is at least one subword, so `size` words fill `size` tokens)."""
    before, after = [], []
    for row, document in enumerate(marks):
        left: list[str] = []
        k = row - 1
        while document is not None and k >= 0 and marks[k] == document and len(left) < size:
            left = tokens[k] + left
            k -= 1
        right: list[str] = []
        k = row + 1
        while document is not None and k < len(marks) and marks[k] == document and len(right) < size:
            right = right + tokens[k]
            k += 1
        before.append(left[-size:])
        after.append(right[:size])
    return before, after


def add_columns(split: RawSplit, tokens_column: str, document_column: str, size: int) -> bool:
    """The split with BEFORE and AFTER columns; False (and no columns) when it marks no documents."""
    tokens = split.dataset[tokens_column]
    marks = documents(split, tokens, document_column)
    if marks is None:
        return False
    before, after = context_words(tokens, marks, size)
    split.dataset = split.dataset.add_column(BEFORE, before).add_column(AFTER, after)
    return True


def add_to_splits(splits: dict[str, RawSplit], config) -> None:
    """Context columns on every split that marks documents. A train split that marks none (the
    hub's CoNLL-2003) trains the model without context: document_context is settled to 0 for the
    whole run (config.yaml says so, and `predict RUN` adds none). Another split that marks none is
    encoded without context, and the run says so."""
    options = config.options
    size = options.document_context
    if size < 0:
        raise InputError(f"config key 'document_context': {size}; give a number of tokens, or 0 for none.")
    train = splits.get("train")
    if train is not None and not add_columns(train, options.tokens_column, options.document_column, size) \
            and train.location != TYPED:
        print(f"  train: no documents marked in {train.location} (no -DOCSTART- lines, no "
              f"'{options.document_column}' column): the model is trained on each sentence alone, "
              f"document_context={size} -> 0 (recorded in config.yaml).", file=sys.stderr)
        config.settle("document_context", 0)
        return
    for name, split in splits.items():
        if split is not train and not add_columns(split, options.tokens_column, options.document_column, size) \
                and split.location != TYPED:
            print(f"  {name}: no documents marked in {split.location}: its sentences are encoded without context.",
                  file=sys.stderr)


def fit(before: list[int], after: list[int], free: int, size: int) -> tuple[list[int], list[int]]:
    """The context token ids kept: at most `size` a side and `free` in all, the nearest to the
    sentence; room one side does not use goes to the other."""
    right = min(size, len(after), free // 2)
    left = min(size, len(before), free - right)
    right = min(size, len(after), free - left)
    return before[len(before) - left:], after[:right]


def token_ids(batch: dict, tokenizer) -> tuple[list[list[int]], list[list[int]]]:
    """The subword ids of each row's context words, before and after (no special tokens)."""
    def ids(words):
        return tokenizer(words, is_split_into_words=True, add_special_tokens=False)["input_ids"]
    return ids(batch[BEFORE]), ids(batch[AFTER])


def filler(key: str, ids: list[int]) -> list[int]:
    """The values of context tokens for one of the tokenizer's outputs: their ids, attended to, in
    the sentence's segment (token_type 0)."""
    return ids if key == "input_ids" else [1] * len(ids) if key == "attention_mask" else [0] * len(ids)
