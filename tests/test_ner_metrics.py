"""finetune.metrics.ner checked against hand-worked values, seqeval's default mode and conlleval.pl.

The oracle is seqeval 1.2.2 (default mode, which reads chunks with conlleval's rules): every count
and score must equal its numbers on hand cases and on random tag sequences, ill-formed ones included.
The report's layout is checked against conlleval.pl output, character for character.
"""

from __future__ import annotations

import math
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics import (
    accuracy_score,
    classification_report,
    f1_score,
    precision_score,
    recall_score,
)
from seqeval.metrics.sequence_labeling import get_entities as seqeval_entities

from finetune.metrics import ner
from finetune.metrics.ner import (
    NerScores,
    conlleval_report,
    flat_metrics,
    get_entities,
    score,
    to_bio,
)

RANDOM = settings(max_examples=200, deadline=None)
# O weighted up so that entities have room to end; E-/S- (which seqeval reads), types with '-', and
# bare tags (seqeval reads PER as prefix P, type ER) so that ill-formed input is covered too.
TAGS = st.sampled_from(["O"] * 6 + [f"{p}-{t}" for p in "BIES" for t in ("A", "B", "creative-work")]
                       + ["PER", "B", "I"])
SENTENCES = st.lists(st.lists(st.tuples(TAGS, TAGS), max_size=8), min_size=1, max_size=4)
BMES = st.lists(st.sampled_from(["O"] * 3 + [f"{p}-{t}" for p in "BIESM" for t in ("A", "B")]), max_size=12)

# Three sentences worked by hand (used below for the scores, the report and seqeval).
GOLD = [["B-PER", "I-PER", "O", "B-LOC", "O"],
        ["I-LOC", "I-LOC", "O", "B-creative-work", "I-creative-work"],  # an IOB1-style I- start
        ["O", "O", "B-PER"]]
PRED = [["B-PER", "I-PER", "O", "B-ORG", "O"],  # PER right; LOC predicted as ORG (wrong type)
        ["B-LOC", "I-LOC", "O", "B-creative-work", "O"],  # LOC right (same span); creative-work one short
        ["O", "B-MISC", "B-PER"]]  # a spurious MISC; PER at the sentence end right
# gold: PER 2, LOC 2, creative-work 1 = 5; found: PER 2, LOC 1, ORG 1, creative-work 1, MISC 1 = 6;
# correct: PER 2, LOC 1 = 3. Precision 3/6, recall 3/5, F1 = 2 * .5 * .6 / 1.1 = 6/11.
# Tags: 13 tokens, wrong ones B-ORG, B-LOC (gold I-LOC), O (gold I-creative-work), B-MISC: 9/13.


def _seqeval(gold, pred):
    with warnings.catch_warnings():  # undefined-metric and "not NE tag" warnings: numbers only here
        warnings.simplefilter("ignore")
        return (classification_report(gold, pred, output_dict=True), precision_score(gold, pred),
                recall_score(gold, pred), f1_score(gold, pred), accuracy_score(gold, pred))


def _assert_agrees_with_seqeval(gold, pred):
    ours = score(gold, pred)
    report, precision, recall, f1, accuracy = _seqeval(gold, pred)
    averages = {key: report.pop(key) for key in ("micro avg", "macro avg", "weighted avg")}
    assert list(ours.per_type) == list(report)  # the same types, in the same (sorted) order
    for kind, theirs in report.items():
        mine = ours.per_type[kind]
        for key, their_key in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
            assert abs(mine[key] - theirs[their_key]) <= 1e-12, (kind, key)
        assert mine["support"] == theirs["support"]
    for mine, theirs in ((ours.precision, precision), (ours.recall, recall), (ours.f1, f1),
                         (ours.precision, averages["micro avg"]["precision"]),
                         (ours.recall, averages["micro avg"]["recall"]),
                         (ours.f1, averages["micro avg"]["f1-score"]), (ours.accuracy, accuracy)):
        assert abs(mine - theirs) <= 1e-12
    assert ours.gold_entities == averages["micro avg"]["support"]
    macro = flat_metrics(ours)["macro_f1"]
    if report:
        assert abs(macro - averages["macro avg"]["f1-score"]) <= 1e-12
    else:  # no entity anywhere: seqeval's mean over no types is NaN, ours 0
        assert math.isnan(averages["macro avg"]["f1-score"]) and macro == 0.0


# -- entities -------------------------------------------------------------------------------------

@pytest.mark.parametrize("tags, expected", [
    (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),
    (["I-PER", "I-PER", "O"], [("PER", 0, 2)]),  # an I- start starts an entity
    (["B-PER", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 2)]),  # I-Y after B-X: a change of type, two
    (["B-PER", "I-PER", "I-LOC", "I-LOC"], [("PER", 0, 2), ("LOC", 2, 4)]),
    (["B-PER", "O", "I-PER", "I-PER"], [("PER", 0, 1), ("PER", 2, 4)]),  # I-X after O mid-sentence
    (["B-PER", "B-PER", "I-PER"], [("PER", 0, 1), ("PER", 1, 3)]),  # B- splits adjacent entities
    (["O", "B-LOC", "I-LOC"], [("LOC", 1, 3)]),  # an entity at the sentence end
    (["B-creative-work", "I-creative-work", "O"], [("creative-work", 0, 2)]),  # split on the first '-'
    (["S-PER", "B-LOC", "E-LOC", "E-LOC"], [("PER", 0, 1), ("LOC", 1, 3), ("LOC", 3, 4)]),  # E- after E- starts one
    (["B-ORG", "M-ORG", "E-ORG", "S-NAME"], [("ORG", 0, 3), ("NAME", 3, 4)]),  # BMES: M- read as I-
    (["PER", "PER", "O", "B", "I"], [("ER", 0, 2), ("_", 3, 5)]),  # bare tags, read as seqeval does
    ([], []),
    (["O", "O"], []),
])
def test_get_entities(tags, expected):
    assert get_entities(tags) == expected


@RANDOM
@given(st.lists(TAGS, max_size=12))
def test_get_entities_is_seqevals_with_exclusive_ends(tags):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = [(kind, start, end + 1) for kind, start, end in seqeval_entities(tags)]
    assert get_entities(tags) == expected


# -- scores ---------------------------------------------------------------------------------------

def test_hand_worked_scores():
    s = score(GOLD, PRED)
    assert (s.tokens, s.correct_tokens, s.gold_entities, s.found_entities, s.correct_entities) == (13, 9, 5, 6, 3)
    assert (s.precision, s.recall, s.f1, s.accuracy) == (0.5, 0.6, pytest.approx(6 / 11), pytest.approx(9 / 13))
    assert list(s.per_type) == ["LOC", "MISC", "ORG", "PER", "creative-work"]
    # LOC: 1 found and right of 2: precision 1, recall 1/2, F1 2 * 1 * .5 / 1.5 = 2/3.
    assert s.per_type["LOC"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3),
                                 "support": 2, "found": 1, "correct": 1}
    # ORG: found once, never gold: precision 0/1, recall 0/0 -> 0, F1 0.
    assert s.per_type["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0, "found": 1, "correct": 0}
    assert s.per_type["creative-work"]["support"] == 1 and s.per_type["creative-work"]["f1"] == 0.0
    _assert_agrees_with_seqeval(GOLD, PRED)


@pytest.mark.parametrize("gold, pred, counts, prf", [
    # perfect: 2 entities, both found: 1, 1, 1
    ([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-LOC"]], (4, 2, 2, 2), (1.0, 1.0, 1.0)),
    # a missed entity: precision 1/1, recall 1/2, F1 2 * 1 * .5 / 1.5 = 2/3
    ([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "O"]], (3, 2, 1, 1), (1.0, 0.5, 2 / 3)),
    # a wrong type: the span is right but the entity is not: 0/1, 0/1
    ([["B-PER", "I-PER", "O"]], [["B-ORG", "I-ORG", "O"]], (1, 1, 1, 0), (0.0, 0.0, 0.0)),
    # a boundary error: one token short is wrong, as a whole
    ([["B-LOC", "I-LOC", "I-LOC", "O"]], [["B-LOC", "I-LOC", "O", "O"]], (3, 1, 1, 0), (0.0, 0.0, 0.0)),
    # I-X after B-Y predicted: two entities found (LOC at 0, PER at 1), the gold PER spans both
    ([["B-PER", "I-PER"]], [["B-LOC", "I-PER"]], (1, 1, 2, 0), (0.0, 0.0, 0.0)),
    # an I- start predicted is the same entity as the gold B- start: correct, tag accuracy 1/2
    ([["B-PER", "I-PER"]], [["I-PER", "I-PER"]], (1, 1, 1, 1), (1.0, 1.0, 1.0)),
    # no entities found: precision 0 (0/0 is 0, as seqeval), recall 0/2, F1 0
    ([["B-PER", "O", "B-LOC"]], [["O", "O", "O"]], (1, 2, 0, 0), (0.0, 0.0, 0.0)),
    # nothing anywhere: every score 0, accuracy 2/2
    ([["O", "O"]], [["O", "O"]], (2, 0, 0, 0), (0.0, 0.0, 0.0)),
])
def test_hand_cases(gold, pred, counts, prf):
    s = score(gold, pred)
    assert (s.correct_tokens, s.gold_entities, s.found_entities, s.correct_entities) == counts
    assert (s.precision, s.recall, s.f1) == pytest.approx(prf, abs=1e-15)
    _assert_agrees_with_seqeval(gold, pred)


def test_empty_predictions_score_zero_per_type():
    s = score([["B-PER", "O", "B-LOC"]], [["O", "O", "O"]])
    assert s.per_type == {"LOC": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "found": 0, "correct": 0},
                          "PER": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "found": 0, "correct": 0}}


def test_entities_do_not_span_sentences():
    # Joined, I-PER I-PER would be one entity; per sentence it is two, both right.
    s = score([["I-PER"], ["I-PER"]], [["B-PER"], ["B-PER"]])
    assert (s.gold_entities, s.correct_entities) == (2, 2)


@RANDOM
@given(SENTENCES)
def test_scores_agree_with_seqeval(pairs):
    gold = [[g for g, _ in sentence] for sentence in pairs]
    pred = [[p for _, p in sentence] for sentence in pairs]
    if sum(map(len, gold)):  # seqeval's accuracy divides by the token count
        _assert_agrees_with_seqeval(gold, pred)


def test_length_mismatch_names_the_sentence():
    with pytest.raises(ValueError, match="sentence 1: 2 gold tags but 1 predicted"):
        score([["O"], ["O", "B-PER"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        score([["O"], ["O"]], [["O"]])


def test_no_tokens():
    s = score([], [])
    assert (s.tokens, s.precision, s.recall, s.f1, s.accuracy) == (0, 0.0, 0.0, 0.0, 0.0)
    assert conlleval_report(s) == "processed 0 tokens with 0 phrases; found: 0 phrases; correct: 0.\n"


def test_flat_metrics():
    metrics = flat_metrics(score(GOLD, PRED))
    assert metrics["precision"] == 0.5 and metrics["recall"] == 0.6
    assert metrics["f1"] == pytest.approx(6 / 11) and metrics["accuracy"] == pytest.approx(9 / 13)
    # per-type F1: LOC 2/3, MISC 0, ORG 0, PER 1, creative-work 0 -> (2/3 + 1) / 5 = 1/3
    assert metrics["macro_f1"] == pytest.approx(1 / 3)
    assert metrics["f1_LOC"] == pytest.approx(2 / 3) and metrics["precision_LOC"] == 1.0
    assert metrics["recall_LOC"] == 0.5 and metrics["support_LOC"] == 2.0
    assert metrics["support_creative-work"] == 1.0 and metrics["support_MISC"] == 0.0
    assert all(type(value) is float for value in metrics.values())
    assert len(metrics) == 5 + 4 * 5


# -- conlleval's report ---------------------------------------------------------------------------

def test_conlleval_report_hand_case():
    # accuracy 9/13 = 69.23%; precision 3/6 = 50%; recall 3/5 = 60%; FB1 2*50*60/110 = 54.545...
    # Per type the last number is the phrases FOUND; %17s right-aligns the type names.
    assert conlleval_report(score(GOLD, PRED)) == (
        "processed 13 tokens with 5 phrases; found: 6 phrases; correct: 3.\n"
        "accuracy:  69.23%; precision:  50.00%; recall:  60.00%; FB1:  54.55\n"
        "              LOC: precision: 100.00%; recall:  50.00%; FB1:  66.67  1\n"
        "             MISC: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
        "              ORG: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
        "              PER: precision: 100.00%; recall: 100.00%; FB1: 100.00  2\n"
        "    creative-work: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n")


def test_conlleval_report_matches_a_real_conlleval_pl_run():
    # A published conlleval.pl output on CoNLL-2003 testa; the per-type counts are the only integers
    # that give its percentages, and they add up to its totals (5142 correct, 5917 gold, 5779 found).
    counts = {"LOC": (1830, 1827, 1684), "MISC": (914, 811, 692), "ORG": (1341, 1285, 1042),
              "PER": (1832, 1856, 1724)}
    scores = NerScores(tokens=51577, correct_tokens=50360, gold_entities=5917, found_entities=5779,
                       correct_entities=5142,
                       per_type={kind: {"support": gold, "found": found, "correct": correct}
                                 for kind, (gold, found, correct) in counts.items()})
    assert conlleval_report(scores) == (
        "processed 51577 tokens with 5917 phrases; found: 5779 phrases; correct: 5142.\n"
        "accuracy:  97.64%; precision:  88.98%; recall:  86.90%; FB1:  87.93\n"
        "              LOC: precision:  92.17%; recall:  92.02%; FB1:  92.10  1827\n"
        "             MISC: precision:  85.33%; recall:  75.71%; FB1:  80.23  811\n"
        "              ORG: precision:  81.09%; recall:  77.70%; FB1:  79.36  1285\n"
        "              PER: precision:  92.89%; recall:  94.10%; FB1:  93.49  1856\n")


# -- tag schemes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("tags, scheme, expected", [
    ("I-PER I-PER I-LOC B-LOC O I-ORG", "iob1", "B-PER I-PER B-LOC B-LOC O B-ORG"),
    ("O I-PER B-PER I-PER", "iob1", "O B-PER B-PER I-PER"),
    ("B-ORG M-ORG E-ORG S-NAME O", "bioes", "B-ORG I-ORG I-ORG B-NAME O"),
    ("S-PER S-PER B-LOC I-LOC E-LOC", "bioes", "B-PER B-PER B-LOC I-LOC I-LOC"),
    ("E-LOC E-LOC", "bioes", "B-LOC B-LOC"),  # ill-formed: two entities as read, so two B-
    ("I-PER O I-PER", "bio", "I-PER O I-PER"),  # BIO is kept: the metric reads I- starts
    ("O PER I-PER", "iob1", "O PER B-PER"),  # a bare tag is kept for tag_error to report
])
def test_to_bio(tags, scheme, expected):
    assert " ".join(to_bio(tags.split(), scheme)) == expected


@RANDOM
@given(BMES, st.sampled_from(["iob1", "bioes"]))
def test_to_bio_keeps_the_entities(tags, scheme):
    bio = to_bio(tags, scheme)
    assert get_entities(bio) == get_entities(tags)
    for i, tag in enumerate(bio):  # well-formed BIO: every I-X continues a B-X or I-X
        assert tag == "O" or tag[:2] in ("B-", "I-")
        if tag.startswith("I-"):
            assert i > 0 and bio[i - 1][2:] == tag[2:] and bio[i - 1] != "O"
    assert to_bio(bio, "iob1") == bio


@pytest.mark.parametrize("sentences, expected", [
    ([["I-PER", "I-PER", "I-LOC", "B-LOC", "O", "I-ORG"]], "iob1"),  # 3 I- starts, 1 B- start
    ([["B-ORG", "M-ORG", "E-ORG", "S-NAME", "O"]], "bioes"),
    ([["O", "S-PER"], ["B-LOC", "I-LOC"]], "bioes"),
    ([["B-PER", "I-PER", "O", "B-LOC"]], "bio"),
    ([["I-PER", "O", "B-LOC"]], "bio"),  # a tie is BIO, where an I- start is an ordinary mistake
    ([["B-PER", "I-PER", "I-PER"], ["I-LOC"]], "bio"),
    ([], "bio"),
])
def test_detect_scheme(sentences, expected):
    assert ner.detect_scheme(sentences) == expected


@pytest.mark.parametrize("tag, scheme", [
    ("O", "bio"), ("B-PER", "bio"), ("I-creative-work", "iob1"), ("E-PER", "bioes"), ("S-PER", "bioes"),
    ("M-PER", "bioes"), ("I-PER", "bioes"),
])
def test_tag_error_accepts(tag, scheme):
    assert ner.tag_error(tag, scheme) is None


@pytest.mark.parametrize("tag, scheme, message", [
    ("PER", "bio", "tag 'PER' has no B-/I- prefix; expected O, B-TYPE or I-TYPE"),
    ("PER", "bioes", "tag 'PER' has no B-/I-/E-/S-/M- prefix; expected O, B-TYPE, I-TYPE, E-TYPE, S-TYPE or M-TYPE"),
    ("E-PER", "bio", "tag 'E-PER' has prefix 'E-', not one of B-/I-; expected O, B-TYPE or I-TYPE"),
    ("S-PER", "iob1", "tag 'S-PER' has prefix 'S-', not one of B-/I-; expected O, B-TYPE or I-TYPE"),
    ("X-PER", "bioes", "tag 'X-PER' has prefix 'X-'"),
    ("B-", "bio", "tag 'B-' has no type after its prefix"),
    ("o", "bio", "tag 'o' has no B-/I- prefix"),
])
def test_tag_error_explains(tag, scheme, message):
    assert ner.tag_error(tag, scheme).startswith(message)


def test_unknown_scheme():
    with pytest.raises(ValueError, match="expected one of bio, iob1, bioes"):
        ner.tag_error("O", "iob2")
    with pytest.raises(ValueError, match="unknown tag scheme 'bmes'"):
        to_bio(["O"], "bmes")
