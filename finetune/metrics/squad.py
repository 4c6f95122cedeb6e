"""SQuAD v1.1 and v2.0 scores: exactly what the official evaluation scripts compute.

The official scripts are evaluate-v1.1.py and evaluate-v2.0.py from the SQuAD explorer
(rajpurkar/SQuAD-explorer). Published SQuAD numbers come from them, quirks included, so these
functions reproduce them rather than fix them: tests/test_squad_metrics.py checks every key against
copies of the scripts (tests/reference/) on the full dev sets, and the sums run in the scripts' order
so that the numbers are the same to the last bit, not merely close. All functions are pure (parsed
JSON in, dicts out); load_squad_json is the one that reads a file.

The official behaviours kept on purpose:

- normalize_answer removes ASCII punctuation only (string.punctuation: curly quotes, dashes and other
  Unicode punctuation stay), and removes it before the articles, inside words too: "U.S." -> "us",
  "the-end" -> "theend" (no article left to remove).
- F1 when a side normalises to nothing: v1.1 gives 0, even when both do (while their exact match is
  1); v2.0 gives 1 when both do and 0 when only one does (its "no answer" agreement).
- Gold answers: v1.1 takes every answer text as it is. v2.0 keeps the texts that normalise to
  something, or [""] when none does (unanswerable), but calls a question answerable when its answers
  list is non-empty, so one whose answers all normalise to "" is HasAns with gold [""].
- A question without a prediction: v1.1 scores it 0, keeps it in the total and names it on stderr
  (here: Scores.missing and v1_messages); v2.0 leaves it out of `total` and then fails with a
  KeyError (here: MissingPredictionsError, which is a KeyError).
- v2.0 with na_prob_thresh: a question whose null odds exceed the threshold (strictly) is taken as
  answered "no answer" whatever its text, scoring 1.0 if unanswerable and 0.0 if not. Without null
  odds every question has odds 0.0, so a negative threshold blanks every prediction.
- v2.0's best threshold (find_best_thresh): see its docstring.
"""

from __future__ import annotations

import collections
import json
import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from finetune.errors import InputError

_ARTICLES = re.compile(r"\b(a|an|the)\b")  # str patterns are Unicode-aware, as v2.0's re.UNICODE asks
_PUNCTUATION = str.maketrans("", "", string.punctuation)
VERSIONS = ("1.1", "2.0")


class Scores(collections.OrderedDict):
    """An official result dict (json.dumps of it is what the script prints), plus `missing`: the
    question ids that had no prediction, in dataset order. Only v1.1 can return any (it scores them
    0); v2.0 raises MissingPredictionsError instead."""

    def __init__(self, items: Iterable = (), missing: Iterable[str] = ()):
        super().__init__(items)
        self.missing = list(missing)


class MissingPredictionsError(InputError, KeyError):
    """Questions with no prediction (or no null odds) where evaluate-v2.0.py fails with a KeyError:
    an InputError for the CLI, a KeyError like the official failure. `ids`: the questions."""

    def __init__(self, ids: Sequence[str], what: str, total: int):
        self.ids = list(ids)
        shown = ", ".join(self.ids[:5]) + (", ..." if len(self.ids) > 5 else "")
        super().__init__(f"SQuAD v2.0: no {what} for {len(self.ids)} of {total} questions ({shown}); the "
                         f"official evaluate-v2.0.py fails on this (KeyError). Give every question one "
                         f"(an empty string answers 'no answer').")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class NoGoldAnswersError(InputError, ValueError):
    """A predicted question with no gold answer under v1.1, where evaluate-v1.1.py fails with a
    ValueError (max of nothing)."""

    def __init__(self, qid: str):
        self.qid = qid
        super().__init__(f"SQuAD v1.1: question id {qid} has no gold answer; the official evaluate-v1.1.py "
                         f"fails on this (ValueError). Unanswerable questions need the v2.0 scoring.")


class EmptyDatasetError(InputError, ZeroDivisionError):
    """Nothing to average over, where the official scripts divide by zero."""


# -- one answer against one gold answer -------------------------------------------------------------

def normalize_answer(s: str) -> str:
    """Lower-cased, ASCII punctuation removed, then the articles a/an/the, whitespace collapsed to
    single spaces: the official normalisation (identical in v1.1 and v2.0)."""
    return " ".join(_ARTICLES.sub(" ", s.lower().translate(_PUNCTUATION)).split())


def exact_match(prediction: str, gold: str) -> int:
    """1 if the two normalise to the same string, else 0 (v1.1 and v2.0 alike; two answers that
    normalise to nothing match)."""
    return int(normalize_answer(prediction) == normalize_answer(gold))


def _f1_tokens(pred_tokens: list[str], gold_tokens: list[str], version: str) -> float:
    """Token-overlap F1 with the official arithmetic (same expression, so the same rounding)."""
    if version == "2.0" and (not pred_tokens or not gold_tokens):
        return float(pred_tokens == gold_tokens)
    num_same = sum((collections.Counter(pred_tokens) & collections.Counter(gold_tokens)).values())
    if num_same == 0:
        return 0.0
    precision = 1.0 * num_same / len(pred_tokens)
    recall = 1.0 * num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def f1(prediction: str, gold: str, version: str = "2.0") -> float:
    """Token-overlap F1 of the normalised answers (tokens split on whitespace, counted with
    multiplicity). The versions differ only when a side normalises to nothing: v2.0's compute_f1
    gives 1.0 if both do and 0.0 if one does; v1.1's f1_score has no such rule and gives 0.0 in both
    cases (no common token), although exact_match of two empty answers is 1."""
    if version not in VERSIONS:
        raise ValueError(f"SQuAD version must be one of {VERSIONS}, not {version!r}")
    return _f1_tokens(normalize_answer(prediction).split(), normalize_answer(gold).split(), version)


def max_over_gold(metric: Callable[[str, str], float], prediction: str, golds: Sequence[str]) -> float:
    """The best score of the prediction over the gold answers (the official scripts take the max).
    Like them, fails (ValueError) on an empty list."""
    return max(metric(prediction, gold) for gold in golds)


def gold_answers_v2(texts: Sequence[str]) -> list[str]:
    """v2.0's gold answers of a question: its answer texts that normalise to something, or [""]
    (the only right answer to an unanswerable question) when none does."""
    return [t for t in texts if normalize_answer(t)] or [""]


# -- whole datasets ---------------------------------------------------------------------------------

def iter_questions(dataset_json: Mapping) -> Iterator[tuple[str, list[str]]]:
    """(question id, answer texts) of every question of a SQuAD JSON, in file order."""
    for article in dataset_json["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                yield qa["id"], [answer["text"] for answer in qa["answers"]]


def _best(pred_norm: str, gold_norms: list[str], version: str) -> tuple[int, float]:
    """(exact, f1) of a normalised prediction, each maximised over the normalised gold answers."""
    pred_tokens = pred_norm.split()
    exact = max(int(pred_norm == g) for g in gold_norms)
    return exact, max(_f1_tokens(pred_tokens, g.split(), version) for g in gold_norms)


def _v1(questions: Iterable[tuple[str, Sequence[str]]], predictions: Mapping[str, str]) -> Scores:
    exact_sum = f1_sum = total = 0
    missing = []
    for qid, texts in questions:
        total += 1
        if qid not in predictions:
            missing.append(qid)
            continue
        if not texts:
            raise NoGoldAnswersError(qid)
        exact, f1_value = _best(normalize_answer(predictions[qid]), [normalize_answer(t) for t in texts], "1.1")
        exact_sum += exact
        f1_sum += f1_value
    if not total:
        raise EmptyDatasetError("SQuAD v1.1: the dataset has no questions.")
    return Scores([("exact_match", 100.0 * exact_sum / total), ("f1", 100.0 * f1_sum / total)], missing)


def squad_v1(dataset_json: Mapping, predictions: Mapping[str, str]) -> Scores:
    """evaluate-v1.1.py: {"exact_match", "f1"}, percentages over every question of the dataset.

    A question with no prediction scores 0 and stays in the total; its id is in the result's
    `missing` (len of it: the count), and v1_messages gives the lines the script prints for it.
    Predictions for ids not in the dataset are ignored. A predicted question without gold answers
    raises NoGoldAnswersError (the script fails there too)."""
    return _v1(iter_questions(dataset_json), predictions)


def squad_v1_from_answers(gold: Mapping[str, Sequence[str]], predictions: Mapping[str, str]) -> Scores:
    """squad_v1 on {question id: answer texts} (in dataset order) instead of the SQuAD JSON."""
    return _v1(gold.items(), predictions)


def _eval_dict(exact: Mapping[str, float], f1s: Mapping[str, float], ids: Sequence[str] | None) -> list[tuple]:
    """make_eval_dict: exact, f1 (percentages) and total over the given ids, or over all scored ones."""
    if ids is None:
        total = len(exact)
        return [("exact", 100.0 * sum(exact.values()) / total), ("f1", 100.0 * sum(f1s.values()) / total),
                ("total", total)]
    total = len(ids)
    return [("exact", 100.0 * sum(exact[k] for k in ids) / total), ("f1", 100.0 * sum(f1s[k] for k in ids) / total),
            ("total", total)]


def _thresholded(scores: Mapping[str, float], odds: Mapping[str, float], has_answer: Mapping[str, bool],
                 threshold: float) -> dict[str, float]:
    """apply_no_ans_threshold: odds above the threshold mean "no answer", right only if unanswerable."""
    return {qid: float(not has_answer[qid]) if odds[qid] > threshold else s for qid, s in scores.items()}


def find_best_thresh(predictions: Mapping[str, str], scores: Mapping[str, float], null_odds: Mapping[str, float],
                     has_answer: Mapping[str, bool]) -> tuple[float, float]:
    """(best score in percent, its threshold), as evaluate-v2.0.py's find_best_thresh.

    The search starts from answering nothing (score: the number of unanswerable questions in the
    whole dataset) and walks the questions by ascending null odds (a stable sort: ties keep the odds
    dict's order), answering one more each step: an answerable one adds its raw score (before any
    threshold), an unanswerable one subtracts 1 if its raw prediction string is non-empty (not
    normalised, so " " or "the" counts as an answer although its exact match with "" is 1). The
    first strict maximum wins and its question's odds are the threshold, even inside a run of tied
    odds, where applying "odds > threshold" would answer the rest of the run too. 0.0 when answering
    nothing is best. Ids of null_odds without a score are skipped; the percentage is over the scored
    questions."""
    score = best = sum(1 for qid in has_answer if not has_answer[qid])
    threshold = 0.0
    for qid in sorted(null_odds, key=lambda k: null_odds[k]):
        if qid not in scores:
            continue
        if has_answer[qid]:
            score += scores[qid]
        elif predictions[qid]:
            score += -1
        if score > best:
            best, threshold = score, null_odds[qid]
    return 100.0 * best / len(scores), threshold


def squad_v2_from_answers(gold: Mapping[str, Sequence[str]], predictions: Mapping[str, str],
                          null_odds: Mapping[str, float] | None = None, na_prob_thresh: float = 1.0) -> Scores:
    """squad_v2 on {question id: answer texts} (in dataset order; [] for unanswerable questions)."""
    has_answer = {qid: bool(texts) for qid, texts in gold.items()}
    exact_raw, f1_raw, missing = {}, {}, []
    for qid, texts in gold.items():
        if qid not in predictions:
            missing.append(qid)
            continue
        golds = [g for g in (normalize_answer(t) for t in texts) if g] or [""]
        exact_raw[qid], f1_raw[qid] = _best(normalize_answer(predictions[qid]), golds, "2.0")
    odds = null_odds if null_odds is not None else dict.fromkeys(predictions, 0.0)
    no_odds = [qid for qid in exact_raw if qid not in odds]
    if no_odds:
        raise MissingPredictionsError(no_odds, "null odds", len(gold))
    exact = _thresholded(exact_raw, odds, has_answer, na_prob_thresh)
    f1s = _thresholded(f1_raw, odds, has_answer, na_prob_thresh)
    if not exact:
        raise EmptyDatasetError("SQuAD v2.0: no question of the dataset has a prediction.")
    if missing:
        raise MissingPredictionsError(missing, "prediction", len(gold))
    result = Scores(_eval_dict(exact, f1s, None))
    for prefix, wanted in (("HasAns", True), ("NoAns", False)):
        ids = [qid for qid, has in has_answer.items() if has is wanted]
        if ids:
            result.update((f"{prefix}_{key}", value) for key, value in _eval_dict(exact, f1s, ids))
    if null_odds is not None:
        for name, raw in (("exact", exact_raw), ("f1", f1_raw)):
            result[f"best_{name}"], result[f"best_{name}_thresh"] = find_best_thresh(predictions, raw, null_odds,
                                                                                   has_answer)
    return result


def squad_v2(dataset_json: Mapping, predictions: Mapping[str, str], null_odds: Mapping[str, float] | None = None,
             na_prob_thresh: float = 1.0) -> Scores:
    """evaluate-v2.0.py: exact, f1, total; HasAns_exact, HasAns_f1, HasAns_total and the same for
    NoAns (each group only when the dataset has such questions); with null odds (the script's
    --na-prob-file: per question, higher = more likely unanswerable), best_exact, best_exact_thresh,
    best_f1, best_f1_thresh. In that order, as the script prints them.

    na_prob_thresh is the script's --na-prob-thresh: a question whose null odds exceed it counts as
    answered "no answer". Every question needs a prediction (MissingPredictionsError otherwise,
    where the script fails with a KeyError), and null odds when they are given; extra ids are
    ignored."""
    return squad_v2_from_answers(dict(iter_questions(dataset_json)), predictions, null_odds, na_prob_thresh)


# -- what the scripts print -------------------------------------------------------------------------

def format_v1(scores: Mapping) -> str:
    """What evaluate-v1.1.py prints on stdout: json.dumps of its dict."""
    return json.dumps(dict(scores))


def format_v2(scores: Mapping) -> str:
    """What evaluate-v2.0.py prints on stdout (without --out-file): json.dumps(out_eval, indent=2)."""
    return json.dumps(scores, indent=2)


def v1_messages(dataset_json: Mapping, missing: Iterable[str]) -> list[str]:
    """The lines evaluate-v1.1.py prints on stderr: a version warning unless the dataset says 1.1,
    then one line per question without a prediction."""
    lines = []
    if dataset_json["version"] != "1.1":
        lines.append(f"Evaluation expects v-1.1, but got dataset with v-{dataset_json['version']}")
    return lines + [f"Unanswered question {qid} will receive score 0." for qid in missing]


def load_squad_json(path: str | Path) -> dict:
    """A SQuAD JSON file (dataset, predictions or null odds), parsed."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)
