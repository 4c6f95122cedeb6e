"""The `index  prediction  ...` TSV that classification and multiple choice write beside a run, and
that `python -m finetune score` reads back against a reference file."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Callable

from datasets import Dataset

from finetune.errors import InputError


def index_values(examples: Dataset, column: str | None) -> list[str]:
    """Each example's id: the data's id column when it has one, else its row number."""
    if column and column in examples.column_names:
        return [str(v) for v in examples[column]]
    return [str(i) for i in range(len(examples))]


def write(path: Path, header: list[str], rows: list[list]) -> Path:
    """Tab-separated, no quoting (GLUE's own layout); a tab inside a field is escaped."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read(path: Path, wanted: list[str], parse: Callable[[str, int], Any]) -> list:
    """The predictions of a file, in the order of the `wanted` indices; `parse(value, line)` turns
    one prediction into a value or raises InputError naming the line."""
    try:
        rows = list(csv.DictReader(path.open(encoding="utf-8-sig"), delimiter="\t", quoting=csv.QUOTE_NONE))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read it ({exc}). Give a TSV with columns index and prediction.") from exc
    if not rows or not {"index", "prediction"} <= set(rows[0]):
        raise InputError(f"{path}: needs a header with columns 'index' and 'prediction' (tab-separated).")
    by_index = {row["index"]: parse(row["prediction"], line) for line, row in enumerate(rows, start=2)}
    missing = [i for i in wanted if i not in by_index]
    if missing:
        raise InputError(f"{path}: no prediction for {len(missing)} reference example(s), e.g. index {missing[0]}.")
    return [by_index[i] for i in wanted]
