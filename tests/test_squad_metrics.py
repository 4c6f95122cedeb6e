"""finetune.metrics.squad checked against hand-worked values and the official SQuAD scripts.

The oracle is tests/reference/: copies of evaluate-v1.1.py and evaluate-v2.0.py (SQuAD explorer),
run on the real dev sets with synthetic predictions that hit every branch (exact answers, partial
overlaps, wrong spans, empty and normalised-to-empty answers, tied null odds).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from finetune.errors import InputError
from finetune.metrics import squad

REFERENCE = Path(__file__).parent / "reference"


def _load_reference(name: str):
    spec = importlib.util.spec_from_file_location(f"squad_reference_{name}", REFERENCE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


official_v1 = _load_reference("squad_official_v1")
official_v2 = _load_reference("squad_official_v2")


def _dataset(questions: list[tuple[str, list[str]]], version: str = "v2.0") -> dict:
    """A one-paragraph SQuAD JSON of (id, answer texts) pairs."""
    qas = [{"id": qid, "question": "?", "answers": [{"text": t, "answer_start": 0} for t in texts]}
           for qid, texts in questions]
    return {"version": version, "data": [{"title": "t", "paragraphs": [{"context": "c", "qas": qas}]}]}


def _assert_same(ours, reference, tol: float = 1e-9):
    assert list(ours) == list(reference)  # the official keys, in the official order
    for key in reference:
        assert abs(ours[key] - reference[key]) <= tol, (key, ours[key], reference[key])


# -- normalisation, exact match, F1 ---------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("The  Cat!", "cat"),
    ("An apple a day", "apple day"),
    ("anthem theory", "anthem theory"),  # articles only as whole words
    ("THE end, the END.", "end end"),
    ("don't", "dont"),  # punctuation inside a word joins its parts
    ("U.S.A.", "usa"),
    ("the-end", "theend"),  # punctuation goes before the articles: no "the" left to remove
    ("a\tB\n  c ", "b c"),
    ("\u201cquoted\u201d \u2013 dash", "\u201cquoted\u201d \u2013 dash"),  # non-ASCII punctuation stays
    ("", ""),
    ("  the a an  ", ""),
])
def test_normalize_answer(text, expected):
    assert squad.normalize_answer(text) == expected
    assert official_v1.normalize_answer(text) == expected
    assert official_v2.normalize_answer(text) == expected


def test_exact_match():
    assert squad.exact_match("The Cat!", "cat") == 1
    assert squad.exact_match("a cat", "cats") == 0
    assert squad.exact_match("", "") == 1
    assert squad.exact_match("the", "") == 1  # both normalise to nothing


def test_f1_partial_overlap():
    # "big red dog" vs "red dog house": 2 common tokens, precision 2/3, recall 2/3, F1 2/3
    assert squad.f1("the big red dog", "red dog house") == pytest.approx(2 / 3, abs=1e-15)
    # "red dog" vs "big red dog house": precision 2/2, recall 2/4 -> 2 * 1 * 0.5 / 1.5 = 2/3
    assert squad.f1("red dog", "big red dog house") == pytest.approx(2 / 3, abs=1e-15)
    # tokens count with multiplicity: "dog dog cat" vs "dog": 1 common, precision 1/3, recall 1 -> 1/2
    assert squad.f1("dog dog cat", "dog") == pytest.approx(0.5, abs=1e-15)
    assert squad.f1("cat", "dog") == 0.0
    for version in squad.VERSIONS:
        assert squad.f1("the big red dog", "red dog house", version) == squad.f1("the big red dog", "red dog house")


def test_f1_empty_answers_differ_between_versions():
    assert squad.f1("", "") == 1.0  # v2.0: both "no answer"
    assert squad.f1("the", "a") == 1.0  # both normalise to nothing
    assert squad.f1("", "dog") == 0.0
    assert squad.f1("dog", "") == 0.0
    assert squad.f1("", "", version="1.1") == 0.0  # v1.1: no common token, so 0 ...
    assert squad.exact_match("", "") == 1  # ... although the exact match is 1
    assert squad.f1("the", "", version="1.1") == 0.0
    assert official_v1.f1_score("", "") == 0 and official_v2.compute_f1("", "") == 1
    with pytest.raises(ValueError):
        squad.f1("a", "b", version="3")


def test_max_over_gold_answers():
    golds = ["red", "dog house", "cat"]
    # vs "red": p 1/3 r 1 -> 0.5; vs "dog house": p 1/3 r 1/2 -> 0.4; vs "cat": 0
    assert squad.max_over_gold(squad.f1, "big red dog", golds) == pytest.approx(0.5, abs=1e-15)
    assert squad.max_over_gold(squad.exact_match, "Red Dog", ["dog", "the red dog", "cat"]) == 1
    assert squad.max_over_gold(squad.exact_match, "red", ["dog", "cat"]) == 0
    with pytest.raises(ValueError):
        squad.max_over_gold(squad.f1, "x", [])


def test_gold_answers_v2():
    assert squad.gold_answers_v2([]) == [""]
    assert squad.gold_answers_v2(["the", "!"]) == [""]
    assert squad.gold_answers_v2(["Paris", "the", "the city"]) == ["Paris", "the city"]


# -- whole (tiny) datasets ------------------------------------------------------------------------

def test_squad_v1_hand_example_and_empty_strings():
    data = _dataset([("q1", ["Paris", "paris france"]), ("q2", ["red dog house"]), ("q3", [""]), ("q4", ["42"])],
                    version="1.1")
    predictions = {"q1": "Paris, France", "q2": "the big red dog", "q3": "", "q4": "41", "extra": "ignored"}
    # exact: q1 1 ("paris france" after normalisation, the best of its two golds); q2 0;
    #        q3 1 ("" == ""); q4 0  => 2/4
    # f1:    q1 1; q2 2/3 (see test_f1_partial_overlap); q3 0 (v1.1: empty vs empty); q4 0  => (5/3)/4
    scores = squad.squad_v1(data, predictions)
    assert dict(scores) == {"exact_match": 50.0, "f1": pytest.approx(100 * 5 / 12, abs=1e-12)}
    assert scores.missing == []
    assert scores == official_v1.evaluate(data["data"], predictions)
    assert squad.format_v1(scores) == official_v1.main(data, predictions)


def test_squad_v1_missing_predictions_score_zero(capsys):
    data = _dataset([("q1", ["Paris"]), ("q2", ["dog"]), ("q3", ["cat"])], version="1.1")
    predictions = {"q2": "dog"}
    scores = squad.squad_v1(data, predictions)
    assert dict(scores) == {"exact_match": pytest.approx(100 / 3), "f1": pytest.approx(100 / 3)}
    assert scores.missing == ["q1", "q3"]
    assert squad.squad_v1_from_answers({"q1": ["Paris"], "q2": ["dog"], "q3": ["cat"]}, predictions) == scores
    printed = official_v1.main(data, predictions)
    assert squad.format_v1(scores) == printed
    assert squad.v1_messages(data, scores.missing) == capsys.readouterr().err.splitlines()
    data["version"] = "2.0"
    official_v1.main(data, predictions)
    assert squad.v1_messages(data, scores.missing) == capsys.readouterr().err.splitlines()


def test_squad_v1_failures_match_the_script():
    data = _dataset([("q1", [])], version="1.1")
    with pytest.raises(ValueError):
        official_v1.evaluate(data["data"], {"q1": "x"})
    with pytest.raises(squad.NoGoldAnswersError) as error:
        squad.squad_v1(data, {"q1": "x"})
    assert isinstance(error.value, (ValueError, InputError))
    assert squad.squad_v1(data, {}).missing == ["q1"]  # unpredicted: scored 0 before the answers are read
    with pytest.raises(ZeroDivisionError):
        squad.squad_v1(_dataset([]), {})


# Five questions, two unanswerable (gold [""]):
#   id  gold             prediction         exact  f1    null odds
#   q1  Paris            Paris              1      1     -2.0
#   q2  (none)           London             0      0      1.2
#   q3  red dog house    the big red dog    0      2/3    0.2
#   q4  (none)           ""                 1      1     -1.0
#   q5  42               41                 0      0      3.0
HAND_GOLD = {"q1": ["Paris"], "q2": [], "q3": ["red dog house"], "q4": [], "q5": ["42"]}
HAND_PREDICTIONS = {"q1": "Paris", "q2": "London", "q3": "the big red dog", "q4": "", "q5": "41"}
HAND_ODDS = {"q1": -2.0, "q2": 1.2, "q3": 0.2, "q4": -1.0, "q5": 3.0}


def test_squad_v2_hand_example_without_null_odds():
    data = _dataset(list(HAND_GOLD.items()))
    scores = squad.squad_v2(data, HAND_PREDICTIONS)
    expected = {"exact": 40.0, "f1": 100 * (8 / 3) / 5, "total": 5,
                "HasAns_exact": 100 / 3, "HasAns_f1": 100 * (5 / 3) / 3, "HasAns_total": 3,
                "NoAns_exact": 50.0, "NoAns_f1": 50.0, "NoAns_total": 2}
    _assert_same(scores, expected, tol=1e-12)
    assert squad.format_v2(scores) == official_v2.main(data, HAND_PREDICTIONS)


def test_squad_v2_hand_example_with_null_odds_and_threshold_search():
    data = _dataset(list(HAND_GOLD.items()))
    scores = squad.squad_v2(data, HAND_PREDICTIONS, HAND_ODDS)  # na_prob_thresh 1.0
    # Odds above 1.0 mean "no answer": q2 (unanswerable) becomes right (1.0), q5 stays wrong (0.0).
    # exact [1, 1, 0, 1, 0] -> 60; f1 [1, 1, 2/3, 1, 0] -> (11/3)/5
    # Threshold search: start at 2 (the unanswerable questions), then by ascending odds
    #   q1 (-2.0): +1 -> 3, best, thresh -2.0   | f1: 3, best, thresh -2.0
    #   q4 (-1.0): "" -> +0 -> 3                 | 3
    #   q3 ( 0.2): exact +0 -> 3                 | f1 +2/3 -> 11/3, best, thresh 0.2
    #   q2 ( 1.2): "London" -> -1 -> 2           | 8/3
    #   q5 ( 3.0): +0 -> 2                       | 8/3
    expected = {"exact": 60.0, "f1": 100 * (11 / 3) / 5, "total": 5,
                "HasAns_exact": 100 / 3, "HasAns_f1": 100 * (5 / 3) / 3, "HasAns_total": 3,
                "NoAns_exact": 100.0, "NoAns_f1": 100.0, "NoAns_total": 2,
                "best_exact": 60.0, "best_exact_thresh": -2.0,
                "best_f1": 100 * (11 / 3) / 5, "best_f1_thresh": 0.2}
    _assert_same(scores, expected, tol=1e-12)
    assert squad.format_v2(scores) == official_v2.main(data, HAND_PREDICTIONS, HAND_ODDS)
    assert squad.squad_v2_from_answers(HAND_GOLD, HAND_PREDICTIONS, HAND_ODDS) == scores


def test_squad_v2_threshold_search_quirks():
    # Ties: qa (answerable, right) and qb (unanswerable, answered "x") share odds 0.5. Walking them in
    # the odds dict's order, qa first gives 1 + 1 = 2 > 1 at threshold 0.5: best_exact 100, although
    # at threshold 0.5 ("odds > 0.5" = no answer) both are answered and exact is 50. qb first: 1 - 1
    # + 1 never beats the start, so 50 at the default threshold 0.0.
    gold = {"qa": ["yes"], "qb": []}
    predictions = {"qa": "yes", "qb": "x"}
    for odds, best, thresh in [({"qa": 0.5, "qb": 0.5}, 100.0, 0.5), ({"qb": 0.5, "qa": 0.5}, 50.0, 0.0)]:
        scores = squad.squad_v2_from_answers(gold, predictions, odds)
        assert (scores["best_exact"], scores["best_exact_thresh"]) == (best, thresh)
        reference = official_v2.evaluate(_dataset(list(gold.items())), predictions, odds)
        assert (reference["best_exact"], reference["best_exact_thresh"]) == (best, thresh)
    # "the" normalises to nothing (exact 1 against gold [""]) but the search tests the raw string:
    # answering qc costs 1. Start 1; qc -1 -> 0; qd +0 -> 0: best 1 of 2 at 0.0.
    gold = {"qc": [], "qd": ["yes"]}
    predictions, odds = {"qc": "the", "qd": ""}, {"qc": -1.0, "qd": 2.0}
    scores = squad.squad_v2_from_answers(gold, predictions, odds)
    assert scores["NoAns_exact"] == 100.0
    assert (scores["best_exact"], scores["best_exact_thresh"]) == (50.0, 0.0)
    assert scores == official_v2.evaluate(_dataset(list(gold.items())), predictions, odds)


def test_squad_v2_groups_only_when_present_and_negative_threshold():
    gold = {"q1": ["a dog"], "q2": ["cat"]}
    scores = squad.squad_v2_from_answers(gold, {"q1": "dog", "q2": "cat"})
    assert list(scores) == ["exact", "f1", "total", "HasAns_exact", "HasAns_f1", "HasAns_total"]
    # Without null odds every question has odds 0.0: a negative threshold makes them all "no answer".
    blank = squad.squad_v2_from_answers(gold, {"q1": "dog", "q2": "cat"}, na_prob_thresh=-0.5)
    assert (blank["exact"], blank["f1"]) == (0.0, 0.0)
    data = _dataset(list(gold.items()))
    assert blank == official_v2.evaluate(data, {"q1": "dog", "q2": "cat"}, na_prob_thresh=-0.5)


def test_squad_v2_answers_that_normalise_to_nothing_still_make_a_question_answerable():
    gold = {"q1": ["The"], "q2": []}  # q1: gold [""] but HasAns (its answers list is not empty)
    data = _dataset(list(gold.items()))
    scores = squad.squad_v2_from_answers(gold, {"q1": "", "q2": ""})
    assert (scores["HasAns_exact"], scores["HasAns_f1"], scores["HasAns_total"]) == (100.0, 100.0, 1)
    assert scores == official_v2.evaluate(data, {"q1": "", "q2": ""})
    # Odds over the threshold: "no answer", wrong for q1 since it is answerable, right for q2.
    odds = {"q1": 2.0, "q2": 2.0}
    scores = squad.squad_v2_from_answers(gold, {"q1": "", "q2": ""}, odds)
    assert (scores["HasAns_exact"], scores["NoAns_exact"]) == (0.0, 100.0)
    assert scores == official_v2.evaluate(data, {"q1": "", "q2": ""}, odds)


def test_squad_v2_failures_match_the_script(capsys):
    data = _dataset(list(HAND_GOLD.items()))
    partial = {k: v for k, v in HAND_PREDICTIONS.items() if k not in ("q2", "q3")}
    with pytest.raises(KeyError):
        official_v2.evaluate(data, partial)
    printed = capsys.readouterr().out.splitlines()
    with pytest.raises(squad.MissingPredictionsError) as error:
        squad.squad_v2(data, partial)
    assert isinstance(error.value, (KeyError, InputError))
    assert [f"Missing prediction for {qid}" for qid in error.value.ids] == printed
    assert "q2, q3" in str(error.value)
    odds = {k: v for k, v in HAND_ODDS.items() if k != "q5"}
    with pytest.raises(KeyError):
        official_v2.evaluate(data, HAND_PREDICTIONS, odds)
    with pytest.raises(squad.MissingPredictionsError) as error:
        squad.squad_v2(data, HAND_PREDICTIONS, odds)
    assert error.value.ids == ["q5"]
    with pytest.raises(ZeroDivisionError):
        official_v2.evaluate(data, {})
    with pytest.raises(squad.EmptyDatasetError):
        squad.squad_v2(data, {})


def test_load_squad_json(tmp_path):
    data = _dataset(list(HAND_GOLD.items()))
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert squad.load_squad_json(path) == data


# -- the real dev sets ----------------------------------------------------------------------------

def _synthetic(dataset_json: dict, seed: int) -> tuple[dict[str, str], dict[str, float]]:
    """Deterministic predictions of every kind, and null odds with many ties, leaning towards
    "no answer" for the unanswerable questions so that the threshold search has work to do; plus
    a prediction and odds for an id that is no question of the dataset."""
    rng = np.random.default_rng(seed)
    predictions, odds = {}, {}
    for article in dataset_json["data"]:
        for paragraph in article["paragraphs"]:
            words = paragraph["context"].split()
            for qa in paragraph["qas"]:
                texts = [a["text"] for a in qa["answers"]]
                kind = int(rng.integers(8))
                gold = texts[int(rng.integers(len(texts)))].split() if texts else None
                start = int(rng.integers(len(words)))
                span = " ".join(words[start:start + int(rng.integers(1, 6))])
                if kind == 0 and gold:
                    text = texts[0]
                elif kind == 1 and gold and len(gold) > 1:
                    drop = int(rng.integers(len(gold)))
                    text = " ".join(gold[:drop] + gold[drop + 1:])
                elif kind == 2 and gold:
                    text = " ".join(words[start:start + 2] + gold + words[start + 2:start + 3])
                elif kind == 3 and gold:
                    text = "The " + " ".join(gold).upper() + "!"
                elif kind == 4:
                    text = ""
                elif kind == 5:
                    text = ["the", " ", "a.", "An"][int(rng.integers(4))]  # normalise to nothing
                else:
                    text = span
                predictions[qa["id"]] = text
                value = rng.normal(1.0 if not texts else -1.0, 2.0)
                odds[qa["id"]] = float(np.round(value, 1) if rng.random() < 0.5 else value)  # ties
    predictions["not-a-question"], odds["not-a-question"] = "extra", -9.0  # ids outside the dataset count for nothing
    return predictions, odds


@pytest.fixture(scope="module")
def dev_v1(real_data):
    data = squad.load_squad_json(real_data / "squad" / "dev-v1.1.json")
    return data, _synthetic(data, seed=11)[0]


@pytest.fixture(scope="module")
def dev_v2(real_data):
    data = squad.load_squad_json(real_data / "squad" / "dev-v2.0.json")
    return (data, *_synthetic(data, seed=22))


def test_real_v1_matches_the_official_script(dev_v1, capsys):
    data, predictions = dev_v1
    assert sum(1 for _ in squad.iter_questions(data)) == 10570
    printed = official_v1.main(data, predictions)
    reference = json.loads(printed)  # floats survive the round trip exactly
    scores = squad.squad_v1(data, predictions)
    _assert_same(scores, reference)
    assert 20 < scores["exact_match"] < 60 and 20 < scores["f1"] < 80  # the predictions are mixed
    assert squad.format_v1(scores) == printed
    assert scores.missing == [] and capsys.readouterr().err == ""
    gold = dict(squad.iter_questions(data))
    _assert_same(squad.squad_v1_from_answers(gold, predictions), reference)


def test_real_v1_missing_and_extra_predictions(dev_v1, capsys):
    data, predictions = dev_v1
    ids = [qid for qid, _ in squad.iter_questions(data)]
    partial = {qid: predictions[qid] for i, qid in enumerate(ids) if i % 7}
    reference = official_v1.evaluate(data["data"], partial)
    stderr = capsys.readouterr().err.splitlines()
    scores = squad.squad_v1(data, partial)
    _assert_same(scores, reference)
    assert scores.missing == ids[::7]
    assert squad.v1_messages(data, scores.missing) == stderr


@pytest.mark.parametrize("with_odds, thresh", [(False, 1.0), (True, 1.0), (True, 0.0), (False, -1.0)])
def test_real_v2_matches_the_official_script(dev_v2, with_odds, thresh):
    data, predictions, odds = dev_v2
    assert sum(1 for _ in squad.iter_questions(data)) == 11873
    null_odds = odds if with_odds else None
    printed = official_v2.main(data, predictions, null_odds, thresh)
    reference = json.loads(printed)  # keeps the key order; floats survive the round trip exactly
    scores = squad.squad_v2(data, predictions, null_odds, thresh)
    _assert_same(scores, reference)
    assert scores["total"] == 11873 and scores["HasAns_total"] == 5928 and scores["NoAns_total"] == 5945
    assert squad.format_v2(scores) == printed
    if with_odds:
        assert scores["best_f1"] > scores["f1"] - 1e-9 and scores["best_f1_thresh"] != 0.0


def test_real_v2_missing_predictions_fail_like_the_script(dev_v2, capsys):
    data, predictions, odds = dev_v2
    data = {"version": data["version"], "data": data["data"][:4]}  # the first articles: the failure is the same
    ids = [qid for qid, _ in squad.iter_questions(data)]
    partial = {qid: predictions[qid] for i, qid in enumerate(ids) if i % 50}
    with pytest.raises(KeyError):
        official_v2.evaluate(data, partial, odds)
    printed = capsys.readouterr().out.splitlines()
    with pytest.raises(squad.MissingPredictionsError) as error:
        squad.squad_v2(data, partial, odds)
    assert error.value.ids == ids[::50]
    assert [f"Missing prediction for {qid}" for qid in error.value.ids] == printed
