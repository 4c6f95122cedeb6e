"""data.bad_rows=skip: malformed rows are left out, each said (file, line, reason) and recorded in
RawSplit.skipped; the rows kept are exactly the good ones; file-wide problems still stop the run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import ROOT

from finetune.engine.build import prepare
from finetune.errors import InputError
from tasks.registry import load_config

SST2 = (ROOT / "samples/glue/SST-2/train.tsv").read_text(encoding="utf-8").split("\n")[:11]  # header + 10 rows


def run(task: str, path: Path, model: Path, *extra: str, split: str = "train"):
    others = {"train": ["data.validation=null"], "validation": []}[split]
    config = load_config(task, [f"data.{split}={path}", *others, "data.test=null", "data.max_seq_length=32",
                                f"model={model}", "data.bad_rows=skip", *extra])
    return prepare(config, [split])


def test_tsv_rows_with_a_wrong_field_count_bad_bytes_or_label_are_left_out(tiny_bert, tmp_path, capsys):
    rows = list(SST2)
    rows[2] = "a dull , plodding mess"  # line 3: one field
    rows[5] = rows[5].replace("\t", "\tx\t")  # line 6: three fields
    rows[8] = rows[8].rsplit("\t", 1)[0] + "\t7"  # line 9: label outside [0, 1]
    text = "\n".join(rows) + "\n"
    line7 = rows[6]
    path = tmp_path / "train.tsv"
    path.write_bytes(text.replace(line7, line7[:4] + "\udce9", 1).encode("utf-8", "surrogateescape"))  # line 7: 0xe9
    prepared = run("sst2", path, tiny_bert)
    split = prepared.splits["train"]
    good = [r.split("\t")[0] for i, r in enumerate(rows[1:], start=2) if i not in (3, 6, 7, 9) and r]
    assert split.dataset["sentence"] == good
    assert split.lines == [i for i in range(2, 12) if i not in (3, 6, 7, 9)]
    assert len(prepared.features["train"]) == len(good)
    assert len(split.skipped) == 4
    for line, reason in [(3, "1 fields where the header has 2"), (6, "3 fields"), (7, "not UTF-8"), (9, "label '7'")]:
        assert any(m.startswith(f"{path}, line {line}: ") and reason in m for m in split.skipped), (line, split.skipped)
    err = capsys.readouterr().err
    assert sum(line.startswith("skipped: ") for line in err.splitlines()) == 4
    assert f"skipped 4 malformed row(s) of {path}" in err


def test_the_same_file_stops_the_run_without_skip(tiny_bert, tmp_path):
    rows = list(SST2)
    rows[2] = "a dull , plodding mess"
    path = tmp_path / "train.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = load_config("sst2", [f"data.train={path}", "data.validation=null", "data.test=null", f"model={tiny_bert}"])
    with pytest.raises(InputError, match="line 3: 1 fields"):
        prepare(config, ["train"])


REVIEWS = ["text_column=review", "label_column=verdict", "labels=[negative, positive]", "metrics=[accuracy]",
           "primary_metric=accuracy"]


def test_jsonl_lines_that_are_not_objects_or_have_bad_values_are_left_out(tiny_bert, tmp_path):
    lines = ['{"review": "good film", "verdict": "positive"}',
             '{"review": "bad film", "verdict": "negative"',  # line 2: not JSON
             '["a list", "positive"]',  # line 3: not an object
             '{"review": null, "verdict": "positive"}',  # line 4: no text
             '',
             '{"review": "dull plot", "verdict": "negative"}',
             '{"review": "fine", "verdict": NaN}']  # line 7: NaN
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    split = run("sst2", path, tiny_bert, *REVIEWS).splits["train"]
    assert split.dataset["review"] == ["good film", "dull plot"]
    assert split.lines == [1, 6]
    assert [m.split(":")[0] for m in split.skipped] == [f"{path}, line {n}" for n in (2, 3, 7, 4)]


def test_conll_sentence_with_a_bad_line_or_tag_is_left_out_whole(tiny_bert, tmp_path):
    text = ("-DOCSTART- -X- -X- O\n\n"
            "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n"  # lines 3-4: good
            "Peter NNP B-PER\nBlackburn NNP B-NP I-PER\n\n"  # line 6: 3 columns
            "BRUSSELS NNP B-NP B-LOC\n1996-08-22 CD I-NP X-LOC\n\n"  # line 10: bad prefix
            "German JJ B-NP B-MISC\ncall NN I-NP O\n")  # lines 12-13: good
    path = tmp_path / "train.conll"
    path.write_text(text, encoding="utf-8")
    split = run("conll2003", path, tiny_bert).splits["train"]
    assert split.dataset["tokens"] == [["EU", "rejects"], ["German", "call"]]
    assert split.lines == [3, 12]
    assert len(split.skipped) == 2
    assert split.skipped[0].startswith(f"{path}, line 6: 3 columns")
    assert split.skipped[1].startswith(f"{path}, line 10: ") and "X-LOC" in split.skipped[1]


def test_squad_questions_with_malformed_or_misplaced_answers_are_left_out(tiny_bert, tmp_path):
    squad = json.loads((ROOT / "samples/squad/dev-v1.1.json").read_text(encoding="utf-8"))
    qas = [qa for article in squad["data"] for p in article["paragraphs"] for qa in p["qas"]]
    qas[1]["answers"][0]["answer_start"] = "1100"  # malformed: the reader leaves it out
    qas[3]["answers"] = [{"text": "no such words here", "answer_start": 5}]  # not in the context: the adapter
    qas[4]["id"] = qas[0]["id"]  # a repeated id
    path = tmp_path / "train.json"
    path.write_text(json.dumps(squad), encoding="utf-8")
    split = run("squad", path, tiny_bert, "doc_stride=8").splits["train"]
    bad = {1, 3, 4}
    assert split.dataset["id"] == [qa["id"] for i, qa in enumerate(qas) if i not in bad]
    assert len(split.skipped) == 3
    assert all(str(path) in m for m in split.skipped)
    assert any(f"question id {qas[3]['id']}" in m and "not in its context" in m for m in split.skipped)


def test_multiple_choice_rows_with_empty_endings_or_bad_labels_are_left_out(tiny_bert, tmp_path):
    with (ROOT / "samples/swag/val.csv").open(encoding="utf-8", newline="") as handle:
        table = list(csv.reader(handle))
    table[2][11] = "9"  # line 3: label 9
    table[4][7] = ""  # line 5: ending0 empty
    path = tmp_path / "val.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(table)
    split = run("swag", path, tiny_bert, "data.train=null", split="validation").splits["validation"]
    assert split.lines == [n for n in range(2, len(table) + 1) if n not in (3, 5)]
    assert split.dataset["video-id"] == [row[1] for n, row in enumerate(table[1:], start=2) if n not in (3, 5)]
    assert [m.split(":")[0] for m in split.skipped] == [f"{path}, line 3", f"{path}, line 5"]


@pytest.mark.parametrize("content, message", [
    ("sentence\tlabel\na\nb\n", "every row is malformed"),  # every row: one field
    ("sentence\tlabel\na\t5\nb\t6\n", "every row is malformed .*line 2: label '5'"),  # every label bad
    ("sentence\tpolarity\na\t1\n", "no column 'label'"),  # file-wide problems still stop the run
    ("", "empty"),
])
def test_a_file_with_nothing_to_keep_or_a_file_wide_problem_stops_the_run(content, message, tiny_bert, tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        run("sst2", path, tiny_bert)


def test_a_run_with_skipped_rows_counts_them_in_metrics_json(tiny_bert, sentiment_data, tmp_path):
    from conftest import run_cli, tiny_args

    rows = sentiment_data["train"].read_text(encoding="utf-8").split("\n")
    rows[4] = rows[4].split("\t")[0]  # line 5: one field
    rows[10] = rows[10].rsplit("\t", 1)[0] + "\tmaybe"  # line 11: not a label
    train = tmp_path / "train.tsv"
    train.write_text("\n".join(rows), encoding="utf-8")
    result = run_cli("train", "sst2", *tiny_args({**sentiment_data, "train": train}, tiny_bert, tmp_path / "runs",
                                                 train__max_steps=2, data__bad_rows="skip"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"skipped: {train}, line 5: 1 fields where the header has 2" in result.stderr
    assert f"skipped: {train}, line 11: label 'maybe'" in result.stderr
    summary = json.loads((tmp_path / "runs" / "tiny" / "metrics.json").read_text())
    assert summary["skipped_rows"] == {"train": 2, "validation": 0}
    assert summary["train_examples"] == 94
