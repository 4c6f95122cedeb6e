"""Entity-level NER scores as conlleval.pl computes them, and conversion of tag schemes to BIO.

Published CoNLL NER numbers come from conlleval.pl (CoNLL-2000 shared task, Erik Tjong Kim Sang) in
its default (non-raw) mode, and most Python code reports seqeval's default mode, which reads B-, I-
and O with conlleval's rules (start_of_chunk/end_of_chunk) and adds IOBES's E- and S- (conlleval.pl's
own E- is IOE's, and it has no S-). These functions give seqeval's numbers (tests/test_ner_metrics.py
checks them against seqeval 1.2.2 on random tag sequences) and print conlleval's report. The
reading kept on purpose, ill-formed tags included:

- An I-X that follows O, another type, or an E-/S- tag starts an entity: IOB1 files and models that
  skip B- are scored as conlleval scores them, not thrown away (seqeval's strict mode would).
- A change of type ends an entity and starts another: B-X I-Y is two entities.
- A tag is read as seqeval reads it: the prefix is its first character and the type is what follows
  the first '-' (B-creative-work is type creative-work); a bare tag such as PER is prefix P and
  type ER, and a bare B or I is type '_'. tag_error reports such tags in data files.
- M- (BMES's middle) is read as I-. seqeval does not know M: it drops or misplaces chunks around it.
- Sentences are scored separately, so an entity never spans two of them (seqeval gets the same by
  joining sentences with an O).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

SCHEMES = ("bio", "iob1", "bioes")
_PREFIXES = {"bio": ("B", "I"), "iob1": ("B", "I"), "bioes": ("B", "I", "E", "S", "M")}
_EXPECTED = {"bio": "O, B-TYPE or I-TYPE", "iob1": "O, B-TYPE or I-TYPE",
             "bioes": "O, B-TYPE, I-TYPE, E-TYPE, S-TYPE or M-TYPE"}


def _split(tag: str) -> tuple[str, str]:
    """(prefix, type) as seqeval reads the tag; see the module docstring. M is read as I."""
    prefix, type_ = tag[:1], tag[1:].split("-", 1)[-1] or "_"
    return ("I" if prefix == "M" else prefix), type_


def _ends(prev: str, prev_type: str, prefix: str, type_: str) -> bool:
    """conlleval's endOfChunk with seqeval's IOBES rules: does the chunk before this tag end here?
    ('.' is a conlleval prefix that never opens or closes a chunk by a change of type.)"""
    return (prev in ("E", "S")
            or (prev in ("B", "I") and prefix in ("B", "S", "O"))
            or (prev not in ("O", ".") and prev_type != type_))


def _starts(prev: str, prev_type: str, prefix: str, type_: str) -> bool:
    """conlleval's startOfChunk with seqeval's IOBES rules: does a chunk start at this tag?"""
    return (prefix in ("B", "S")
            or (prev in ("E", "S", "O") and prefix in ("I", "E"))
            or (prefix not in ("O", ".") and prev_type != type_))


def get_entities(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, start, end) of each entity, end exclusive, in order: seqeval's get_entities (whose
    ends are inclusive) on one sentence, which is conlleval's default reading."""
    entities = []
    prev, prev_type, start = "O", "", 0  # seqeval's starting state
    for i, tag in enumerate([*tags, "O"]):  # the closing O ends an entity at the sentence end
        prefix, type_ = _split(tag)
        if _ends(prev, prev_type, prefix, type_):
            entities.append((prev_type, start, i))
        if _starts(prev, prev_type, prefix, type_):
            start = i
        prev, prev_type = prefix, type_
    return entities


def _ratio(numerator: float, denominator: float) -> float:
    """seqeval's zero_division='warn' numbers (without the warning): 0 when nothing to divide by."""
    return numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


@dataclass
class NerScores:
    """Counts and scores of one evaluation; precision, recall and F1 are fractions (0..1), micro over
    all entities. per_type[TYPE] holds precision, recall, f1, support (gold entities), found
    (predicted entities) and correct, for each type in the gold tags or the predictions, sorted."""

    tokens: int
    correct_tokens: int
    gold_entities: int
    found_entities: int
    correct_entities: int
    per_type: dict[str, dict[str, float]] = field(default_factory=dict)
    precision: float = 0.0
    recall: float = 0.0
    f1: float = 0.0
    accuracy: float = 0.0  # conlleval's "accuracy": correct tags / tokens, O tokens included


def score(gold: list[list[str]], predicted: list[list[str]]) -> NerScores:
    """Entity-level scores of predicted tag sequences against gold ones: an entity counts as correct
    when its type, start and end all match (conlleval's exact-match rule)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted ones; give one "
                         f"prediction per sentence")
    gold_counts, found_counts, correct_counts = Counter(), Counter(), Counter()
    tokens = correct_tokens = 0
    for index, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted)):
        if len(gold_tags) != len(predicted_tags):
            raise ValueError(f"sentence {index}: {len(gold_tags)} gold tags but {len(predicted_tags)} "
                             f"predicted; give one predicted tag per token")
        tokens += len(gold_tags)
        correct_tokens += sum(g == p for g, p in zip(gold_tags, predicted_tags))
        gold_entities, found_entities = set(get_entities(gold_tags)), set(get_entities(predicted_tags))
        gold_counts.update(kind for kind, _, _ in gold_entities)
        found_counts.update(kind for kind, _, _ in found_entities)
        correct_counts.update(kind for kind, _, _ in gold_entities & found_entities)

    per_type = {}
    for kind in sorted(gold_counts.keys() | found_counts.keys()):
        precision = _ratio(correct_counts[kind], found_counts[kind])
        recall = _ratio(correct_counts[kind], gold_counts[kind])
        per_type[kind] = {"precision": precision, "recall": recall, "f1": _f1(precision, recall),
                          "support": gold_counts[kind], "found": found_counts[kind],
                          "correct": correct_counts[kind]}
    correct, found, total = (sum(c.values()) for c in (correct_counts, found_counts, gold_counts))
    precision, recall = _ratio(correct, found), _ratio(correct, total)
    return NerScores(tokens=tokens, correct_tokens=correct_tokens, gold_entities=total,
                     found_entities=found, correct_entities=correct, per_type=per_type,
                     precision=precision, recall=recall, f1=_f1(precision, recall),
                     accuracy=_ratio(correct_tokens, tokens))


def flat_metrics(scores: NerScores) -> dict[str, float]:
    """One flat dict for logging. macro_f1 is seqeval's 'macro avg' F1 (the unweighted mean over the
    types in gold or predictions), except that with no types at all it is 0 where seqeval gives NaN."""
    per_type = scores.per_type.values()
    metrics = {"precision": scores.precision, "recall": scores.recall, "f1": scores.f1,
               "accuracy": scores.accuracy,
               "macro_f1": _ratio(sum(t["f1"] for t in per_type), len(per_type))}
    for kind, values in scores.per_type.items():
        for key in ("f1", "precision", "recall", "support"):
            metrics[f"{key}_{kind}"] = float(values[key])
    return metrics


def conlleval_report(scores: NerScores) -> str:
    """What conlleval.pl prints, to the character: its printf formats, its percentages computed from
    the counts (so the rounding is its own), the accuracy line only when there are tokens, and per
    type (sorted) the number of phrases found (predicted), not the gold support."""
    def line(precision: float, recall: float) -> str:
        return f"precision: {precision:6.2f}%; recall: {recall:6.2f}%; FB1: {_f1(precision, recall):6.2f}"

    lines = [f"processed {scores.tokens} tokens with {scores.gold_entities} phrases; "
             f"found: {scores.found_entities} phrases; correct: {scores.correct_entities}."]
    if scores.tokens:
        lines.append(f"accuracy: {100 * scores.correct_tokens / scores.tokens:6.2f}%; "
                     + line(_ratio(100 * scores.correct_entities, scores.found_entities),
                            _ratio(100 * scores.correct_entities, scores.gold_entities)))
    for kind, t in scores.per_type.items():
        lines.append(f"{kind:>17}: " + line(_ratio(100 * t["correct"], t["found"]),
                                            _ratio(100 * t["correct"], t["support"])) + f"  {t['found']}")
    return "\n".join(lines) + "\n"


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")


def tag_error(tag: str, scheme: str) -> str | None:
    """None if the tag is well-formed in the scheme, else why not and what is expected. The metric
    reads any tag (see the module docstring); this is for data files, where a bare PER is a mistake."""
    _check_scheme(scheme)
    if tag == "O":
        return None
    expected = _EXPECTED[scheme]
    prefixes = "/".join(f"{p}-" for p in _PREFIXES[scheme])
    if "-" not in tag:
        return f"tag {tag!r} has no {prefixes} prefix; expected {expected}"
    prefix, type_ = tag.split("-", 1)
    if prefix not in _PREFIXES[scheme]:
        return f"tag {tag!r} has prefix {prefix + '-'!r}, not one of {prefixes}; expected {expected}"
    if not type_:
        return f"tag {tag!r} has no type after its prefix; expected {expected}"
    return None


def detect_scheme(sentences: list[list[str]]) -> str:
    """"bioes" if any tag has an E-, S- or M- prefix; else "iob1" if more entities start with I-
    than with B- (IOB1 files, like the original CoNLL-2003 release, use B- only between two adjacent
    entities of one type, so nearly every entity starts with I-); else "bio"."""
    b_starts = i_starts = 0
    for tags in sentences:
        prev, prev_type = "O", ""
        for tag in tags:
            prefix, type_ = tag.split("-", 1) if "-" in tag else ("O", "")
            if prefix in ("E", "S", "M"):
                return "bioes"
            b_starts += prefix == "B"
            i_starts += prefix == "I" and (prev == "O" or prev_type != type_)
            prev, prev_type = prefix, type_
    return "iob1" if i_starts > b_starts else "bio"


def to_bio(tags: list[str], scheme: str) -> list[str]:
    """The tags in BIO with the same entities. IOB1 and BIOES/BMES are rewritten the same way: each
    entity that conlleval reads starts with B- and goes on with I- (so S-X -> B-X, E-X and M-X -> I-X,
    and an IOB1 I-X that starts an entity -> B-X; an ill-formed E-X after O starts one, so B-X).
    BIO is returned unchanged: an I- start is the model's or annotator's, and the metric reads it.
    O and tags that are not well-formed (see tag_error) are kept as they are."""
    _check_scheme(scheme)
    if scheme == "bio":
        return list(tags)
    bio = []
    prev, prev_type = "O", ""
    for tag in tags:
        prefix, type_ = _split(tag)
        if tag == "O" or tag_error(tag, "bioes"):
            bio.append(tag)
        else:
            bio.append(("B-" if _starts(prev, prev_type, prefix, type_) else "I-") + type_)
        prev, prev_type = prefix, type_
    return bio
