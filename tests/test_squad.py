"""Span QA: sliding windows, training targets, offsets back to characters, and decoding."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
from datasets import Dataset
from transformers import BertTokenizerFast

from finetune.data.splits import RawSplit
from tasks import registry
from tasks.registry import load_config
from tasks.squad import NO_ANSWER, locate_answer

WORDS = [f"w{i}" for i in range(60)]
LONG = " ".join(WORDS)  # 60 words, one token each
CJK_QUESTION, CJK_CONTEXT, CJK_ANSWER = "苏轼是哪里人？", "苏轼是北宋著名的文学家与政治家，眉州眉山人。", "眉州眉山"
ACCENTED = "Antonín Dvořák was born in Nelahozeves near Prague in 1841 and wrote the New World symphony."


def _tokenizer(texts: list[str]) -> BertTokenizerFast:
    pieces = set()
    for text in texts:
        folded = "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")
        for word in folded.replace("，", " ， ").replace("。", " 。 ").replace("？", " ？ ").split():
            pieces.add(word.strip(".,?"))
            pieces.update(word)  # every character, for CJK (each is its own token)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "?"] + sorted(p for p in pieces if p)
    return BertTokenizerFast(vocab={t: i for i, t in enumerate(dict.fromkeys(vocab))}, do_lower_case=True)


def _adapter(*overrides: str):
    return registry.get(load_config("squad", ["data.max_seq_length=24", "doc_stride=8", *overrides]))


def _examples(rows: list[tuple[str, str, str | None]]) -> Dataset:
    columns = {"id": [], "question": [], "context": [], "answers": []}
    for i, (question, context, answer) in enumerate(rows):
        columns["id"].append(f"q{i}")
        columns["question"].append(question)
        columns["context"].append(context)
        start = context.index(answer) if answer else None
        columns["answers"].append({"text": [answer] if answer else [], "answer_start": [start] if answer else []})
    return Dataset.from_dict(columns)


def _encode(adapter, examples, tokenizer, split):
    return adapter.encode(examples[:], list(range(len(examples))), tokenizer, split)


@pytest.mark.parametrize("answer", ["w0 w1", "w30 w31 w32", "w58 w59"])  # first, a middle, the last window
def test_training_targets_point_at_the_answer_in_windows_that_hold_it(answer):
    adapter = _adapter()
    examples = _examples([("where is it", LONG, answer)])
    tokenizer = _tokenizer([LONG, "where is it"])
    features = _encode(adapter, examples, tokenizer, "train")
    windows = len(features["input_ids"])
    assert windows >= 4  # 60 context tokens, windows of 24 - 6 question/special tokens, stride 8
    assert all(len(ids) <= 24 for ids in features["input_ids"])
    holding = 0
    for ids, start, end in zip(features["input_ids"], features["start_positions"], features["end_positions"]):
        if start == NO_ANSWER:
            assert end == NO_ANSWER
            continue
        holding += 1
        assert tokenizer.decode(ids[start:end + 1]) == answer
    assert holding >= 1


def test_answer_across_a_window_boundary_is_found_by_a_window_that_holds_it_whole():
    adapter = _adapter()
    tokenizer = _tokenizer([LONG, "where is it"])
    features = _encode(adapter, _examples([("where is it", LONG, "w14 w15 w16 w17 w18 w19 w20 w21")]), tokenizer, "train")
    # The first window ends inside the answer: it must point at no-answer, a later one at the whole span.
    first_context = [tokenizer.decode([t]) for t in features["input_ids"][0]]
    assert "w14" in first_context and "w21" not in first_context
    assert features["start_positions"][0] == NO_ANSWER
    whole = [(ids, s, e) for ids, s, e in zip(features["input_ids"], features["start_positions"], features["end_positions"]) if s]
    assert whole and all(tokenizer.decode(ids[s:e + 1]) == "w14 w15 w16 w17 w18 w19 w20 w21" for ids, s, e in whole)


@pytest.mark.parametrize("context", [CJK_CONTEXT, ACCENTED, LONG])
def test_offsets_map_every_context_token_back_to_its_characters(context):
    adapter = _adapter()
    tokenizer = _tokenizer([context, CJK_QUESTION, "who"])
    features = _encode(adapter, _examples([("who", context, None)]), tokenizer, "validation")
    covered = set()
    for ids, offsets in zip(features["input_ids"], features["offset_mapping"]):
        for token, (start, end) in zip(ids, offsets):
            if start < 0:
                continue
            piece = context[start:end]
            assert piece and not piece.isspace()
            text = tokenizer.convert_ids_to_tokens(token).removeprefix("##")
            folded = "".join(c for c in unicodedata.normalize("NFD", piece.lower()) if unicodedata.category(c) != "Mn")
            assert token == tokenizer.unk_token_id or folded == text
            covered.update(range(start, end))
    assert covered == {i for i, c in enumerate(context) if not c.isspace()}  # every character, once or more


def _logits_for(features, spans: dict[int, tuple[int, int, float]], null: dict[int, float] | None = None):
    """Start/end logits per window: a span (start token, end token, score) where given, else flat."""
    starts, ends = [], []
    for window, ids in enumerate(features["input_ids"]):
        s, e = np.full(len(ids) + 3, -5.0), np.full(len(ids) + 3, -5.0)  # + padding past the window
        s[NO_ANSWER] = e[NO_ANSWER] = (null or {}).get(window, -4.0) / 2
        if window in spans:
            start, end, score = spans[window]
            s[start], e[end] = score / 2, score / 2
        starts.append(s)
        ends.append(e)
    return {"start_logits": starts, "end_logits": ends}


def test_decode_takes_the_best_span_over_all_windows():
    adapter = _adapter()
    tokenizer = _tokenizer([LONG, "where is it"])
    examples = _examples([("where is it", LONG, "w40 w41")])
    features = Dataset.from_dict(_encode(adapter, examples, tokenizer, "validation"))
    location = {}
    for window, (ids, offsets) in enumerate(zip(features["input_ids"], features["offset_mapping"])):
        words = [tokenizer.decode([t]) for t in ids]
        if "w40" in words and "w41" in words:
            location[window] = (words.index("w40"), words.index("w41"), 6.0)
        if "w3" in words:
            location.setdefault(window, (words.index("w3"), words.index("w3"), 2.0))
    (prediction,) = adapter.decode(examples, features, _logits_for(features, location))
    assert prediction["text"] == "w40 w41"
    assert prediction["nbest"][0]["text"] == "w40 w41" and prediction["nbest"][0]["score"] == pytest.approx(6.0)
    assert sum(c["probability"] for c in prediction["nbest"]) == pytest.approx(1.0)
    assert len(prediction["nbest"]) <= 20


def test_decode_never_returns_spans_longer_than_max_answer_length_or_outside_the_context():
    adapter = _adapter("max_answer_length=2")
    tokenizer = _tokenizer([LONG, "where is it"])
    examples = _examples([("where is it", LONG, "w1")])
    features = Dataset.from_dict(_encode(adapter, examples, tokenizer, "validation"))
    ids = features["input_ids"][0]
    words = [tokenizer.decode([t]) for t in ids]
    logits = _logits_for(features, {0: (words.index("w1"), words.index("w5"), 9.0)})
    logits["start_logits"][0][1] = 20.0  # a question token: not in the context
    (prediction,) = adapter.decode(examples, features, logits)
    assert all(len(c["text"].split()) <= 2 for c in prediction["nbest"])
    assert "where" not in prediction["text"]


def test_v2_null_odds_use_the_minimum_null_score_over_windows_and_the_threshold():
    tokenizer = _tokenizer([LONG, "where is it"])
    examples = _examples([("where is it", LONG, None)])
    for threshold, expected in [(0.0, ""), (5.0, "w40 w41")]:
        adapter = _adapter("version_2=true", f"null_threshold={threshold}")
        features = Dataset.from_dict(_encode(adapter, examples, tokenizer, "validation"))
        window = next(w for w, ids in enumerate(features["input_ids"]) if "w40" in tokenizer.decode(ids))
        words = [tokenizer.decode([t]) for t in features["input_ids"][window]]
        nulls = {w: 8.0 for w in range(len(features["input_ids"]))}
        nulls[len(nulls) - 1] = 5.0  # the minimum over windows counts
        (prediction,) = adapter.decode(examples, features, _logits_for(
            features, {window: (words.index("w40"), words.index("w41"), 3.0)}, nulls))
        assert prediction["null_odds"] == pytest.approx(5.0 - 3.0)
        assert prediction["text"] == expected


def test_locate_answer_exact_whitespace_moved_and_missing():
    context = "The cat sat on the mat near the door."
    assert locate_answer(context, "the mat", 15) == (15, "exact")
    assert locate_answer(context, " the mat", 14) == (14, "exact")  # the tokens start at "the" anyway
    assert locate_answer(context, "the mat", 14) == (15, "whitespace")  # offset on the space before it
    assert locate_answer(context, " the mat", 15) == (15, "whitespace")
    assert locate_answer(context, "the door", 3) == (28, "moved")
    assert locate_answer(context, "the dog", 15) is None


def test_a_v1_question_without_answer_or_with_an_answer_not_in_the_context_is_refused():
    from finetune.errors import InputError

    adapter = _adapter()
    bad = _examples([("where", LONG, "w3")])
    bad = bad.remove_columns("answers").add_column("answers", [{"text": ["w99"], "answer_start": [4]}])
    with pytest.raises(InputError, match="question id q0.*not in its context"):
        adapter.setup_labels({"train": RawSplit("train", bad, "file", "train.json")})
    empty = bad.remove_columns("answers").add_column("answers", [{"text": [], "answer_start": []}])
    with pytest.raises(InputError, match="q0 has no answer"):
        adapter.setup_labels({"train": RawSplit("train", empty, "file", "train.json")})


def test_answers_off_by_whitespace_or_misplaced_are_re_anchored_to_their_text(capsys):
    adapter = _adapter()
    context = "The cat sat on the mat near the door."
    examples = Dataset.from_dict({"id": ["a", "b", "c"], "question": ["q"] * 3, "context": [context] * 3, "answers": [
        {"text": ["the mat "], "answer_start": [14]},  # offset on the space before, trailing space
        {"text": ["the door"], "answer_start": [-1]},  # misplaced (as 200 answers of CMRC 2018 dev)
        {"text": ["cat"], "answer_start": [4]},  # exact
    ]})
    split = RawSplit("train", examples, "file", "train.json")
    adapter.setup_labels({"train": split})
    assert split.dataset["answers"] == [{"text": ["the mat"], "answer_start": [15]},
                                         {"text": ["the door"], "answer_start": [28]},
                                         {"text": ["cat"], "answer_start": [4]}]
    assert "1 answer(s) off by whitespace and 1 with a misplaced answer_start" in capsys.readouterr().out
