"""finetune.metrics.bleu: sacrebleu's corpus_bleu behind per-hypothesis reference lists, checked on
hand-worked values (so a wrong call of sacrebleu shows) and against sacrebleu called with reference
streams built here independently (to_streams).
"""

from __future__ import annotations

import json
import math

import pytest
import sacrebleu
from hypothesis import given, settings
from hypothesis import strategies as st

from finetune.metrics.bleu import TOKENIZERS, Bleu, corpus_bleu


def to_streams(references: list[list[str]]) -> list[list[str | None]]:
    """Per-hypothesis reference lists as sacrebleu's reference streams: stream j holds every
    hypothesis's j-th reference, None where a hypothesis has fewer (sacrebleu drops None entries)."""
    width = max(len(refs) for refs in references)
    return [[refs[j] if j < len(refs) else None for refs in references] for j in range(width)]


def assert_same_as_sacrebleu(hypotheses: list[str], references: list[list[str]], tok: str) -> Bleu:
    ours = corpus_bleu(hypotheses, references, tokenize=tok)
    theirs = sacrebleu.corpus_bleu(hypotheses, to_streams(references), tokenize=tok)
    assert ours.score == pytest.approx(theirs.score, abs=1e-9, rel=0)
    assert ours.score == theirs.score  # same operations in the same order: the same bits
    assert (ours.counts, ours.totals) == (theirs.counts, theirs.totals)
    assert (ours.sys_len, ours.ref_len) == (theirs.sys_len, theirs.ref_len)
    assert ours.precisions == theirs.precisions
    assert ours.bp == theirs.bp
    return ours


# Hand-worked cases (13a; these sentences tokenize to their words).

def test_identical_hypothesis_and_reference_scores_100():
    # 6 words: 6/6 unigrams, 5/5 bigrams, 4/4 trigrams, 3/3 4-grams match; bp = 1. The score is
    # exp(4 * log(100) / 4), which is 100.00000000000004 in floating point, in sacrebleu too.
    result = assert_same_as_sacrebleu(["the cat sat on the mat"], [["the cat sat on the mat"]], "13a")
    assert result.score == pytest.approx(100.0, abs=1e-9)
    assert result.score == 100.00000000000004
    assert result == Bleu(result.score, [6, 5, 4, 3], [6, 5, 4, 3], [100.0] * 4, 1.0, 6, 6)


def test_brevity_penalty():
    # c = 4 hypothesis words, r = 6: every n-gram matches (precisions 100), bp = exp(1 - 6/4) = exp(-0.5),
    # so BLEU = 100 * exp(-0.5) = 60.653...
    result = corpus_bleu(["the cat sat on"], [["the cat sat on the mat"]])
    assert result.precisions == [100.0] * 4
    assert result.bp == math.exp(1 - 6 / 4)
    assert result.score == pytest.approx(100 * math.exp(-0.5), abs=1e-9)
    assert (result.sys_len, result.ref_len) == (4, 6)


def test_exp_smoothing_of_orders_without_matches():
    # hyp "a b c d" vs ref "a b x d": unigrams a, b, d match (3/4 = 75%); bigrams ab|bc|cd: ab (1/3);
    # trigrams abc|bcd: none, the 1st zero order: 100 / (2^1 * 2) = 25; 4-gram abcd: none, the 2nd:
    # 100 / (2^2 * 1) = 25. BLEU = (75 * 100/3 * 25 * 25) ** (1/4) = 1562500 ** (1/4) = sqrt(1250).
    result = corpus_bleu(["a b c d"], [["a b x d"]])
    assert (result.counts, result.totals) == ([3, 1, 0, 0], [4, 3, 2, 1])
    assert result.precisions == pytest.approx([75.0, 100 / 3, 25.0, 25.0], abs=1e-12)
    assert result.score == pytest.approx(math.sqrt(1250), abs=1e-9)


def test_empty_hypothesis_scores_0():
    # No hypothesis words: no matches (score 0, precisions 0) and c = 0 < r, so bp = 0.
    assert corpus_bleu([""], [["a b"]]) == Bleu(0.0, [0] * 4, [0] * 4, [0.0] * 4, 0.0, 0, 2)
    assert_same_as_sacrebleu(["", "   "], [["a b"], ["c"]], "13a")


def test_corpus_without_any_4gram_scores_0_despite_matches():
    # sacrebleu's quirk: 3 words give no 4-gram, the 4-gram precision stays 0 and its log is floored.
    result = assert_same_as_sacrebleu(["a b c"], [["a b c"]], "13a")
    assert (result.score, result.precisions) == (0.0, [100.0, 100.0, 100.0, 0.0])


def test_multiple_references_closest_length_and_clipping():
    # Segment 1: c = 5, refs of length 4 and 6 tie at distance 1 -> the shorter, 4.
    # Segment 2: c = 4, refs of length 7 (distance 3) and 2 (distance 2) -> 2. r = 4 + 2 = 6 < c = 9: bp 1.
    hyps = ["a b c d e", "a b c d"]
    refs = [["a b c d e f", "a b c d"], ["a b c d e f g", "a b"]]
    result = corpus_bleu(hyps, refs)
    assert (result.sys_len, result.ref_len, result.bp) == (9, 6, 1.0)
    assert corpus_bleu(hyps, [r[::-1] for r in refs]) == result  # the tie does not depend on order
    assert_same_as_sacrebleu(hyps, refs, "13a")
    # Clipping takes the most frequent count in one reference (2 "the"), not the sum over them (3).
    clipped = corpus_bleu(["the the the the"], [["the cat", "the the dog"]])
    assert clipped.counts[0] == 2


def test_variable_number_of_references_equals_sacrebleu_with_none_padding():
    hyps = ["the cat is on the mat", "there is a cat here", "hello world , how are you today"]
    refs = [["the cat sat on the mat"], ["a cat is here", "there is a cat on the mat", "cat"],
            ["hello world", "hello , world , how are you ?"]]
    assert_same_as_sacrebleu(hyps, refs, "13a")
    assert to_streams(refs)[2] == [None, "cat", None]


def test_empty_string_reference_is_a_reference_of_length_0():
    # c = 4; "" (length 0) and the 8-word reference tie at distance 4 -> the shorter, 0. sacrebleu does
    # the same with "" in a stream, while a None (missing) reference leaves only length 8.
    hyps, refs = ["a b c d"], [["a b c d e f g h", ""]]
    assert assert_same_as_sacrebleu(hyps, refs, "13a").ref_len == 0
    assert sacrebleu.corpus_bleu(hyps, [["a b c d e f g h"], [None]]).ref_len == 8


# Errors.

def test_empty_corpus_raises_as_sacrebleu_does():
    with pytest.raises(IndexError):  # sacrebleu fails on hypotheses[0]
        sacrebleu.corpus_bleu([], [[]])
    with pytest.raises(ValueError, match="empty corpus"):
        corpus_bleu([], [])


def test_mismatched_lengths_raise():
    # sacrebleu would silently score the first hypothesis only.
    with pytest.raises(ValueError, match="2 hypotheses but 1 reference lists"):
        corpus_bleu(["a b", "c"], [["a b"]])


def test_bad_reference_lists_raise():
    with pytest.raises(ValueError, match="hypothesis 1 has no reference"):
        corpus_bleu(["a", "b"], [["a"], []])
    with pytest.raises(ValueError, match=r"references\[0\] is a string"):
        corpus_bleu(["a"], ["a"])


def test_unknown_tokenizer_names_the_valid_ones():
    with pytest.raises(ValueError, match="'intl'.*13a, zh, none"):
        corpus_bleu(["a"], [["a"]], tokenize="intl")
    assert TOKENIZERS == ("13a", "zh", "none")


# Tokenizers: the one asked for is the one used.

def test_zh_scores_chinese_characters_one_by_one():
    # 13a sees one word each (no bigram even); zh sees 7 characters, one of them changed (北 for 南):
    # unigrams 6/7, bigrams 4/6, trigrams 2/5, 4-grams 1/4 (京天安门).
    hyp, ref = "我爱北京天安门", "我爱南京天安门"
    assert corpus_bleu([hyp], [[ref]], tokenize="13a").totals == [1, 0, 0, 0]
    zh = corpus_bleu([hyp], [[ref]], tokenize="zh")
    assert (zh.counts, zh.totals) == ([6, 4, 2, 1], [7, 6, 5, 4])
    assert corpus_bleu(["a,b"], [["a,b"]], tokenize="none").totals == [1, 0, 0, 0]  # "none": split on spaces only
    assert corpus_bleu(["a,b"], [["a,b"]], tokenize="13a").totals == [3, 2, 1, 0]


# Property-based: random corpora against sacrebleu.

PIECES = ["a", "b", "the", "cat", "A", "1", "42", " ", " ", " ", "\t", "\n", ".", ",", "-", "'", '"', "!", "?",
          "$", "(", ")", "&quot;", "&amp;", "<skipped>", "-\n", "我", "中", "文", "。", "，", "！", "—", "𠀀", "ω", "５"]
words = st.lists(st.sampled_from(PIECES), max_size=16)


@st.composite
def segments(draw) -> tuple[str, list[str]]:
    """A hypothesis and 1-3 references; half the hypotheses are the first reference with pieces dropped
    and added, so that higher-order n-grams match and scores are not all 0."""
    refs = draw(st.lists(words, min_size=1, max_size=3))
    if draw(st.booleans()):
        hyp = draw(words)
    else:
        keep = draw(st.lists(st.booleans(), min_size=len(refs[0]), max_size=len(refs[0])))
        hyp = [piece for piece, kept in zip(refs[0], keep) if kept] + draw(st.lists(st.sampled_from(PIECES), max_size=3))
    return "".join(hyp), ["".join(ref) for ref in refs]


@pytest.mark.parametrize("tok", TOKENIZERS)
@settings(max_examples=50, deadline=None)
@given(corpus=st.lists(segments(), min_size=1, max_size=6))
def test_random_corpora_equal_sacrebleu(tok, corpus):
    assert_same_as_sacrebleu([hyp for hyp, _ in corpus], [refs for _, refs in corpus], tok)


# Real data.

def _questions(path, limit: int) -> list[dict]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    return [qa for article in data for paragraph in article["paragraphs"] for qa in paragraph["qas"]][:limit]


def _perturbed(qa: dict, i: int, units: list[str], join: str) -> str:
    """Deterministic system output of four kinds: the question, the answer, every other unit of the
    answer, the answer's units rotated by one."""
    kind = i % 4
    if kind == 0:
        return qa["question"]
    if kind == 1:
        return join.join(units)
    if kind == 2:
        return join.join(units[::2])
    return join.join(units[1:] + units[:1])


def test_squad_dev_equals_sacrebleu_13a(real_data):
    qas = _questions(real_data / "squad" / "dev-v1.1.json", 500)
    hyps = [_perturbed(qa, i, qa["answers"][0]["text"].split(), " ") for i, qa in enumerate(qas)]
    refs = [[answer["text"] for answer in qa["answers"]] for qa in qas]
    assert len(hyps) == 500 and len({len(r) for r in refs}) > 1  # a variable number of references
    result = assert_same_as_sacrebleu(hyps, refs, "13a")
    assert 0 < result.score < 100


def test_cmrc2018_dev_equals_sacrebleu_zh(real_data):
    qas = _questions(real_data / "cmrc2018" / "cmrc2018_dev.json", 300)
    hyps = [_perturbed(qa, i, list(qa["answers"][0]["text"]), "") for i, qa in enumerate(qas)]
    refs = [[answer["text"] for answer in qa["answers"]] for qa in qas]
    assert len(hyps) == 300
    result = assert_same_as_sacrebleu(hyps, refs, "zh")
    assert 0 < result.score < 100
