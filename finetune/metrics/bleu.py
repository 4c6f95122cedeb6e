"""Corpus BLEU: exactly what sacrebleu's corpus_bleu computes with its defaults.

Published BLEU numbers come from sacrebleu (2.x), so this module reproduces it, quirks included,
rather than implementing BLEU from the paper: tests/test_bleu.py checks every field against sacrebleu
itself (a test-only dependency) on random and real corpora. The arithmetic runs in sacrebleu's order,
so scores agree to the last bit, not merely closely. All functions are pure.

Reproduced from sacrebleu's defaults (smooth_method='exp', lowercase=False, force=False,
use_effective_order=False, max n-gram order 4):

- Tokenizers '13a' (mteval-v13a: drops '<skipped>' and '-' + newline, unescapes &quot; &amp;
  &lt; &gt;, then the regexp rules), 'zh' (every Chinese character its own token, then the same
  regexp rules, without 13a's unescaping) and 'none'. Every segment is right-stripped before it is
  tokenized, as sacrebleu does; `tokenize` alone does not strip, as sacrebleu's tokenizers do not.
- Clipped n-gram matches against the element-wise maximum count over a hypothesis's references.
- Brevity penalty from the summed closest reference lengths: per segment, the reference length
  nearest the hypothesis length, the shorter one on a tie; exp(1 - r/c) when c < r, 0 when c = 0.
- 'exp' smoothing (mteval's): the k-th order with no match gets precision 1 / (2^k * total).
- A corpus without any match scores 0 with all precisions 0; an order with no hypothesis n-gram
  (every hypothesis shorter than 4 tokens) makes the score 0, as sacrebleu's floored log does.

References: `references[i]` lists the gold strings of hypothesis i, one or more; the count may vary.
sacrebleu takes reference *streams* instead (stream j holds the j-th reference of every segment) and
drops None entries, so a variable count means padding the shorter rows with None; that is the call
this module equals. An empty string is not a missing reference in sacrebleu: it is a reference of
length 0, which can become the closest length. Here too: "" in a list is a real, empty reference.

Errors where sacrebleu misbehaves: an empty corpus raises ValueError (sacrebleu: IndexError), as do
lists of different lengths (sacrebleu silently scores the shorter prefix) and a hypothesis without
references (sacrebleu: a reference length of -1, or TypeError).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MAX_ORDER = 4
TOKENIZERS = ("13a", "zh", "none")


@dataclass(frozen=True)
class Bleu:
    score: float  # 0..100, as sacrebleu's BLEU.score
    counts: list[int]  # matching n-grams, n=1..4
    totals: list[int]  # hypothesis n-grams, n=1..4
    precisions: list[float]  # percentages, smoothed as sacrebleu gives them
    bp: float
    sys_len: int
    ref_len: int


# sacrebleu's TokenizerRegexp, shared by 13a and zh, copied verbatim: any change moves scores.
_REGEXP_RULES = (
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),  # ASCII symbols except . , - ' and digits
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),  # period and comma, unless after a digit
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),  # period and comma, unless before a digit
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),  # dash after a digit
)

# TokenizerZh's ranges. Two of its bounds are written '\u20000', '\u2a6d6', '\u2f800', '\u2fa1d',
# meant as U+20000.. (Extension B, Compatibility Supplement) but read by Python as a 4-digit escape
# plus a character; its string comparisons then make them U+2001..U+2A6D (general punctuation such
# as '—' and '“', currency, arrows, maths, ...) and U+2F81..U+2FA1, and no character beyond the
# BMP counts as Chinese. Those effective ranges are what scores depend on, so they are kept.
_CHINESE_RANGES = (
    (0x3400, 0x4DB5), (0x4E00, 0x9FA5), (0x9FA6, 0x9FBB), (0xF900, 0xFA2D), (0xFA30, 0xFA6A),
    (0xFA70, 0xFAD9), (0x2001, 0x2A6D), (0x2F81, 0x2FA1), (0xFF00, 0xFFEF), (0x2E80, 0x2EFF),
    (0x3000, 0x303F), (0x31C0, 0x31EF), (0x2F00, 0x2FDF), (0x2FF0, 0x2FFF), (0x3100, 0x312F),
    (0x31A0, 0x31BF), (0xFE10, 0xFE1F), (0xFE30, 0xFE4F), (0x2600, 0x26FF), (0x2700, 0x27BF),
    (0x3200, 0x32FF), (0x3300, 0x33FF),
)
_CHINESE_CHAR = re.compile(
    "([" + "".join(f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in _CHINESE_RANGES) + "])")


def _regexp_rules(line: str) -> str:
    for pattern, replacement in _REGEXP_RULES:
        line = pattern.sub(replacement, line)
    return " ".join(line.split())


def _tokenize_13a(line: str) -> str:
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    # Sequential, in this order, as sacrebleu does: "&amp;lt;" becomes "<" but "&amp;quot;" "&quot;".
    for entity, char in (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">")):
        line = line.replace(entity, char)
    # The padding matters: it gives a leading period or comma a non-digit neighbour.
    return _regexp_rules(f" {line} ")


def _tokenize_zh(line: str) -> str:
    return _regexp_rules(_CHINESE_CHAR.sub(r" \1 ", line.strip()))


def _tokenize_none(line: str) -> str:
    return line


_TOKENIZE = {"13a": _tokenize_13a, "zh": _tokenize_zh, "none": _tokenize_none}


def _tokenizer(name: str) -> Callable[[str], str]:
    if name not in _TOKENIZE:
        raise ValueError(f"unknown BLEU tokenizer {name!r}; valid: {', '.join(TOKENIZERS)}")
    return _TOKENIZE[name]


def tokenize(text: str, name: str = "13a") -> str:
    """`text` tokenized as sacrebleu's tokenizer `name` returns it: tokens joined by single spaces."""
    return _tokenizer(name)(text)


def _ngrams(tokens: list[str]) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for n in range(1, MAX_ORDER + 1) for i in range(len(tokens) - n + 1))


def _closest_ref_len(hyp_len: int, ref_lens: list[int]) -> int:
    return min(ref_lens, key=lambda ref_len: (abs(hyp_len - ref_len), ref_len))


def _segment_stats(hyp: list[str], refs: list[list[str]]) -> tuple[int, int, list[int], list[int]]:
    """(hypothesis length, closest reference length, matches per order, n-grams per order)."""
    ref_counts: Counter = Counter()
    for ref in refs:
        ref_counts |= _ngrams(ref)  # a hypothesis n-gram is credited up to its most frequent in one reference
    counts, totals = [0] * MAX_ORDER, [0] * MAX_ORDER
    for ngram, count in _ngrams(hyp).items():
        totals[len(ngram) - 1] += count
        counts[len(ngram) - 1] += min(count, ref_counts[ngram])
    return len(hyp), _closest_ref_len(len(hyp), [len(ref) for ref in refs]), counts, totals


def _floored_log(x: float) -> float:
    # sacrebleu's my_log: a zero precision pulls the score to 0.0 instead of raising.
    return -9999999999 if x == 0.0 else math.log(x)


def _score(counts: list[int], totals: list[int], sys_len: int, ref_len: int) -> Bleu:
    bp = 1.0
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    precisions = [0.0] * MAX_ORDER
    if not any(counts):
        return Bleu(0.0, counts, totals, precisions, bp, sys_len, ref_len)
    smooth = 1.0
    for n in range(MAX_ORDER):
        if totals[n] == 0:
            break  # the remaining precisions stay 0, and so does the score
        if counts[n] == 0:
            smooth *= 2
            precisions[n] = 100.0 / (smooth * totals[n])
        else:
            precisions[n] = 100.0 * counts[n] / totals[n]
    score = bp * math.exp(sum([_floored_log(p) for p in precisions]) / MAX_ORDER)
    return Bleu(score, counts, totals, precisions, bp, sys_len, ref_len)


def _check(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> None:
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


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]], tokenize: str = "13a") -> Bleu:
    """sacrebleu.corpus_bleu(hypotheses, streams, tokenize=tokenize) with its defaults, where `streams`
    are `references` transposed and padded with None. `references[i]` holds hypothesis i's references."""
    split = _tokenizer(tokenize)
    _check(hypotheses, references)
    sys_len = ref_len = 0
    counts, totals = [0] * MAX_ORDER, [0] * MAX_ORDER
    for hyp, refs in zip(hypotheses, references):
        stats = _segment_stats(split(hyp.rstrip()).split(), [split(ref.rstrip()).split() for ref in refs])
        sys_len, ref_len = sys_len + stats[0], ref_len + stats[1]
        counts = [a + b for a, b in zip(counts, stats[2])]
        totals = [a + b for a, b in zip(totals, stats[3])]
    return _score(counts, totals, sys_len, ref_len)
