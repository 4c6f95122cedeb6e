"""Token-per-line "CoNLL column" files (NER): one token a line, blank lines between sentences.

CoNLL-2003 has 4 space-separated columns (word POS chunk NER) and `-DOCSTART-` lines between
documents; WNUT-17 has 2 tab-separated columns; Resume NER one Chinese character a line. The tag is
always the LAST column; a file with a single column (words only) is prediction input.

Only spaces and tabs separate columns: a token may itself be another Unicode space (U+3000,
U+00A0) or invisible (U+200B, U+FEFF inside a word, as in WNUT-17 dev), and stays one token.
"""

from __future__ import annotations

import re

from datasets import Dataset, Features, Sequence, Value

from finetune.data import _decode
from finetune.errors import InputError

DOCSTART = "-DOCSTART-"
_ENDS = " \t\r\f\v"  # ASCII whitespace only; "\r" for CRLF files
_SEPARATOR = re.compile(r"[ \t\f\v]+")
_STRINGS = Sequence(Value("string"))


def read_conll(path: str, gold_column: bool = False) -> tuple[Dataset, list[int]]:
    """One row a sentence: `tokens`, and `tags` (the last column) when the file has 2+ columns.
    gold_column: also `gold`, the column before the last, as conlleval reads `word ... gold predicted`.

    Also returns, for each sentence, the 1-based file line of its FIRST token. A sentence's tokens
    are on consecutive lines (a blank or -DOCSTART- line ends it), so token k of sentence r is on
    line lines[r] + k: the NER adapter names the line of a bad tag that way."""
    want = first = 0  # the column count, fixed by the first token line, and that line
    tokens: list[list[str]] = []
    tags: list[list[str]] = []
    lines: list[int] = []
    words: list[str] = []
    labels: list[str] = []
    gold: list[list[str]] = []
    golds: list[str] = []
    # Only \n ends a line (str.splitlines would also split at U+2028 or U+0085 inside a token).
    for number, line in enumerate(_decode(path).split("\n"), start=1):
        line = line.strip(_ENDS)
        columns = _SEPARATOR.split(line) if line else None
        if columns is None or columns[0] == DOCSTART:
            if words:
                tokens.append(words)
                tags.append(labels)
                gold.append(golds)
                words, labels, golds = [], [], []
            continue
        if not want:
            want, first = len(columns), number
        elif len(columns) != want:
            raise InputError(
                f"{path}, line {number}: {len(columns)} columns where the file's first line has {want} "
                f"(line {first}, the first token line). Give every token line the same {want} columns "
                f"(word ... tag, the tag last), separated by spaces or tabs; a token cannot itself hold "
                f"a space or tab, and a blank line ends a sentence."
            )
        if not words:
            lines.append(number)
        words.append(columns[0])
        labels.append(columns[-1])
        golds.append(columns[-2] if len(columns) > 2 else "")
    if words:  # the last sentence, without a blank line after it
        tokens.append(words)
        tags.append(labels)
        gold.append(golds)
    if not tokens:
        raise InputError(f"{path}: no sentences, only -DOCSTART- and blank lines. Is it the right file?")
    columns_read = {"tokens": tokens}
    if want > 1:
        columns_read["tags"] = tags
    if gold_column:
        if want < 3:
            raise InputError(f"{path}: {want} column(s); conlleval's layout is `word ... gold predicted` (3 or more). "
                             f"Give the gold file as well (--references) for `word predicted` files.")
        columns_read["gold"] = gold
    features = Features({name: _STRINGS for name in columns_read})
    return Dataset.from_dict(columns_read, features=features), lines
