"""CMRC 2018 scores: what the official cmrc2018_evaluate.py (v5, SQuAD-style data) computes.

The official script (ymcui/cmrc2018, squad-style-data/cmrc2018_evaluate.py) scores Chinese span QA
on characters rather than words. This module is the toolkit's own implementation of the same
arithmetic, as pure functions; tests/test_cmrc.py checks it against a transcription of the script
(tests/reference/cmrc2018_official.py) on the real dev set and on hand-worked cases, to 1e-9.

- Segmentation (the script's mixed_segmentation): the text is lower-cased and stripped; every CJK
  character (U+4E00 to U+9FA5) and every character of PUNCTUATION is a token of its own; each run of
  other characters between them (Latin words, digits, spaces, other scripts) is split by NLTK's
  word tokenizer. For F1 the punctuation tokens are dropped first.
- F1: the length of the longest common *substring* (contiguous tokens) of the segmented answer and
  prediction gives precision and recall; 0 when nothing is shared, or when a side has no token.
- EM: 1 when the two texts are equal after lower-casing, stripping and removing PUNCTUATION (inner
  spaces stay, and no tokenizer runs).
- Each question takes the best F1 and the best EM over its answers; both are averaged over every
  question of the dataset, in percent. A question without a prediction scores 0, stays in the total
  and is counted as skipped (the script's SKIP, with an "Unanswered question" line on stderr).

The official behaviours kept on purpose:

- PUNCTUATION is the script's list, no more: ASCII "-:_*^/\\~`+=" and the full-width ，。：？！“”；’《》·、
  「」（）－～『』. The list's "……" never matches (the script compares one character at a time), so "…"
  stays; so do ASCII . , ! ? ( ) ' " and the opening quote ‘ (only ’ is listed).
- CJK means the basic block U+4E00 to U+9FA5 only: extension-A characters and U+9FA6-U+9FFF go into
  the runs that NLTK splits, as in the script.
- The script calls nltk.word_tokenize(run), which first splits the run into sentences with the Punkt
  model; here a run is tokenised as one line (word_tokenize(run, preserve_line=True)), which needs
  no downloaded model. The tokens differ only where Punkt finds a sentence end inside one run of
  non-CJK text (a period followed by a space and more Latin text, "Inc. Ltd" or "Mr. Smith"): the
  script splits that period off the word, this module leaves it attached (as the tokenizer does for
  any period that does not end its input). tests/test_cmrc.py counts such runs on the real dev set.
  NLTK's tokenizer itself has changed between releases; the numbers are those of the installed NLTK.
"""

from __future__ import annotations

import collections
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from finetune.errors import InputError

# The script's sp_char list, as single characters (its "……" entry can never equal one character).
PUNCTUATION = frozenset("-:_*^/\\~`+=，。：？！“”；’《》·、「」（）－～『』")
CJK_FIRST, CJK_LAST = "\u4e00", "\u9fa5"


class Scores(collections.OrderedDict):
    """f1, exact_match (percent), total and skip, plus `missing`: the question ids without a
    prediction, in dataset order (len(missing) == skip)."""

    def __init__(self, items: Iterable = (), missing: Iterable[str] = ()):
        super().__init__(items)
        self.missing = list(missing)


class EmptyDatasetError(InputError, ZeroDivisionError):
    """No question to average over, where the official script divides by zero."""


def _word_tokenize(run: str) -> list[str]:
    # Imported on first use: NLTK takes seconds to import and only CMRC scoring needs it.
    from nltk.tokenize import word_tokenize

    return word_tokenize(run, preserve_line=True)


def is_cjk(char: str) -> bool:
    return CJK_FIRST <= char <= CJK_LAST


def segment(text: str, drop_punctuation: bool = False,
            tokenize: Callable[[str], list[str]] = _word_tokenize) -> list[str]:
    """The script's mixed_segmentation: CJK characters and punctuation one token each, the runs
    between them through `tokenize` (NLTK's word tokenizer)."""
    tokens: list[str] = []
    run: list[str] = []
    for char in text.lower().strip():
        if char in PUNCTUATION and drop_punctuation:
            continue  # dropped without ending the run it interrupts, as in the script
        if is_cjk(char) or char in PUNCTUATION:
            if run:
                tokens.extend(tokenize("".join(run)))
                run = []
            tokens.append(char)
        else:
            run.append(char)
    if run:
        tokens.extend(tokenize("".join(run)))
    return tokens


def remove_punctuation(text: str) -> str:
    """Lower-cased, stripped, the characters of PUNCTUATION removed (the script's remove_punctuation)."""
    return "".join(char for char in text.lower().strip() if char not in PUNCTUATION)


def longest_common_substring(a: Sequence[str], b: Sequence[str]) -> int:
    """The length of the longest run of consecutive tokens that a and b share (the script's find_lcs,
    which also returns the run itself; only its length is scored)."""
    best = 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            if x == y:
                current[j + 1] = previous[j] + 1
                best = max(best, current[j + 1])
        previous = current
    return best


def _f1_segments(answer: list[str], prediction: list[str]) -> float:
    common = longest_common_substring(answer, prediction)
    if common == 0:
        return 0.0
    precision = 1.0 * common / len(prediction)
    recall = 1.0 * common / len(answer)
    return (2 * precision * recall) / (precision + recall)


def f1(prediction: str, answer: str) -> float:
    """F1 of one prediction against one answer, from their longest common substring of tokens
    (punctuation dropped); 0.0 when they share nothing or a side has no token."""
    return _f1_segments(segment(answer, drop_punctuation=True), segment(prediction, drop_punctuation=True))


def exact_match(prediction: str, answer: str) -> int:
    """1 when the two are equal after remove_punctuation, else 0."""
    return int(remove_punctuation(prediction) == remove_punctuation(answer))


def best_f1(prediction: str, answers: Sequence[str]) -> float:
    """The best F1 over a question's answers (the script's calc_f1_score); ValueError with none."""
    prediction_tokens = segment(prediction, drop_punctuation=True)
    return max(_f1_segments(segment(a, drop_punctuation=True), prediction_tokens) for a in answers)


def best_exact_match(prediction: str, answers: Sequence[str]) -> int:
    """1 when any answer matches exactly (the script's calc_em_score; 0 with no answer)."""
    return max((exact_match(prediction, a) for a in answers), default=0)


# -- whole datasets ---------------------------------------------------------------------------------

def iter_questions(dataset_json: Mapping) -> Iterator[tuple[str, list[str]]]:
    """(question id, answer texts) of every question of a SQuAD-layout JSON, in file order. The
    script looks predictions up by the id stripped of surrounding whitespace."""
    for article in dataset_json["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                yield qa["id"].strip(), [answer["text"] for answer in qa["answers"]]


def cmrc2018_from_answers(gold: Iterable[tuple[str, Sequence[str]]] | Mapping[str, Sequence[str]],
                          predictions: Mapping[str, object]) -> Scores:
    """f1, exact_match (percent over every question), total and skip, as cmrc2018_evaluate.py.

    `gold`: (question id, answer texts) in dataset order, or a dict of them. A question without a
    prediction scores 0 and counts in total and skip. A prediction that is not a string is scored as
    str() of it, as the script does. Predictions for unknown ids are ignored."""
    items = gold.items() if isinstance(gold, Mapping) else gold
    f1_sum = em_sum = total = 0
    missing = []
    for qid, answers in items:
        total += 1
        if qid not in predictions:
            missing.append(qid)
            continue
        prediction = predictions[qid]
        prediction = prediction if isinstance(prediction, str) else str(prediction)
        f1_sum += best_f1(prediction, answers)
        em_sum += best_exact_match(prediction, answers)
    if not total:
        raise EmptyDatasetError("CMRC 2018: the dataset has no questions.")
    return Scores([("f1", 100.0 * f1_sum / total), ("exact_match", 100.0 * em_sum / total), ("total", total),
                   ("skip", len(missing))], missing)


def cmrc2018(dataset_json: Mapping, predictions: Mapping[str, object]) -> Scores:
    """cmrc2018_from_answers over the questions of a SQuAD-layout JSON (the official dev file)."""
    return cmrc2018_from_answers(iter_questions(dataset_json), predictions)


# -- what the script prints -------------------------------------------------------------------------

def format_official(scores: Mapping, prediction_file: str | Path) -> str:
    """The line the script prints: AVERAGE (mean of F1 and EM), F1, EM with three decimals as
    strings, TOTAL, SKIP and FILE, as one JSON object."""
    out = collections.OrderedDict()
    out["AVERAGE"] = f"{(scores['exact_match'] + scores['f1']) * 0.5:.3f}"
    out["F1"] = f"{scores['f1']:.3f}"
    out["EM"] = f"{scores['exact_match']:.3f}"
    out["TOTAL"] = scores["total"]
    out["SKIP"] = scores["skip"]
    out["FILE"] = str(prediction_file)
    return json.dumps(out)


def unanswered_messages(missing: Iterable[str]) -> list[str]:
    """The script's stderr line for every question without a prediction."""
    return [f"Unanswered question: {qid}" for qid in missing]


def print_unanswered(missing: Iterable[str]) -> None:
    for line in unanswered_messages(missing):
        print(line, file=sys.stderr)
