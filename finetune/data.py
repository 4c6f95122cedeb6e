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
import io
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
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
    bad_rows: str = "error"  # data.bad_rows: what reject() does with a row that fails a check
    # data.bad_rows=skip: "file, line N: reason" of every row left out, by the reader or an adapter
    skipped: list[str] = field(default_factory=list)
    rejected: set[int] = field(default_factory=set)  # rows of `dataset` an adapter's check refused

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

    def kept(self, row: int) -> bool:
        return row not in self.rejected

    def drop_rejected(self) -> None:
        """Leave out the rejected rows, keeping `lines` aligned with the rows that stay."""
        if not self.rejected:
            return
        keep = [row for row in range(len(self.dataset)) if row not in self.rejected]
        if not keep:
            raise InputError(none_left(self.location, self.skipped))
        self.dataset = self.dataset.select(keep)
        self.lines = [self.lines[row] for row in keep] if self.lines is not None else None
        self.rejected = set()


def none_left(location: str, skipped: list[str]) -> str:
    """The message when data.bad_rows=skip left nothing of a file: most likely it is the wrong file."""
    return (f"{location}: every row is malformed ({len(skipped)} skipped with data.bad_rows=skip; the first: "
            f"{skipped[0]}). Is it the right file, and the right task and columns?")


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


def _not_utf8(path: str, line: int, byte: int) -> str:
    return (f"{path}, line {line}: not UTF-8 (byte 0x{byte:02x}). "
            f"Re-save the file as UTF-8, e.g. iconv -f latin1 -t utf-8 IN > OUT.")


def _decode(path: str) -> str:
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(_not_utf8(path, raw[: exc.start].count(b"\n") + 1, raw[exc.start])) from exc
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
    return _decode(path), set()


def _decode_by_line(path: str, raw: bytes, skipped: list[str]) -> tuple[str, set[int]]:
    pieces, bad = [], set()
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            pieces.append(line.decode("utf-8-sig" if number == 1 else "utf-8"))
        except UnicodeDecodeError as exc:
            skipped.append(_not_utf8(path, number, line[exc.start]))
            bad.add(number)
            pieces.append("")
    return "\n".join(pieces), bad


def _header_names(path: str, row: list[str], line: int) -> list[str]:
    """Column names of a header row; an empty one (SWAG's CSV starts with an unnamed index column)
    is named as pandas names it, `Unnamed: <position>`."""
    names = [name or f"Unnamed: {i}" for i, name in enumerate(row)]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(f"{path}, line {line}: the header names column(s) {', '.join(map(repr, repeated))} more than once. "
                         f"Give every column its own name.")
    return names


@dataclass
class Scan:
    """What a check of a line-based file found: the file line of each good row, and (data.bad_rows=skip,
    when rows were left out) the text with their lines blanked, for the datasets builder to read."""

    lines: list[int]
    cleaned: str | None = None
    columns: list[str] | None = None  # delimited files: the column names


def _blanked(physical: list[str], drop: set[int]) -> str:
    """The text with the lines numbered in `drop` emptied (their line ends kept: numbering stays)."""
    return "".join(line[len(line.rstrip("\r\n")):] if number in drop else line
                   for number, line in enumerate(physical, start=1))


def _check_delimited(path: str, fmt: str, header: bool, column_names: list[str] | None,
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
    return Scan(lines, _blanked(physical, drop) if drop else None, columns)


class _Unstorable(ValueError):
    """Text json.loads takes but a data set cannot hold; `token` finds its line."""

    def __init__(self, token: str, reason: str):
        super().__init__(reason)
        self.token = token


def _json_constant(name: str):
    # json.loads takes NaN and Infinity, which are not JSON and which pyarrow's reader refuses.
    raise _Unstorable(name, f"{name} is not a JSON value")


def _json_int(digits: str) -> int:
    # pyarrow (the datasets json builder) stores integers in 64 bits and fails on a larger one.
    value = int(digits)
    if not -2**63 <= value < 2**63:
        raise _Unstorable(digits, f"the integer {digits[:30]} does not fit in 64 bits; write it as a string")
    return value


def _json_loads(text: str):
    return json.loads(text, parse_constant=_json_constant, parse_int=_json_int)


def _check_jsonl(path: str, skipped: list[str] | None = None) -> Scan:
    text, bad = decode_lines(path, skipped)
    lines, drop = [], set()
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        message = None
        try:
            record = _json_loads(line)
        except ValueError as exc:  # JSONDecodeError is a ValueError, as are NaN and Infinity
            message = f"{path}, line {number}: not valid JSON ({getattr(exc, 'msg', exc)}). One JSON object per line."
        else:
            if not isinstance(record, dict):
                message = f"{path}, line {number}: expected a JSON object {{...}}, got {type(record).__name__}."
        if message is None:
            lines.append(number)
        elif skipped is None:
            raise InputError(message)
        else:
            skipped.append(message)
            drop.add(number)
    if not lines:
        raise InputError(none_left(path, skipped) if skipped else f"{path}: no JSON objects. Is it the right file?")
    cleaned = "\n".join("" if n in drop else line for n, line in enumerate(text.split("\n"), start=1))
    return Scan(lines, cleaned if drop or bad else None)


def _json_list(path: str, text: str, records: list, skipped: list[str] | None) -> tuple[list[dict], list[int]]:
    """The objects of a .json list and the line each starts on; an element that is not an object stops
    the run or (skip) is left out."""
    decoder = json.JSONDecoder()
    at = text.index("[") + 1
    kept, lines, line, counted = [], [], 1, 0
    for record in records:
        while text[at] in " \t\r\n,":
            at += 1
        line += text.count("\n", counted, at)
        counted = at
        _, at = decoder.raw_decode(text, at)
        if isinstance(record, dict):
            kept.append(record)
            lines.append(line)
            continue
        message = f"{path}, line {line}: expected a JSON object {{...}}, got {type(record).__name__}. A .json data " \
                  f"file holds a list of objects, one a row."
        if skipped is None:
            raise InputError(message)
        skipped.append(message)
    if not kept:
        raise InputError(none_left(path, skipped) if skipped else f"{path}: the list holds no objects. Is it the right file?")
    return kept, lines


def _load_builder(builder: str, path: str, cleaned: str | None, **kwargs) -> Dataset:
    """The datasets builder on the file, or on a copy without the skipped rows (same line numbers)."""
    if cleaned is None:
        return load_dataset(builder, data_files=path, split="train", **kwargs)
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / Path(path).name
        copy.write_text(cleaned, encoding="utf-8")
        return load_dataset(builder, data_files=str(copy), split="train", **kwargs)


def read_file(config: DataConfig, path: str, split: str,
              skipped: list[str] | None = None) -> tuple[Dataset, list[int] | None]:
    """A data file as a Dataset and the file line of each row (None where the format has no lines).
    skipped=None: a malformed row stops the run; a list (data.bad_rows=skip): malformed rows are
    left out and described there."""
    fmt = file_format(config, path)
    if fmt == "conll":
        from finetune.conll import read_conll  # conll.py reuses this module's decoding

        return read_conll(path, skipped=skipped)
    if fmt in ("csv", "tsv"):
        is_test = is_test_split(config, split)
        has_header = config.test_header if is_test and config.test_header is not None else config.header
        names = (config.test_column_names if is_test and config.test_column_names else config.column_names)
        scan = _check_delimited(path, fmt, has_header, None if has_header else names, skipped)
        dataset = _load_builder(
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
        scan = _check_jsonl(path, skipped)
        return _load_builder("json", path, scan.cleaned), scan.lines
    text = _decode(path)
    try:
        records = _json_loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg}).") from exc
    except _Unstorable as exc:
        line = text[:text.find(exc.token)].count("\n") + 1
        raise InputError(f"{path}, line {line}: not valid JSON for a data set ({exc}).") from exc
    if fmt == "squad" or (isinstance(records, dict) and "data" in records):
        return read_squad(path, records, skipped), None
    if not isinstance(records, list):
        raise InputError(f"{path}: a .json data file must hold a list of objects [{{...}}, ...], got a "
                         f"{type(records).__name__}; use .jsonl for one object per line, and for SQuAD the official "
                         f"layout {{\"data\": [...]}} (or data.format=squad).")
    kept, lines = _json_list(path, text, records, skipped)
    if len(kept) == len(records):
        return load_dataset("json", data_files=path, split="train"), lines
    return _load_builder("json", path, "".join(json.dumps(r) + "\n" for r in kept)), lines


SQUAD_FEATURES = Features({
    "id": Value("string"), "title": Value("string"), "context": Value("string"), "question": Value("string"),
    "answers": {"text": Sequence(Value("string")), "answer_start": Sequence(Value("int32"))},
})


def _squad_question_problem(qa, seen: set[str]) -> str | None:
    """What is wrong with one entry of a paragraph's 'qas' (None: nothing); the caller says where."""
    if not isinstance(qa, dict) or not isinstance(qa.get("id"), str) or not isinstance(qa.get("question"), str):
        return "needs an 'id' and a 'question' string"
    if qa["id"] in seen:
        return "the id is used by an earlier question too; give every question its own id"
    answers = qa.get("answers", [])
    # answer_start is stored as int32; bool is an int to Python but not an offset.
    if not isinstance(answers, list) or not all(
            isinstance(x, dict) and isinstance(x.get("text"), str) and type(x.get("answer_start")) is int
            and 0 <= x["answer_start"] < 2**31 for x in answers):
        return "'answers' must be a list of {\"text\": string, \"answer_start\": character offset >= 0}"
    return None


def read_squad(path: str, records: dict, skipped: list[str] | None = None) -> Dataset:
    """The official nested SQuAD JSON (v1.1 and v2.0) as one row a question, in the hub's layout.

    The datasets json builder would keep the nesting (articles -> paragraphs -> questions), so the
    file is flattened here; every structural error names the article, paragraph or question id. A
    malformed question stops the run, or with `skipped` (data.bad_rows=skip) is left out; a
    malformed article or paragraph always stops it."""
    columns: dict[str, list] = {name: [] for name in SQUAD_FEATURES}
    articles = records.get("data") if isinstance(records, dict) else None
    if not isinstance(articles, list):
        raise InputError(f"{path}: not a SQuAD file: expected {{\"data\": [{{\"title\", \"paragraphs\": [...]}}]}}.")
    seen: set[str] = set()
    for a, article in enumerate(articles):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise InputError(f"{path}: article {a} has no list of 'paragraphs'. Each article is "
                             f"{{\"title\": ..., \"paragraphs\": [...]}}.")
        title = article.get("title", "")
        for p, paragraph in enumerate(paragraphs):
            where = f"{path}: article {a} ({str(title)[:60]!r}), paragraph {p}"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("context"), str) or not isinstance(paragraph.get("qas"), list):
                raise InputError(f"{where}: needs a 'context' string and a 'qas' list.")
            for q, qa in enumerate(paragraph["qas"]):
                problem = _squad_question_problem(qa, seen)
                if problem:
                    qid = qa.get("id") if isinstance(qa, dict) else None
                    message = f"{where}, question {q}" + (f" (id {qid})" if isinstance(qid, str) else "") + f": {problem}."
                    if skipped is None:
                        raise InputError(message)
                    skipped.append(message)
                    continue
                seen.add(qa["id"])
                answers = qa.get("answers", [])
                columns["id"].append(qa["id"])
                columns["title"].append(str(title))
                columns["context"].append(paragraph["context"])
                columns["question"].append(qa["question"])
                columns["answers"].append({"text": [x["text"] for x in answers],
                                           "answer_start": [x["answer_start"] for x in answers]})
    if not columns["id"]:
        raise InputError(none_left(path, skipped) if skipped else f"{path}: the SQuAD file holds no questions.")
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


def read_json_mapping(path: Path, what: str) -> dict:
    """A JSON object from a file the user gave (predictions, null odds); `what` says what it should hold."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a JSON file ({exc}). Expected {what}.") from exc
    if not isinstance(content, dict):
        raise InputError(f"{path}: expected {what}, got a JSON {type(content).__name__}.")
    return content
