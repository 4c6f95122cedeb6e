"""Reading raw splits from local files (csv / tsv / json / jsonl), the shipped samples or the hub.

Files are checked before the `datasets` builder reads them (encoding, emptiness, field counts), so
a bad file stops the run with its name and line instead of a pandas traceback. Every split keeps
the file line of each row, so the adapters' own checks (a label outside the label list) can name it.

data.bad_rows=skip turns a malformed row (the wrong field or column count, a line that is not JSON
or not UTF-8, and every per-row check of an adapter, through RawSplit.reject) from a stop into a
row left out: each is described in RawSplit.skipped ("file, line N: reason") and printed. Problems
of the whole file (empty, no header, a missing column, SQuAD's nesting) stop the run in both modes.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from datasets import Dataset, Features, Value, load_dataset

from finetune.config.schema import ROOT, DataConfig
from finetune.data import hub
from finetune.data.conll import read_conll
from finetune.data.delimited import check_delimited
from finetune.data.json_files import (
    Unstorable,
    check_jsonl,
    json_list,
    json_loads,
    read_squad,
)
from finetune.data.text_files import decode, load_builder, none_left
from finetune.errors import InputError

SAMPLE_DIR = ROOT / "samples"
TYPED = "command line"  # the location of a split of texts typed on the command line (predict --text)


@dataclass
class RawSplit:
    name: str  # train, validation, test, or the name of an extra dev set
    dataset: Dataset
    origin: str  # file | sample | hub
    location: str  # the path, or hub id and split
    lines: list[int] | None = None  # the file line of each row, when the file has lines
    bad_rows: str = "error"  # data.bad_rows: what reject() does with a row that fails a check
    # data.bad_rows=skip: "file, line N: reason" of every row left out, by the reader or an adapter
    skipped: list[str] = field(default_factory=list)
    rejected: set[int] = field(default_factory=set)  # rows of `dataset` an adapter's check refused
    # Rows that are fine but not for training (CMRC: a question whose answers are all unlocatable);
    # the adapter that leaves them out says so and counts them.
    left_out: set[int] = field(default_factory=set)

    def where(self, row: int) -> str:
        if self.lines is not None and 0 <= row < len(self.lines):
            return f"{self.location}, line {self.lines[row]}"
        return f"{self.location}, row {row}"

    def reject(self, row: int, message: str) -> None:
        """A row that fails a check (`message` names where and the fix): the run stops
        (data.bad_rows=error), or the row is recorded and left out before encoding (skip)."""
        if self.bad_rows != "skip":
            raise InputError(message)
        if row not in self.rejected:  # one message a row: the first problem found
            self.rejected.add(row)
            self.skipped.append(message)

    def leave_out(self, rows: list[int]) -> None:
        """Leave these valid rows out (in both data.bad_rows modes), when the others are dropped."""
        self.left_out.update(rows)

    def kept(self, row: int) -> bool:
        return row not in self.rejected and row not in self.left_out

    def drop_rejected(self) -> None:
        """Leave out the rejected (and left-out) rows, keeping `lines` aligned with the rows that stay."""
        if not self.rejected and not self.left_out:
            return
        keep = [row for row in range(len(self.dataset)) if self.kept(row)]
        if not keep:
            raise InputError(none_left(self.location, self.skipped))
        self.dataset = self.dataset.select(keep)
        self.lines = [self.lines[row] for row in keep] if self.lines is not None else None
        self.rejected, self.left_out = set(), set()


def data_dir(config: DataConfig) -> Path | None:
    folder = config.dir or os.environ.get("FINETUNE_DATA")
    return Path(folder).expanduser() if folder else None


def split_value(config: DataConfig, split: str) -> str | None:
    """The configured file (or hub split) of a split: train, validation, test or an extra name."""
    if split in ("train", "validation", "test"):
        return getattr(config, split)
    return config.extra_validation.get(split) or config.extra_test.get(split)


def resolve(config: DataConfig, split: str, value: str) -> tuple[str, str]:
    """(origin, location) of one split, trying the sources in the order data.source allows."""
    path = Path(value).expanduser()
    looked: list[str] = []
    if path.is_absolute() and not path.is_file() and config.source != "hub":
        raise InputError(f"data.{split}: file '{value}' not found. Fix the path.")
    if config.source in ("auto", "files"):
        folder = data_dir(config)
        candidates = [path] if path.is_absolute() else [Path.cwd() / path] + ([folder / path] if folder else [])
        for candidate in candidates:
            looked.append(str(candidate))
            if candidate.is_file():
                return "file", str(candidate)
    # Online, the task's hub dataset is real data: it comes before the samples (probed, not assumed:
    # offline, every split would wait out the hub client's retries and then fail).
    if config.hub and (config.source == "hub" or (config.source == "auto" and hub.reachable())):
        return "hub", config.hub_splits.get(split, split)
    if config.source in ("auto", "sample") and not path.is_absolute():
        candidate = SAMPLE_DIR / path
        looked.append(str(candidate))
        if candidate.is_file():
            return "sample", str(candidate)
    hint = "set FINETUNE_DATA (or data.dir) to the folder that holds it"
    if config.hub and config.source == "auto":
        hint += f", or go online: {config.hub} is read from the Hugging Face hub when it answers (it did not)"
    elif config.hub:
        hint += f", or use data.source=hub to read {config.hub} from the Hugging Face hub (online)"
    raise InputError(f"data.{split}: file '{value}' not found (looked in: {', '.join(looked) or 'nowhere'}). Fix: {hint}.")


def file_format(config: DataConfig, path: str) -> str:
    if config.format != "auto":
        return config.format
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in ("csv", "tsv", "json", "jsonl", "squad"):
        return suffix
    # Token-per-line NER files; .txt (CoNLL-2003's own name) is too common to guess: data.format=conll.
    if suffix in ("conll", "bio", "iob", "bmes", "bioes"):
        return "conll"
    raise InputError(
        f"{path}: cannot tell the format from the name; set data.format to csv, tsv, json, jsonl, squad "
        f"or conll (one token a line, columns 'word ... tag', blank lines between sentences)."
    )


def read_file(config: DataConfig, path: str, split: str,
              skipped: list[str] | None = None) -> tuple[Dataset, list[int] | None]:
    """A data file as a Dataset and the file line of each row (None where the format has no lines).
    skipped=None: a malformed row stops the run; a list (data.bad_rows=skip): malformed rows are
    left out and described there."""
    fmt = file_format(config, path)
    if fmt == "conll":
        return read_conll(path, skipped=skipped)
    if fmt in ("csv", "tsv"):
        is_test = is_test_split(config, split)
        has_header = config.test_header if is_test and config.test_header is not None else config.header
        names = (config.test_column_names if is_test and config.test_column_names else config.column_names)
        scan = check_delimited(path, fmt, has_header, None if has_header else names, skipped)
        dataset = load_builder(
            "csv", path, scan.cleaned, delimiter="\t" if fmt == "tsv" else ",",
            quoting=csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL,
            header=0 if has_header else None, column_names=scan.columns,  # the checked names, also for the header
            # Every column as text: labels like "0" must not become ints, nor sentences "NA" nulls.
            features=Features({name: Value("string") for name in scan.columns}),
            na_filter=False, keep_default_na=False, encoding="utf-8-sig",
        )
        if len(dataset) != len(scan.lines):
            raise InputError(f"{path}: read {len(dataset)} rows but the file has {len(scan.lines)}; check its line endings "
                             f"(\\n or \\r\\n, not a lone \\r inside a row).")
        return dataset, scan.lines
    if fmt == "jsonl":
        scan = check_jsonl(path, skipped)
        return load_builder("json", path, scan.cleaned), scan.lines
    text = decode(path)
    try:
        records = json_loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg}).") from exc
    except Unstorable as exc:
        line = text[:text.find(exc.token)].count("\n") + 1
        raise InputError(f"{path}, line {line}: not valid JSON for a data set ({exc}).") from exc
    if fmt == "squad" or (isinstance(records, dict) and "data" in records):
        return read_squad(path, records, skipped), None
    if not isinstance(records, list):
        raise InputError(f"{path}: a .json data file must hold a list of objects [{{...}}, ...], got a "
                         f"{type(records).__name__}; use .jsonl for one object per line, and for SQuAD the official "
                         f"layout {{\"data\": [...]}} (or data.format=squad).")
    kept, lines = json_list(path, text, records, skipped)
    if len(kept) == len(records):
        return load_dataset("json", data_files=path, split="train"), lines
    return load_builder("json", path, "".join(json.dumps(r) + "\n" for r in kept)), lines


def read_hub(config: DataConfig, hub_split: str, split: str) -> Dataset:
    try:
        dataset = load_dataset(config.hub, config.hub_config, split=hub_split)
    except Exception as exc:  # network, unknown id, unknown split: all are the user's to fix
        raise InputError(
            f"data.hub={config.hub} (split {hub_split}): could not load it ({type(exc).__name__}: {exc}). "
            f"Offline? Set FINETUNE_DATA or data.{split} to local files."
        ) from exc
    renames = {k: v for k, v in config.hub_rename.items() if k in dataset.column_names}
    return dataset.rename_columns(renames) if renames else dataset


def load_split(config: DataConfig, split: str) -> RawSplit | None:
    """One split, or None when the config names none."""
    value = split_value(config, split)
    if not value:
        return None
    origin, location = resolve(config, split, value)
    skipped: list[str] | None = [] if config.bad_rows == "skip" else None
    if origin == "hub":
        dataset, lines = read_hub(config, location, split), None
        location = f"{config.hub}:{location}"
    else:
        dataset, lines = read_file(config, location, split, skipped)
    limit = (config.max_train_samples if split == "train"
             else config.max_predict_samples if is_test_split(config, split) else config.max_eval_samples)
    if limit is not None and limit < len(dataset):
        dataset = dataset.select(range(limit))
        lines = lines[:limit] if lines else lines
    return RawSplit(split, dataset, origin, location, lines, config.bad_rows, skipped or [])


def eval_split_names(config: DataConfig) -> list[str]:
    return ["validation", *config.extra_validation]


def test_split_names(config: DataConfig) -> list[str]:
    return ["test", *config.extra_test]


def is_test_split(config: DataConfig, name: str) -> bool:
    """Test splits carry no labels (the hub marks them -1): never read or check them."""
    return name in test_split_names(config)


def describe(split: RawSplit) -> str:
    """One line a user reads to know which data a run used; a sample is said loudly."""
    tag = {"file": "", "hub": " (hub)", "sample": "  <-- SAMPLE shipped with finetune, not the real data set"}
    return f"  {split.name:<22} {len(split.dataset):>7} rows  {split.location}{tag[split.origin]}"


def describe_all(splits: list[RawSplit], config: DataConfig) -> str:
    """describe() a line a split, and when a shipped sample is among them, one line on getting real data."""
    lines = [describe(split) for split in splits]
    if any(split.origin == "sample" for split in splits):
        online = f", or run online: {config.hub} is then read from the Hugging Face hub" if config.hub else ""
        lines.append(f"  Scores on a sample mean nothing. For real data set FINETUNE_DATA=/path/to/data (laid out "
                     f"as the config names the files){online}; docs/configuration.md#which-data-a-run-uses.")
    return "\n".join(lines)


def read_json_mapping(path: Path, what: str) -> dict:
    """A JSON object from a file the user gave (predictions, null odds); `what` says what it should hold."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a JSON file ({exc}). Expected {what}.") from exc
    if not isinstance(content, dict):
        raise InputError(f"{path}: expected {what}, got a JSON {type(content).__name__}.")
    return content
