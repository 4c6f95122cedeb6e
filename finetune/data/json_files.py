"""JSON Lines, JSON lists and the nested SQuAD JSON, checked before a data set is built from them:
what json.loads takes but pyarrow cannot store (NaN, 64-bit overflow) is named by line too."""

from __future__ import annotations

import json

from datasets import Dataset, Features, Sequence, Value

from finetune.data.text_files import Scan, decode_lines, none_left
from finetune.errors import InputError


class Unstorable(ValueError):
    """Text json.loads takes but a data set cannot hold; `token` finds its line."""

    def __init__(self, token: str, reason: str):
        super().__init__(reason)
        self.token = token


def _json_constant(name: str):
    # json.loads takes NaN and Infinity, which are not JSON and which pyarrow's reader refuses.
    raise Unstorable(name, f"{name} is not a JSON value")


def _json_int(digits: str) -> int:
    # pyarrow (the datasets json builder) stores integers in 64 bits and fails on a larger one.
    value = int(digits)
    if not -2**63 <= value < 2**63:
        raise Unstorable(digits, f"the integer {digits[:30]} does not fit in 64 bits; write it as a string")
    return value


def json_loads(text: str):
    return json.loads(text, parse_constant=_json_constant, parse_int=_json_int)


def check_jsonl(path: str, skipped: list[str] | None = None) -> Scan:
    text, bad = decode_lines(path, skipped)
    lines, drop = [], set()
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        message = None
        try:
            record = json_loads(line)
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


def json_list(path: str, text: str, records: list, skipped: list[str] | None) -> tuple[list[dict], list[int]]:
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
    # answer_start is stored as int32; bool is an int to Python but not an offset. -1 marks an answer
    # whose text is not verbatim in the context (CMRC 2018 dev has 193): the adapter decides.
    if not isinstance(answers, list) or not all(
            isinstance(x, dict) and isinstance(x.get("text"), str) and type(x.get("answer_start")) is int
            and -1 <= x["answer_start"] < 2**31 for x in answers):
        return ("'answers' must be a list of {\"text\": string, \"answer_start\": character offset >= 0, or -1 "
                "for a text that is not in the context}")
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
