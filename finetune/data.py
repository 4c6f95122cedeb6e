"""Reading raw splits from local files (csv / tsv / json / jsonl), the shipped samples or the hub.

Files are checked before the `datasets` builder reads them (encoding, emptiness, field counts), so
a bad file stops the run with its name and line instead of a pandas traceback. Every split keeps
the file line of each row, so the adapters' own checks (a label outside the label list) can name it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, Features, Sequence, Value, load_dataset

from finetune.config import ROOT, DataConfig
from finetune.errors import InputError

SAMPLE_DIR = ROOT / "samples"
# GLUE rows can be long (MNLI parse trees); the csv module's default field limit is 128 KiB.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass
class RawSplit:
    name: str  # train, validation, test, or the name of an extra dev set
    dataset: Dataset
    origin: str  # file | sample | hub
    location: str  # the path, or hub id and split
    lines: list[int] | None = None  # the file line of each row, when the file has lines

    def where(self, row: int) -> str:
        if self.lines is not None and 0 <= row < len(self.lines):
            return f"{self.location}, line {self.lines[row]}"
        return f"{self.location}, row {row}"


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
    if config.source in ("auto", "sample") and not path.is_absolute():
        candidate = SAMPLE_DIR / path
        looked.append(str(candidate))
        if candidate.is_file():
            return "sample", str(candidate)
    if config.source in ("auto", "hub") and config.hub:
        return "hub", config.hub_splits.get(split, split)
    hint = "set FINETUNE_DATA (or data.dir) to the folder that holds it"
    if config.hub:
        hint += f", or use data.source=hub to read {config.hub} from the Hugging Face hub"
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


def _decode(path: str) -> str:
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path}, line {line}: not UTF-8 (byte 0x{raw[exc.start]:02x}). "
            f"Re-save the file as UTF-8, e.g. iconv -f latin1 -t utf-8 IN > OUT."
        ) from exc
    if not text.strip():
        raise InputError(f"{path}: the file is empty. Point data.* at a file with a header row and data rows.")
    return text


def _header_names(path: str, row: list[str]) -> list[str]:
    """Column names of a header row; an empty one (SWAG's CSV starts with an unnamed index column)
    is named as pandas names it, `Unnamed: <position>`."""
    names = [name or f"Unnamed: {i}" for i, name in enumerate(row)]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(f"{path}, line 1: the header names column(s) {', '.join(map(repr, repeated))} more than once. "
                         f"Give every column its own name.")
    return names


def _check_delimited(path: str, fmt: str, header: bool, column_names: list[str] | None) -> tuple[list[str], list[int]]:
    """Field counts of every row; returns (columns, file line of each data row)."""
    text = _decode(path)
    delimiter = "\t" if fmt == "tsv" else ","
    # GLUE TSVs have no quoting: a quote character is text. CSV files follow the usual quoting.
    quoting = csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL
    # Only \n and \r end a row (str.splitlines would also split at U+2028 and friends inside a field).
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting, strict=True)
    columns = list(column_names) if column_names else None
    lines: list[int] = []
    try:
        start = 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if not row or row == [""]:
                continue
            if columns is None:
                if not header:
                    raise InputError(f"{path}: data.header is false, so give the columns in data.column_names.")
                columns = _header_names(path, row)
                continue
            if len(row) != len(columns):
                raise InputError(
                    f"{path}, line {line}: {len(row)} fields where the header has {len(columns)} "
                    f"({', '.join(columns)}). Each row needs one value per column"
                    + (", separated by single tabs, with no quoting." if fmt == "tsv" else ".")
                )
            lines.append(line)
    except csv.Error as exc:
        raise InputError(f"{path}, line {reader.line_num}: {exc}. Fix the quoting of that row.") from exc
    if not lines:
        raise InputError(f"{path}: no data rows{' after the header' if header else ''}. Is it the right file?")
    return columns, lines


def _check_jsonl(path: str) -> list[int]:
    lines = []
    for number, line in enumerate(_decode(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}, line {number}: not valid JSON ({exc.msg}). One JSON object per line.") from exc
        if not isinstance(record, dict):
            raise InputError(f"{path}, line {number}: expected a JSON object {{...}}, got {type(record).__name__}.")
        lines.append(number)
    return lines


def read_file(config: DataConfig, path: str, split: str) -> tuple[Dataset, list[int] | None]:
    fmt = file_format(config, path)
    if fmt == "conll":
        from finetune.conll import read_conll  # conll.py reuses this module's _decode

        return read_conll(path)
    if fmt in ("csv", "tsv"):
        is_test = is_test_split(config, split)
        has_header = config.test_header if is_test and config.test_header is not None else config.header
        names = (config.test_column_names if is_test and config.test_column_names else config.column_names)
        columns, lines = _check_delimited(path, fmt, has_header, None if has_header else names)
        dataset = load_dataset(
            "csv", data_files=path, split="train", delimiter="\t" if fmt == "tsv" else ",",
            quoting=csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL,
            header=0 if has_header else None, column_names=columns,  # the checked names, also for the header
            # Every column as text: labels like "0" must not become ints, nor sentences "NA" nulls.
            features=Features({name: Value("string") for name in columns}),
            na_filter=False, keep_default_na=False, encoding="utf-8-sig",
        )
        if len(dataset) != len(lines):
            raise InputError(f"{path}: read {len(dataset)} rows but the file has {len(lines)}; check its line endings.")
        return dataset, lines
    if fmt == "jsonl":
        lines = _check_jsonl(path)
        return load_dataset("json", data_files=path, split="train"), lines
    text = _decode(path)
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg}).") from exc
    if fmt == "squad" or (isinstance(records, dict) and "data" in records):
        return read_squad(path, records), None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InputError(f"{path}: a .json data file must hold a list of objects; use .jsonl for one object per line.")
    return load_dataset("json", data_files=path, split="train"), None


SQUAD_FEATURES = Features({
    "id": Value("string"), "title": Value("string"), "context": Value("string"), "question": Value("string"),
    "answers": {"text": Sequence(Value("string")), "answer_start": Sequence(Value("int32"))},
})


def read_squad(path: str, records: dict) -> Dataset:
    """The official nested SQuAD JSON (v1.1 and v2.0) as one row a question, in the hub's layout.

    The datasets json builder would keep the nesting (articles -> paragraphs -> questions), so the
    file is flattened here; every structural error names the article, paragraph or question id."""
    columns: dict[str, list] = {name: [] for name in SQUAD_FEATURES}
    articles = records.get("data") if isinstance(records, dict) else None
    if not isinstance(articles, list):
        raise InputError(f"{path}: not a SQuAD file: expected {{\"data\": [{{\"title\", \"paragraphs\": [...]}}]}}.")
    for a, article in enumerate(articles):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise InputError(f"{path}: article {a} has no list of 'paragraphs'.")
        for p, paragraph in enumerate(paragraphs):
            where = f"{path}: article {a} ('{article.get('title', '')}'), paragraph {p}"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("context"), str) or not isinstance(paragraph.get("qas"), list):
                raise InputError(f"{where}: needs a 'context' string and a 'qas' list.")
            for q, qa in enumerate(paragraph["qas"]):
                qid = qa.get("id") if isinstance(qa, dict) else None
                if not isinstance(qid, str) or not isinstance(qa.get("question"), str):
                    raise InputError(f"{where}, question {q}: needs an 'id' and a 'question' string.")
                answers = qa.get("answers", [])
                if not isinstance(answers, list) or not all(
                        isinstance(x, dict) and isinstance(x.get("text"), str) and isinstance(x.get("answer_start"), int)
                        for x in answers):
                    raise InputError(f"{path}: question id {qid}: 'answers' must be a list of {{\"text\", \"answer_start\"}}.")
                columns["id"].append(qid)
                columns["title"].append(str(article.get("title", "")))
                columns["context"].append(paragraph["context"])
                columns["question"].append(qa["question"])
                columns["answers"].append({"text": [x["text"] for x in answers],
                                           "answer_start": [x["answer_start"] for x in answers]})
    if not columns["id"]:
        raise InputError(f"{path}: the SQuAD file holds no questions.")
    return Dataset.from_dict(columns, features=SQUAD_FEATURES)


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
    if origin == "hub":
        dataset, lines = read_hub(config, location, split), None
        location = f"{config.hub}:{location}"
    else:
        dataset, lines = read_file(config, location, split)
    limit = (config.max_train_samples if split == "train"
             else config.max_predict_samples if is_test_split(config, split) else config.max_eval_samples)
    if limit is not None and limit < len(dataset):
        dataset = dataset.select(range(limit))
        lines = lines[:limit] if lines else lines
    return RawSplit(split, dataset, origin, location, lines)


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


def read_json_mapping(path: Path, what: str) -> dict:
    """A JSON object from a file the user gave (predictions, null odds); `what` says what it should hold."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a JSON file ({exc}). Expected {what}.") from exc
    if not isinstance(content, dict):
        raise InputError(f"{path}: expected {what}, got a JSON {type(content).__name__}.")
    return content
