"""long_input=windows for classification: a text longer than the model becomes several windows.

The tokenizer's own overflow (return_overflowing_tokens with a stride, as SQuAD's windows are
made; the first text of a pair is the one cut) gives windows of data.max_seq_length tokens, each
with the model's special tokens and consecutive ones sharing `stride` tokens. Every window is
trained with its text's label; at prediction a text's logits are the mean (or the per-class max)
of its windows' logits, so every text gets exactly one prediction, in the order of the data,
however many processes evaluated the windows (evaluation gathers features in order first).
NER cuts its own word-aligned windows (tasks/ner.py): a word's subwords must stay in one window for
its label, which the tokenizer's overflow does not promise.
"""

from __future__ import annotations

import numpy as np

from finetune.errors import InputError


def windows(tokenizer, texts: list[str], pairs: list[str] | None, max_length: int, stride: int | None) -> dict:
    """Tokenised windows of every text, with `overflow_to_sample_mapping` (the text of each window)."""
    room = max_length - tokenizer.num_special_tokens_to_add(pair=pairs is not None)
    stride = room // 4 if stride is None else stride
    if not 0 <= stride < room:
        raise InputError(f"config key 'window_stride': {stride}; a window holds {room} tokens of text "
                         f"(data.max_seq_length={max_length} less the special tokens): give 0 .. {room - 1}.")
    try:
        return tokenizer(texts, pairs, truncation="only_first" if pairs is not None else True, max_length=max_length,
                         stride=stride, return_overflowing_tokens=True)
    except Exception as exc:  # the tokenizer refuses when a pair's second text alone leaves no room
        raise InputError(f"long_input=windows: {str(exc).strip().splitlines()[0]} Raise data.max_seq_length or "
                         f"lower window_stride.") from exc


def per_example(logits: np.ndarray, example_index, examples: int, how: str) -> np.ndarray:
    """[features, classes] -> [examples, classes]: each example's rows averaged, or their max a class.
    An example with one feature keeps its row bit for bit."""
    index = np.asarray(example_index)
    if len(index) == examples and (index == np.arange(examples)).all():
        return logits
    if how == "max":
        out = np.full((examples, logits.shape[1]), -np.inf)
        np.maximum.at(out, index, logits)
        return out
    out = np.zeros((examples, logits.shape[1]))
    np.add.at(out, index, logits)
    return out / np.bincount(index, minlength=examples)[:, None]
