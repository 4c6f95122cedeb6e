"""CSV / TSV files checked row by row before the datasets builder reads them: field counts, quoting
and the header, each problem named by file and line."""

from __future__ import annotations

import csv
import io
import sys

from finetune.data.text_files import Scan, blanked, decode_lines, none_left
from finetune.errors import InputError

# GLUE rows can be long (MNLI parse trees); the csv module's default field limit is 128 KiB.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def _header_names(path: str, row: list[str], line: int) -> list[str]:
    """Column names of a header row; an empty one (SWAG's CSV starts with an unnamed index column)
    is named as pandas names it, `Unnamed: <position>`."""
    names = [name or f"Unnamed: {i}" for i, name in enumerate(row)]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(f"{path}, line {line}: the header names column(s) {', '.join(map(repr, repeated))} more than once. "
                         f"Give every column its own name.")
    return names


def check_delimited(path: str, fmt: str, header: bool, column_names: list[str] | None,
                     skipped: list[str] | None = None) -> Scan:
    """Field counts of every row. A row with the wrong count (or on a line that is not UTF-8) stops
    the run, or with skipped=[] (data.bad_rows=skip) is recorded there and left out."""
    text, bad = decode_lines(path, skipped)
    delimiter = "\t" if fmt == "tsv" else ","
    # GLUE TSVs have no quoting: a quote character is text. CSV files follow the usual quoting.
    quoting = csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL
    # The csv module's own line splitting (\n, \r and \r\n; str.splitlines would also split at
    # U+2028 and friends inside a field), so that line numbers are the reader's.
    physical = io.StringIO(text, newline="").readlines()
    reader = csv.reader(iter(physical), delimiter=delimiter, quoting=quoting, strict=True)
    columns = list(column_names) if column_names else None
    lines: list[int] = []
    drop: set[int] = set()
    try:
        start = 1
        for row in reader:
            line, start = start, reader.line_num + 1
            span = set(range(line, reader.line_num + 1))
            if columns is None and bad and min(bad) <= reader.line_num:
                raise InputError(f"{path}, line {min(bad)}: the header row is not UTF-8, or comes after a line "
                                 f"that is not. Re-save the file as UTF-8, e.g. iconv -f latin1 -t utf-8 IN > OUT.")
            if span & bad:  # already recorded by decode_lines
                drop |= span
                continue
            if not row or row == [""]:
                continue
            if columns is None:
                if not header:
                    raise InputError(f"{path}: data.header is false, so give the columns in data.column_names.")
                columns = _header_names(path, row, line)
                continue
            if len(row) != len(columns):
                message = (f"{path}, line {line}: {len(row)} fields where the header has {len(columns)} "
                           f"({', '.join(columns)}). Each row needs one value per column"
                           + (", separated by single tabs, with no quoting." if fmt == "tsv" else "."))
                if skipped is None:
                    raise InputError(message)
                skipped.append(message)
                drop |= span
                continue
            lines.append(line)
    except csv.Error as exc:
        # The reader cannot go on past a broken quote: the rest of the file is in doubt, never skipped.
        # A quote opened on one line can run on over the next ones: name where the row began.
        seen = f" (the row that starts there runs on to line {reader.line_num})" if reader.line_num > start else ""
        raise InputError(f"{path}, line {start}{seen}: {exc}. Fix the quoting of that row: a field that holds "
                         f"a quote is quoted whole, with the quote doubled (\"say \"\"hi\"\"\").") from exc
    if columns is None:
        raise InputError(f"{path}: no header row, only lines that are not UTF-8. Re-save the file as UTF-8.")
    if not lines:
        if skipped:
            raise InputError(none_left(path, skipped))
        raise InputError(f"{path}: no data rows{' after the header' if header else ''}. Is it the right file?")
    return Scan(lines, blanked(physical, drop) if drop else None, columns)
