"""Property-based tests of every data reader: random damage to the real sample files.

Each example takes a real small file shipped in samples/ (or examples/), damages it at random
(a truncated line, a field or column dropped or added, a byte that is not UTF-8, a value of the
wrong JSON type, a deleted key, an emptied field, a duplicated or missing header, an unbalanced
quote, a stray tab or carriage return, CRLF line ends, a BOM, an empty file, ...) and runs what a
training run runs before its model loads: the split read, the adapter's checks (setup_labels) and
encoding, on a tiny tokenizer. The outcome must be either

- an InputError whose message names the file and the line (SQuAD: the question id or article and
  paragraph; a file-wide problem such as a missing column: the file and what is missing), or
- a parse that equals an independent reading of the damaged file (Python's csv / json modules, or
  the CoNLL layout's definition): the same number of rows and the same values.

Any other exception fails the test. EXAMPLES gives how many damaged files each reader tries.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import pytest
from conftest import ROOT
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from finetune.engine.build import prepare
from finetune.errors import InputError
from tasks.registry import load_config

# Generated examples per reader (hypothesis max_examples). 13 readers x 100 = 1,300 damaged files,
# about 60 s on 2 CPU cores.
EXAMPLES = 100
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Messages about the whole file name the file and what is wrong with it, not a line.
WHOLE_FILE = ("the file is empty", "no column", "no data rows", "no JSON objects", "no sentences",
              "holds no questions", "not a SQuAD file", "every row is malformed", "must hold a list of objects",
              "has no list of 'paragraphs'", "the list holds no objects", "is not set and there is no")
LINE = re.compile(r", line (\d+)")


@dataclass
class Reader:
    config: str  # the task config the file is fed to, as data.train
    sample: str  # the real file, relative to the repository
    kind: str  # tsv | csv | jsonl | json | squad | conll
    compare: list[str]  # columns the adapter leaves as read: compared with the independent reading
    overrides: list[str] = field(default_factory=list)
    header: bool = True
    names: list[str] | None = None  # the column names of a file without a header
    decoder: bool = False  # needs the tiny Llama (generative QA), not the tiny BERT


def _reviews_records() -> list[dict]:
    with (ROOT / "examples/reviews/train.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _squad_records() -> list[dict]:
    """Generative QA's JSONL layout from the SQuAD sample: question, context, a list of answers."""
    squad = json.loads((ROOT / "samples/squad/dev-v1.1.json").read_text(encoding="utf-8"))
    return [{"id": qa["id"], "question": qa["question"], "context": paragraph["context"],
             "answers": [a["text"] for a in qa["answers"]]}
            for article in squad["data"] for paragraph in article["paragraphs"] for qa in paragraph["qas"]][:12]


def _derived(kind: str) -> bytes:
    if kind == "reviews.jsonl":
        return "".join(json.dumps(r) + "\n" for r in _reviews_records()).encode()
    if kind == "reviews.json":
        return json.dumps(_reviews_records(), indent=1).encode()
    return "".join(json.dumps(r) + "\n" for r in _squad_records()).encode()


REVIEWS = ["text_column=review", "label_column=verdict", "labels=[negative, positive]", "metrics=[accuracy]",
           "primary_metric=accuracy"]
READERS = {
    "sst2_tsv": Reader("sst2", "samples/glue/SST-2/train.tsv", "tsv", ["sentence"]),
    "mrpc_tsv_pair_bom": Reader("mrpc", "samples/glue/MRPC/train.tsv", "tsv", ["#1 String", "#2 String"]),
    "stsb_tsv_regression": Reader("stsb", "samples/glue/STS-B/train.tsv", "tsv", ["sentence1", "sentence2", "score"]),
    "reviews_csv": Reader("sst2", "examples/reviews/train.csv", "csv", ["review", "verdict"], REVIEWS),
    "reviews_json_list": Reader("sst2", "reviews.json", "json", ["review", "verdict"], REVIEWS),
    "reviews_jsonl": Reader("sst2", "reviews.jsonl", "jsonl", ["review", "verdict"], REVIEWS),
    "squad_v1": Reader("squad", "samples/squad/dev-v1.1.json", "squad", ["id", "question"], ["doc_stride=16"]),
    "squad_v2": Reader("squad_v2", "samples/squad/dev-v2.0.json", "squad", ["id", "question"], ["doc_stride=16"]),
    "conll2003_4col": Reader("conll2003", "samples/conll2003/valid.txt", "conll", ["tokens"]),
    # crf=false: the tags as read (wnut17.yaml's CRF rewrites an I-X that opens an entity as B-X: test_ner_crf.py)
    "wnut17_2col": Reader("wnut17", "samples/wnut17/emerging.dev.conll", "conll", ["tokens", "tags"], ["crf=false"]),
    "swag_csv": Reader("swag", "samples/swag/val.csv", "csv", ["sent1", "sent2", "ending0", "ending3"]),
    "codah_tsv_no_header": Reader("codah", "samples/codah/fold_0/dev.tsv", "tsv", ["prompt", "ending0", "label"],
                                  header=False, names=["category", "prompt", "ending0", "ending1", "ending2",
                                                       "ending3", "label"]),
    "generative_jsonl": Reader("squad_generative", "squad.jsonl", "jsonl", ["question", "context"], decoder=True),
}


def original(reader: Reader) -> bytes:
    path = ROOT / reader.sample
    return path.read_bytes() if path.is_file() else _derived(reader.sample)


# -- damage ---------------------------------------------------------------------------------------

def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _pick(draw, items: list, nonblank: bool = True):
    candidates = [i for i, item in enumerate(items) if item.strip() or not nonblank] or list(range(len(items)))
    return draw(st.sampled_from(candidates))


def _separator(kind: str) -> bytes:
    return {"tsv": b"\t", "csv": b",", "conll": b" "}.get(kind, b",")


def _line_damage(name: str, data: bytes, kind: str, draw) -> bytes:
    """One damage to a line-based file (or to any file's bytes)."""
    lines = _lines(data)
    i = _pick(draw, lines)
    line = lines[i]
    sep = b"\t" if kind == "conll" and b"\t" in line else _separator(kind)
    cut = draw(st.integers(0, max(len(line), 1)))
    if name == "truncate_line":
        lines[i] = line[:cut]
    elif name == "drop_field":
        fields = re.split(rb"[ \t]+", line) if kind == "conll" else line.split(sep)
        del fields[draw(st.integers(0, len(fields) - 1))]
        lines[i] = sep.join(fields)
    elif name == "add_field":
        lines[i] = line + sep + draw(st.sampled_from([b"extra", b"", b"0", b"B-PER"]))
    elif name == "empty_field":
        fields = line.split(sep)
        fields[draw(st.integers(0, len(fields) - 1))] = b""
        lines[i] = sep.join(fields)
    elif name == "bad_utf8":
        lines[i] = line[:cut] + draw(st.sampled_from([b"\xff", b"\xe9", b"\xc3", b"\x80\x80", b"\xed\xa0\x80"])) + line[cut:]
    elif name == "unbalanced_quote":
        lines[i] = line[:cut] + b'"' + line[cut:]
    elif name == "stray_tab":
        lines[i] = line[:cut] + b"\t" + line[cut:]
    elif name == "stray_cr":
        lines[i] = line[:cut] + b"\r" + line[cut:]
    elif name == "delete_line":
        del lines[i]
    elif name == "duplicate_line":
        lines.insert(i, line)
    elif name == "blank_lines":
        lines.insert(i, draw(st.sampled_from([b"", b"   ", b"\t", b"\r"])))
    elif name == "drop_header":
        del lines[0]
    elif name == "duplicate_header_name":
        fields = lines[0].split(sep)
        if len(fields) > 1:
            fields[-1] = fields[0]
        lines[0] = sep.join(fields)
    elif name == "crlf":
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    elif name == "bom":
        return (b"\xef\xbb\xbf" + data) if draw(st.booleans()) else b"\n".join(lines[:i] + [b"\xef\xbb\xbf" + line] + lines[i + 1:])
    elif name == "empty_file":
        return draw(st.sampled_from([b"", b"\n", b" \n\t\n"]))
    elif name == "truncate_file":
        return data[:draw(st.integers(0, len(data)))]
    else:
        raise AssertionError(name)
    return b"\n".join(lines)


LINE_DAMAGE = ["truncate_line", "drop_field", "add_field", "empty_field", "bad_utf8", "unbalanced_quote", "stray_tab",
               "stray_cr", "delete_line", "duplicate_line", "blank_lines", "drop_header", "duplicate_header_name",
               "crlf", "bom", "empty_file", "truncate_file"]
WRONG_VALUES = [None, 0, 7, -1, 2.5, True, "", "text", [], ["a"], [1, 2], {}, {"text": 1}, 10**30, 2**40, float("nan")]


def _json_slots(value, slots: list) -> list:
    """Every (container, key) in a JSON tree, so that one can be replaced or deleted."""
    if isinstance(value, dict):
        for key in value:
            slots.append((value, key))
            _json_slots(value[key], slots)
    elif isinstance(value, list):
        for index in range(len(value)):
            slots.append((value, index))
            _json_slots(value[index], slots)
    return slots


def _json_damage(data: bytes, kind: str, draw) -> bytes:
    """A value somewhere in the JSON replaced by another type, or its key deleted."""
    if kind == "jsonl":
        records = [json.loads(line) for line in data.decode("utf-8").split("\n") if line.strip()]
        tree = records
    else:
        tree = json.loads(data.decode("utf-8-sig"))
    slots = _json_slots(tree, [])
    container, key = draw(st.sampled_from(slots))
    if isinstance(container, dict) and draw(st.booleans()):
        del container[key]
    else:
        container[key] = draw(st.sampled_from(WRONG_VALUES))
    if kind == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in tree).encode()
    return json.dumps(tree, indent=1).encode()


def damaged(reader: Reader, draw) -> tuple[bytes, str]:
    data = original(reader)
    kinds = LINE_DAMAGE + (["json_value"] * 4 if reader.kind in ("json", "jsonl", "squad") else [])
    name = draw(st.sampled_from(kinds))
    if name == "json_value":
        return _json_damage(data, reader.kind, draw), name
    return _line_damage(name, data, reader.kind, draw), name


# -- the independent reading ------------------------------------------------------------------------

class Unreadable(Exception):
    """The damaged file does not follow its format: the toolkit must have refused it."""


def _text(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unreadable("not UTF-8") from exc
    if not text.strip():
        raise Unreadable("empty")
    return text


def expected_rows(reader: Reader, data: bytes) -> list[dict]:
    text = _text(data)
    if reader.kind in ("tsv", "csv"):
        tsv = reader.kind == "tsv"
        rows = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if tsv else ",",
                          quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL, strict=True)
        try:
            rows = [r for r in rows if r and r != [""]]
        except csv.Error as exc:
            raise Unreadable(str(exc)) from exc
        names = reader.names or [name or f"Unnamed: {i}" for i, name in enumerate(rows.pop(0) if rows else [])]
        if any(len(r) != len(names) for r in rows):
            raise Unreadable("field count")
        return [dict(zip(names, r)) for r in rows]
    if reader.kind == "jsonl":
        return [json.loads(line) for line in text.split("\n") if line.strip()]
    if reader.kind == "json":
        return json.loads(text)
    if reader.kind == "squad":
        squad = json.loads(text)
        return [{"id": qa["id"], "question": qa["question"]}
                for article in squad["data"] for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
    sentences, words = [], []
    for line in text.split("\n") + [""]:
        columns = re.split(r"[ \t\f\v]+", line.strip(" \t\r\f\v"))
        if columns == [""] or columns[0] == "-DOCSTART-":
            if words:
                sentences.append({"tokens": [w[0] for w in words], "tags": [w[-1] for w in words]})
            words = []
        else:
            words.append(columns)
    return sentences


# -- the property -----------------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def _own_datasets_cache(tmp_path_factory):
    """The datasets cache of the hundreds of damaged files goes to a temporary folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path_factory.mktemp("hf-datasets")))
        yield


_count = itertools.count()


def run_reader(reader: Reader, data: bytes, folder: Path, model: Path):
    """What `train` does before its model loads, on the damaged file as the train split."""
    suffix = {"conll": Path(reader.sample).suffix or ".conll"}.get(reader.kind, "." + reader.kind)
    path = folder / f"damaged{next(_count)}{suffix.replace('.squad', '.json')}"
    path.write_bytes(data)
    extra = ["data.format=conll"] if reader.kind == "conll" else []
    config = load_config(reader.config, [f"data.train={path}", "data.validation=null", "data.test=null",
                                         "data.max_seq_length=64", f"model={model}", *extra, *reader.overrides])
    return path, prepare(config, ["train"])


def check_error(error: InputError, path: Path, reader: Reader, data: bytes) -> None:
    message = str(error)
    assert str(path) in message, message
    lines = [int(n) for n in LINE.findall(message)]
    located = bool(lines) or any(phrase in message for phrase in WHOLE_FILE) or (
        reader.kind == "squad" and ("question id" in message or "paragraph" in message or "question " in message))
    assert located, f"no line, question or file-wide reason in: {message}"
    last = data.count(b"\n") + 1
    assert all(1 <= n <= last for n in lines), f"line outside 1..{last}: {message}"


def check_parse(prepared, reader: Reader, data: bytes) -> None:
    try:
        rows = expected_rows(reader, data)
    except (Unreadable, json.JSONDecodeError, KeyError, TypeError, IndexError) as exc:
        pytest.fail(f"the toolkit read a damaged file that does not follow the {reader.kind} layout ({exc!r})")
    split = prepared.splits["train"]
    assert len(split.dataset) == len(rows), (len(split.dataset), len(rows))
    for column in reader.compare:
        assert split.dataset[column] == [r.get(column) for r in rows], column
    assert len(prepared.features["train"]) >= len(rows)  # every example encoded (QA and NER may give more windows)


def fuzz(reader_name: str, tmp_path: Path, model: Path, draw) -> None:
    reader = READERS[reader_name]
    data, damage = damaged(reader, draw)
    try:
        _, prepared = run_reader(reader, data, tmp_path, model)
    except InputError as error:
        event(f"{damage}: input error")  # pytest --hypothesis-show-statistics shows the outcomes
        check_error(error, _path_of(error, tmp_path), reader, data)
        return
    event(f"{damage}: parsed")
    check_parse(prepared, reader, data)


def _path_of(error: InputError, folder: Path) -> Path:
    found = re.search(re.escape(str(folder)) + r"/damaged\d+\.\w+", str(error))
    assert found, f"the message does not name the damaged file: {error}"
    return Path(found.group(0))


@pytest.mark.parametrize("reader_name", [n for n, r in READERS.items() if not r.decoder])
@SETTINGS
@given(data=st.data())
def test_damaged_file_is_an_input_error_naming_the_line_or_a_correct_parse(reader_name, data, tiny_bert, tmp_path):
    fuzz(reader_name, tmp_path, tiny_bert, data.draw)


@pytest.mark.parametrize("reader_name", [n for n, r in READERS.items() if r.decoder])
@SETTINGS
@given(data=st.data())
def test_damaged_generative_file_is_an_input_error_naming_the_line_or_a_correct_parse(reader_name, data, tiny_llama,
                                                                                        tmp_path):
    fuzz(reader_name, tmp_path, tiny_llama, data.draw)


def test_the_samples_themselves_parse(tiny_bert, tiny_llama, tmp_path):
    """The property's other half is reachable: every undamaged file reads, with its rows."""
    for reader in READERS.values():
        data = original(reader)
        _, prepared = run_reader(reader, data, tmp_path, tiny_llama if reader.decoder else tiny_bert)
        check_parse(prepared, reader, data)
        assert len(prepared.splits["train"].dataset) > 5
