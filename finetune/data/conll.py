"""Token-per-line "CoNLL column" files (NER): one token a line, blank lines between sentences.

CoNLL-2003 has 4 space-separated columns (word POS chunk NER) and `-DOCSTART-` lines between
documents (read into a `document` column, for NER's document_context); WNUT-17 has 2
tab-separated columns; Resume NER one Chinese character a line. The tag is always the LAST
column; a file with a single column (words only) is prediction input.

Only spaces and tabs separate columns: a token may itself be another Unicode space (U+3000,
U+00A0) or invisible (U+200B, U+FEFF inside a word, as in WNUT-17 dev), and stays one token.
"""

from __future__ import annotations

import re
from collections import Counter

from datasets import Dataset, Features, Sequence, Value

from finetune.data.text_files import decode_lines, none_left
from finetune.errors import InputError

DOCSTART = "-DOCSTART-"
_ENDS = " \t\r\f\v"  # ASCII whitespace only; "\r" for CRLF files
_SEPARATOR = re.compile(r"[ \t\f\v]+")
_STRINGS = Sequence(Value("string"))


def _split_lines(text: str) -> list[list[str] | None]:
    """The columns of every line; None for a blank line. Only \\n ends a line (str.splitlines would
    also split at U+2028 or U+0085 inside a token)."""
    rows = []
    for line in text.split("\n"):
        line = line.strip(_ENDS)
        rows.append(_SEPARATOR.split(line) if line else None)
    return rows


def _column_count(rows: list[list[str] | None]) -> tuple[int, int]:
    """(columns, line): the column count of most token lines (ties: the earliest) and its first line.
    The majority, not the first line, so that one damaged early line is the one named."""
    counts = Counter(len(c) for c in rows if c is not None and c[0] != DOCSTART)
    if not counts:
        return 0, 0
    best = max(counts.values())
    for number, columns in enumerate(rows, start=1):
        if columns is not None and columns[0] != DOCSTART and counts[len(columns)] == best:
            return len(columns), number
    raise AssertionError("unreachable: a counted line exists")


def _wrong_columns(path: str, number: int, got: int, want: int, first: int, first_token_line: int) -> str:
    where = (f"the file's first line has {want} (line {first}, the first token line)" if first == first_token_line
             else f"most token lines have {want} (the first of them is line {first})")
    return (f"{path}, line {number}: {got} columns where {where}. Give every token line the same {want} columns "
            f"(word ... tag, the tag last), separated by spaces or tabs; a token cannot itself hold "
            f"a space or tab, and a blank line ends a sentence.")


def read_conll(path: str, gold_column: bool = False, skipped: list[str] | None = None) -> tuple[Dataset, list[int]]:
    """One row a sentence: `tokens`, and `tags` (the last column) when the file has 2+ columns;
    `document` (the number of -DOCSTART- lines before the sentence) when the file has them.
    gold_column: also `gold`, the column before the last, as conlleval reads `word ... gold predicted`.
    skipped=None: a malformed line (wrong column count, not UTF-8) stops the run; a list
    (data.bad_rows=skip): the sentence that holds it is left out and the line described there.

    Also returns, for each sentence, the 1-based file line of its FIRST token. A sentence's tokens
    are on consecutive lines (a blank or -DOCSTART- line ends it), so token k of sentence r is on
    line lines[r] + k: the NER adapter names the line of a bad tag that way."""
    text, bad = decode_lines(path, skipped)
    rows = _split_lines(text)
    want, first = _column_count(rows)
    first_token_line = next((n for n, c in enumerate(rows, 1) if c is not None and c[0] != DOCSTART), 0)
    sentences: list[tuple[int, list[list[str]]]] = []  # (first line, columns of each token line)
    documents: list[int] = []  # the document of each sentence: the -DOCSTART- lines before it
    current: list[list[str]] = []
    start, broken = 0, False  # broken: the current sentence holds a skipped line
    starts_seen = 0
    for number, columns in enumerate(rows + [None], start=1):  # a final None ends the last sentence
        if number in bad:  # recorded by decode_lines
            broken = True
            start = start or number
            continue
        if columns is None or columns[0] == DOCSTART:
            if current and not broken:
                sentences.append((start, current))
                documents.append(starts_seen)
            current, start, broken = [], 0, False
            starts_seen += columns is not None
            continue
        if len(columns) != want:
            message = _wrong_columns(path, number, len(columns), want, first, first_token_line)
            if skipped is None:
                raise InputError(message)
            skipped.append(message)
            broken = True
        start = start or number
        current.append(columns)
    if not sentences:
        if skipped:
            raise InputError(none_left(path, skipped))
        raise InputError(f"{path}: no sentences, only -DOCSTART- and blank lines. Is it the right file?")
    columns_read = {"tokens": [[c[0] for c in s] for _, s in sentences]}
    if want > 1:
        columns_read["tags"] = [[c[-1] for c in s] for _, s in sentences]
    if starts_seen:
        columns_read["document"] = documents
    if gold_column:
        if want < 3:
            raise InputError(f"{path}: {want} column(s); conlleval's layout is `word ... gold predicted` (3 or more). "
                             f"Give the gold file as well (--references) for `word predicted` files.")
        columns_read["gold"] = [[c[-2] for c in s] for _, s in sentences]
    features = Features({name: Value("int32") if name == "document" else _STRINGS for name in columns_read})
    return Dataset.from_dict(columns_read, features=features), [line for line, _ in sentences]
