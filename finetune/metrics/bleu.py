"""Corpus BLEU as published numbers are computed: sacrebleu's corpus_bleu with its defaults.

This module only adapts the call. `references[i]` lists the gold strings of hypothesis i, one or
more, the count varying between hypotheses; sacrebleu takes reference *streams* (stream j holds the
j-th reference of every hypothesis) and drops None entries, so the lists are transposed and the
shorter ones padded with None. An empty string stays a real reference of length 0.

Inputs sacrebleu mishandles are refused with a ValueError instead: an empty corpus (sacrebleu:
IndexError), lists of different lengths (sacrebleu silently scores the shorter prefix) and a
hypothesis without references (sacrebleu: a reference length of -1, or TypeError).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

TOKENIZERS = ("13a", "zh", "none")  # the ones a config may name (generative_qa's bleu_tokenize)


@dataclass(frozen=True)
class Bleu:
    score: float  # 0..100, as sacrebleu's BLEU.score
    counts: list[int]  # matching n-grams, n=1..4
    totals: list[int]  # hypothesis n-grams, n=1..4
    precisions: list[float]  # percentages, smoothed as sacrebleu gives them
    bp: float
    sys_len: int
    ref_len: int


def _check(hypotheses: Sequence[str], references: Sequence[Sequence[str]], tokenize: str) -> None:
    if tokenize not in TOKENIZERS:
        raise ValueError(f"unknown BLEU tokenizer {tokenize!r}; valid: {', '.join(TOKENIZERS)}")
    if not hypotheses:
        raise ValueError("BLEU of an empty corpus is undefined (no hypotheses)")
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    for i, refs in enumerate(references):
        # A bare string would be read as one reference per character.
        if isinstance(refs, str):
            raise ValueError(f"references[{i}] is a string; it must be a list of reference strings")
        if not refs:
            raise ValueError(f"hypothesis {i} has no reference")


def streams(references: Sequence[Sequence[str]]) -> list[list[str | None]]:
    """Per-hypothesis reference lists as sacrebleu's reference streams, None where a list is shorter."""
    width = max(len(refs) for refs in references)
    return [[refs[j] if j < len(refs) else None for refs in references] for j in range(width)]


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]], tokenize: str = "13a") -> Bleu:
    """sacrebleu.corpus_bleu(hypotheses, streams(references), tokenize=tokenize), defaults otherwise."""
    import sacrebleu  # not at import time: only generative QA scores BLEU

    _check(hypotheses, references, tokenize)
    result = sacrebleu.corpus_bleu(list(hypotheses), streams(references), tokenize=tokenize)
    return Bleu(result.score, list(result.counts), list(result.totals), list(result.precisions), result.bp,
                result.sys_len, result.ref_len)
