"""Text-level reading shared by every file reader: UTF-8 decoding that names the line of a bad byte,
and, for data.bad_rows=skip, copies of a file with the skipped lines blanked (so every other line
keeps its number) for the datasets builders to read."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, load_dataset

from finetune.errors import InputError


def none_left(location: str, skipped: list[str]) -> str:
    """The message when data.bad_rows=skip left nothing of a file: most likely it is the wrong file."""
    return (f"{location}: every row is malformed ({len(skipped)} skipped with data.bad_rows=skip; the first: "
            f"{skipped[0]}). Is it the right file, and the right task and columns?")


def not_utf8(path: str, line: int, byte: int) -> str:
    return (f"{path}, line {line}: not UTF-8 (byte 0x{byte:02x}). "
            f"Re-save the file as UTF-8, e.g. iconv -f latin1 -t utf-8 IN > OUT.")


def decode(path: str) -> str:
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(not_utf8(path, raw[: exc.start].count(b"\n") + 1, raw[exc.start])) from exc
    if not text.strip():
        raise InputError(f"{path}: the file is empty. Point data.* at a file with a header row and data rows.")
    return text


def decode_lines(path: str, skipped: list[str] | None) -> tuple[str, set[int]]:
    """The text of a file and the numbers of its lines that are not UTF-8. skipped=None
    (data.bad_rows=error): the first such line stops the run. Else each is recorded in `skipped`
    and left blank in the text, so that every other line keeps its number; the reader decides
    which row a blanked line takes with it."""
    raw = Path(path).read_bytes()
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        if skipped is not None:
            return _decode_by_line(path, raw, skipped)
    return decode(path), set()


def _decode_by_line(path: str, raw: bytes, skipped: list[str]) -> tuple[str, set[int]]:
    pieces, bad = [], set()
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            pieces.append(line.decode("utf-8-sig" if number == 1 else "utf-8"))
        except UnicodeDecodeError as exc:
            skipped.append(not_utf8(path, number, line[exc.start]))
            bad.add(number)
            pieces.append("")
    return "\n".join(pieces), bad


@dataclass
class Scan:
    """What a check of a line-based file found: the file line of each good row, and (data.bad_rows=skip,
    when rows were left out) the text with their lines blanked, for the datasets builder to read."""

    lines: list[int]
    cleaned: str | None = None
    columns: list[str] | None = None  # delimited files: the column names


def blanked(physical: list[str], drop: set[int]) -> str:
    """The text with the lines numbered in `drop` emptied (their line ends kept: numbering stays)."""
    return "".join(line[len(line.rstrip("\r\n")):] if number in drop else line
                   for number, line in enumerate(physical, start=1))


def load_builder(builder: str, path: str, cleaned: str | None, **kwargs) -> Dataset:
    """The datasets builder on the file, or on a copy without the skipped rows (same line numbers)."""
    if cleaned is None:
        return load_dataset(builder, data_files=path, split="train", **kwargs)
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / Path(path).name
        copy.write_text(cleaned, encoding="utf-8")
        return load_dataset(builder, data_files=str(copy), split="train", **kwargs)
