"""CMRC 2018: the official metric (finetune.metrics.cmrc), reading the dev file as distributed (answers
with answer_start -1), scoring through the squad adapter and `score`, and a tiny end-to-end run.

The metric's oracle is tests/reference/cmrc2018_official.py, a Python 3 transcription of the
official cmrc2018_evaluate.py (v5, SQuAD-style data); both tokenise Latin runs with the installed
NLTK without Punkt sentence splitting (see finetune/metrics/cmrc.py).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, run_cli
from datasets import Dataset
from test_squad import _tokenizer

from finetune.data import splits as data_io
from finetune.data.splits import RawSplit
from finetune.errors import InputError
from finetune.metrics import cmrc
from tasks import registry
from tasks.registry import load_config

REFERENCE = Path(__file__).parent / "reference" / "cmrc2018_official.py"
SAMPLE_DEV = ROOT / "samples" / "cmrc2018" / "cmrc2018_dev.json"
SPLIT_SCRIPT = ROOT / "samples" / "cmrc2018" / "split_dev.py"


def _load_reference():
    spec = importlib.util.spec_from_file_location("cmrc2018_official", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


official = _load_reference()


def _dataset(questions: list[tuple[str, list[str]]]) -> dict:
    """A one-paragraph SQuAD-layout JSON of (id, answer texts)."""
    qas = [{"id": qid, "question": "?", "answers": [{"text": t, "answer_start": -1} for t in texts]}
           for qid, texts in questions]
    return {"version": "v1.0", "data": [{"title": "t", "paragraphs": [{"id": "p", "context": "c", "qas": qas}]}]}


def _same(ours: cmrc.Scores, reference: tuple, tol: float = 1e-9) -> None:
    f1, em, total, skip = reference
    assert abs(ours["f1"] - f1) <= tol and abs(ours["exact_match"] - em) <= tol, (dict(ours), reference)
    assert (ours["total"], ours["skip"]) == (total, skip)


# -- segmentation, EM and F1 by hand ----------------------------------------------------------------

@pytest.mark.parametrize("text, drop, expected", [
    ("北京大学", False, ["北", "京", "大", "学"]),
    (" iPhone 6s是苹果公司的产品。 ", False, ["iphone", "6s", "是", "苹", "果", "公", "司", "的", "产", "品", "。"]),
    (" iPhone 6s是苹果公司的产品。 ", True, ["iphone", "6s", "是", "苹", "果", "公", "司", "的", "产", "品"]),
    ("abc-def", False, ["abc", "-", "def"]),
    ("abc-def", True, ["abcdef"]),  # a dropped mark does not end the run it sits in
    ("由Guido van Rossum发布", True, ["由", "guido", "van", "rossum", "发", "布"]),
    ("1921年", True, ["1921", "年"]),
    ("（WWF）", False, ["（", "wwf", "）"]),
    ("", True, []),
    ("。，、", True, []),
])
def test_segment(text, drop, expected):
    assert cmrc.segment(text, drop_punctuation=drop) == expected
    assert official.mixed_segmentation(text, rm_punc=drop) == expected


def test_punctuation_is_the_official_list_only():
    assert cmrc.remove_punctuation(" 世界自然基金会（WWF）。 ") == "世界自然基金会wwf"
    assert cmrc.remove_punctuation("Mr. Smith, (1990)!") == "mr. smith, (1990)!"  # ASCII . , ( ) ! stay
    assert cmrc.remove_punctuation("好……‘引’") == "好……‘引"  # "……" in the list never matches; only ’ is listed
    assert cmrc.is_cjk("\u4e00") and cmrc.is_cjk("\u9fa5") and not cmrc.is_cjk("\u9fa6") and not cmrc.is_cjk("\u3400")
    for text in ("好……‘引’", "Mr. Smith, (1990)!", "a-b_c*d^e/f\\g~h`i+j=k"):
        assert cmrc.remove_punctuation(text) == official.remove_punctuation(text)


def test_longest_common_substring_is_contiguous():
    assert cmrc.longest_common_substring(list("甲乙丙丁"), list("甲乙x丙丁")) == 2  # a subsequence would be 4
    assert cmrc.longest_common_substring(list("abcab"), list("xcabz")) == 3
    assert cmrc.longest_common_substring([], list("ab")) == 0
    for a, b in (("甲乙丙丁", "甲乙x丙丁"), ("abcab", "xcabz"), ("", "ab")):
        assert cmrc.longest_common_substring(list(a), list(b)) == official.find_lcs(list(a), list(b))[1]


@pytest.mark.parametrize("prediction, answer, f1, em", [
    ("北京", "北京大学", 2 / 3, 0),  # common 2: precision 2/2, recall 2/4
    ("建于1921年", "1921年", 2 / 3, 0),  # tokens 建 于 1921 年 vs 1921 年: precision 2/4, recall 2/2
    ("甲乙X丙丁", "甲乙丙丁", 4 / 9, 0),  # common substring 2: precision 2/5, recall 2/4 -> 0.4 / 0.9
    ("由Guido van Rossum", "Guido van Rossum", 6 / 7, 0),  # 3 of 4 tokens, all 3: 2 * 3/4 / (7/4)
    ("世界自然基金会（wwf）", "世界自然基金会（WWF）", 1.0, 1),
    # ASCII brackets are tokens (NLTK splits "(wwf)" into 3) that neither F1 nor EM removes: 7 CJK
    # tokens in common, precision 7/10, recall 7/8 -> 98/80 / (126/80) = 7/9
    ("世界自然基金会(wwf)", "世界自然基金会（WWF）", 7 / 9, 0),
    ("guidovan rossum", "Guido van Rossum", 0.4, 0),  # tokens guidovan rossum vs guido van rossum: 1 common
    (" Guido van Rossum。", "guido van rossum", 1.0, 1),
    ("", "北京", 0.0, 0),
    ("", "。", 0.0, 1),  # both empty once punctuation is removed: EM 1, but F1 has no token to share
    ("上海", "上海", 1.0, 1),
])
def test_f1_and_exact_match_by_hand(prediction, answer, f1, em):
    assert cmrc.f1(prediction, answer) == pytest.approx(f1, abs=1e-15)
    assert cmrc.exact_match(prediction, answer) == em
    assert official.calc_f1_score([answer], prediction) == pytest.approx(f1, abs=1e-15)
    assert official.calc_em_score([answer], prediction) == em


def test_a_question_takes_its_best_answer():
    answers = ["北京大学", "北京", "清华"]
    assert cmrc.best_f1("北京", answers) == 1.0 and cmrc.best_exact_match("北京", answers) == 1
    # vs 北京大学 2/3, vs 北京 2 * (2/3) * 1 / (5/3) = 0.8, vs 清华 0
    assert cmrc.best_f1("北京市", answers) == pytest.approx(0.8, abs=1e-15)
    assert cmrc.best_exact_match("北京市", answers) == 0
    assert cmrc.best_f1("北京市", answers) == official.calc_f1_score(answers, "北京市")


# Four questions, one without a prediction:
#   q1  北京大学 / 北京      北京        f1 1      em 1
#   q2  1921年              建于1921年  f1 2/3    em 0
#   q3  Guido van Rossum    (missing)   f1 0      em 0    skip
#   q4  上海                 ""          f1 0      em 0
HAND_GOLD = [("q1", ["北京大学", "北京"]), ("q2", ["1921年"]), ("q3", ["Guido van Rossum"]), ("q4", ["上海"])]
HAND_PREDICTIONS = {"q1": "北京", "q2": "建于1921年", "q4": "", "other": "ignored"}


def test_whole_dataset_by_hand_and_as_the_script_prints_it(capsys):
    data = _dataset(HAND_GOLD)
    scores = cmrc.cmrc2018(data, HAND_PREDICTIONS)
    assert scores["f1"] == pytest.approx(100 * (5 / 3) / 4, abs=1e-12)
    assert (scores["exact_match"], scores["total"], scores["skip"], scores.missing) == (25.0, 4, 1, ["q3"])
    assert cmrc.cmrc2018_from_answers(dict(HAND_GOLD), HAND_PREDICTIONS) == scores
    reference = official.evaluate(data, HAND_PREDICTIONS)
    _same(scores, reference, tol=0.0)
    assert capsys.readouterr().err.splitlines() == cmrc.unanswered_messages(scores.missing) == ["Unanswered question: q3"]
    printed = official.main(data, HAND_PREDICTIONS, "predictions.json")
    assert cmrc.format_official(scores, "predictions.json") == printed
    assert json.loads(printed) == {"AVERAGE": "33.333", "F1": "41.667", "EM": "25.000", "TOTAL": 4, "SKIP": 1,
                                   "FILE": "predictions.json"}


def test_ids_are_stripped_and_predictions_taken_as_text_like_the_script():
    data = _dataset([(" q1 ", ["1921"]), ("q2", ["3.5"])])
    predictions = {"q1": 1921, "q2": 3.5}
    scores = cmrc.cmrc2018(data, predictions)
    assert (scores["exact_match"], scores["skip"]) == (100.0, 0)
    _same(scores, official.evaluate(data, predictions), tol=0.0)
    with pytest.raises(ZeroDivisionError):
        cmrc.cmrc2018(_dataset([]), {})


# -- the real dev set -------------------------------------------------------------------------------

def _baseline_predictions(dataset_json: dict, seed: int = 0) -> dict[str, str]:
    """Realistic predictions of every kind: the context's first sentence (a lazy baseline), the
    sentence that holds the first answer, an answer, an answer cut or extended by a few characters,
    with its punctuation changed, an empty string; some questions get none at all."""
    rng = np.random.default_rng(seed)
    predictions = {}
    for article in dataset_json["data"]:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            sentences = [s for s in re.split(r"(?<=[。！？])", context) if s]
            for qa in paragraph["qas"]:
                answer = qa["answers"][int(rng.integers(len(qa["answers"])))]
                text, start = answer["text"], max(answer["answer_start"], 0)
                kind = int(rng.integers(8))
                if kind == 0:
                    predictions[qa["id"]] = sentences[0]
                elif kind == 1:
                    predictions[qa["id"]] = next((s for s in sentences if qa["answers"][0]["text"] in s), sentences[-1])
                elif kind == 2:
                    predictions[qa["id"]] = text
                elif kind == 3:
                    predictions[qa["id"]] = text[int(rng.integers(len(text))):]
                elif kind == 4:
                    predictions[qa["id"]] = context[max(0, start - 3):start + len(text) + int(rng.integers(6))]
                elif kind == 5:
                    predictions[qa["id"]] = "“" + text.replace("，", ",") + "”。"
                elif kind == 6:
                    predictions[qa["id"]] = ""
                # kind 7: no prediction (the script's SKIP)
    return predictions


@pytest.fixture(scope="module")
def cmrc_dev(real_data) -> Path:
    path = real_data / "cmrc2018" / "cmrc2018_dev.json"
    assert path.is_file(), path
    return path


def test_equals_the_official_script_on_the_real_dev_set(cmrc_dev, tmp_path, capsys):
    data = json.loads(cmrc_dev.read_text(encoding="utf-8"))
    for seed in (0, 1):
        predictions = _baseline_predictions(data, seed)
        scores = cmrc.cmrc2018(data, predictions)
        reference = official.evaluate(data, predictions)
        _same(scores, reference)
        assert scores["total"] == 3219 and 300 < scores["skip"] < 500 and 20 < scores["f1"] < 80
        assert cmrc.format_official(scores, "p.json") == official.main(data, predictions, "p.json")
        assert capsys.readouterr().err.count("Unanswered question") == 2 * scores["skip"]
    # The gold answers themselves: every question right, whichever answer a prediction copies.
    gold = {qa["id"]: qa["answers"][-1]["text"] for _, qa in _qas(data)}
    perfect = cmrc.cmrc2018(data, gold)
    assert (perfect["f1"], perfect["exact_match"]) == (100.0, 100.0)


def _qas(data: dict):
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                yield paragraph, qa


def test_where_punkt_could_change_a_token_on_the_real_dev_set(cmrc_dev):
    """The official script splits each Latin run into sentences (Punkt) before tokenising; we do not.
    Only a run with '.', '?' or '!' followed by a space and more text can differ. Splitting at every
    such place (more than Punkt ever would: it keeps "v." or "A." in "Duncan v. Louisiana" or "Jeffrey
    A. Wilson" whole) changes the scores of the baseline predictions by less than 0.01 point."""
    from nltk.tokenize import word_tokenize

    data = json.loads(cmrc_dev.read_text(encoding="utf-8"))
    boundary = re.compile(r"(?<=[.?!])(?=\s+\S)")

    def split_everywhere(run: str) -> list[str]:
        return [t for piece in boundary.split(run) for t in word_tokenize(piece, preserve_line=True)]

    answers = [x["text"] for _, qa in _qas(data) for x in qa["answers"]]
    affected = [a for a in answers if cmrc.segment(a, True) != cmrc.segment(a, True, tokenize=split_everywhere)]
    # "Henry A. Walsh", "Roy H. Reinhart" and "Terry A. Gates与其同事", 3 times each: initials, which
    # Punkt does not take for sentence ends either, so the official tokens are likely ours.
    assert sorted(set(affected)) == ["Henry A. Walsh", "Roy H. Reinhart", "Terry A. Gates与其同事"]
    assert len(affected) == 9
    predictions = _baseline_predictions(data)
    ours = cmrc.cmrc2018(data, predictions)
    gold = [(qa["id"], [x["text"] for x in qa["answers"]]) for _, qa in _qas(data)]
    f1_split = 0.0
    for qid, texts in gold:
        if qid in predictions:
            tokens = cmrc.segment(predictions[qid], True, tokenize=split_everywhere)
            f1_split += max(cmrc._f1_segments(cmrc.segment(t, True, tokenize=split_everywhere), tokens) for t in texts)
    assert abs(ours["f1"] - 100.0 * f1_split / len(gold)) < 0.01


def test_reading_the_real_dev_file_as_distributed(cmrc_dev, capsys):
    """3,219 questions with 3 answers each; 193 answers have answer_start -1 and none of their texts is
    in its context; 7 more have a wrong offset and are re-anchored. Every question keeps a located
    answer, so none is left out of training when dev is trained on; scoring keeps all 9,657 texts."""
    data = json.loads(cmrc_dev.read_text(encoding="utf-8"))
    starts = [x["answer_start"] for _, qa in _qas(data) for x in qa["answers"]]
    assert (len(list(_qas(data))), len(starts), starts.count(-1)) == (3219, 9657, 193)

    config = load_config("cmrc2018", [f"data.train={cmrc_dev}", f"data.validation={cmrc_dev}"])
    adapter = registry.get(config)
    splits = {name: data_io.load_split(config.data, name) for name in ("train", "validation")}
    adapter.setup_labels(splits)
    out = capsys.readouterr().out
    for name in ("train", "validation"):
        assert f"{name}: 0 answer(s) off by whitespace and 7 with a misplaced answer_start were re-anchored" in out
        assert f"{name}: 193 answer(s) not in their context" in out
        assert splits[name].rejected == set()
    assert "left out of training" not in out
    answers = splits["validation"].dataset["answers"]
    assert sum(len(a["text"]) for a in answers) == 9657
    assert sum(s == -1 for a in answers for s in a["answer_start"]) == 193
    assert sum(a["answer_start"][0] == -1 for a in answers) == 0  # no first answer is unlocated here ...
    texts = {qa["id"]: [x["text"] for x in qa["answers"]] for _, qa in _qas(data)}
    # ... and the references are the file's texts (trimmed where re-anchored), every one of them.
    assert {qid: [t.strip() for t in a["text"]] for qid, a in zip(splits["validation"].dataset["id"], answers)} == \
        {qid: [t.strip() for t in ts] for qid, ts in texts.items()}
    # Scoring through the adapter equals the official script on the file.
    predictions = _baseline_predictions(data)
    rows = [{"id": qid, "text": predictions.get(qid, "")} for qid in splits["validation"].dataset["id"]]
    scores = adapter.score(rows, splits["validation"].dataset)
    reference = official.evaluate(data, {qid: predictions.get(qid, "") for qid in texts})
    assert abs(scores["f1"] - reference[0]) <= 1e-9 and abs(scores["exact_match"] - reference[1]) <= 1e-9
    assert adapter.primary_metric == "f1" and list(scores) == ["f1", "exact_match"]


def test_the_offline_split_of_trial_and_dev(real_data, tmp_path):
    result = subprocess.run([sys.executable, str(SPLIT_SCRIPT), "--data", str(real_data), "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=120, check=True)
    train = json.loads((tmp_path / "train.json").read_text(encoding="utf-8"))
    dev = json.loads((tmp_path / "dev.json").read_text(encoding="utf-8"))
    assert "train.json: 680 articles, 2495 questions" in result.stdout  # 256 trial + 424 dev articles
    assert "dev.json: 424 articles, 1726 questions" in result.stdout
    assert not {a["id"] for a in train["data"]} & {a["id"] for a in dev["data"]}
    assert not {p["context"] for a in train["data"] for p in a["paragraphs"]} & \
        {p["context"] for a in dev["data"] for p in a["paragraphs"]}


# -- the adapter: references only, training targets, errors -----------------------------------------

CONTEXT = "The cat sat on the mat near the door."


def _cmrc_adapter(*overrides: str):
    return registry.get(load_config("cmrc2018", ["data.max_seq_length=32", "doc_stride=8", *overrides]))


def test_unlocated_answers_are_references_only_and_questions_without_one_are_left_out_of_training(capsys):
    adapter = _cmrc_adapter()
    examples = Dataset.from_dict({"id": ["a", "b", "c"], "question": ["where"] * 3, "context": [CONTEXT] * 3, "answers": [
        {"text": ["the dog", "the door"], "answer_start": [-1, -1]},  # the first is nowhere, the second is found
        {"text": ["a red mat", "under the table"], "answer_start": [-1, 12]},  # neither is in the context
        {"text": ["cat"], "answer_start": [4]},
    ]})
    train = RawSplit("train", examples, "file", "train.json")
    dev = RawSplit("validation", examples, "file", "dev.json")
    adapter.setup_labels({"train": train, "validation": dev})
    out = capsys.readouterr().out
    assert "train: 0 answer(s) off by whitespace and 1 with a misplaced answer_start were re-anchored" in out
    assert "train: 3 answer(s) not in their context" in out
    assert "train: 1 question(s) with no answer in their context left out of training (b)." in out
    assert "validation: 1 question(s)" not in out  # dev keeps every question for scoring
    expected = [{"text": ["the dog", "the door"], "answer_start": [-1, 28]},
                {"text": ["a red mat", "under the table"], "answer_start": [-1, -1]},
                {"text": ["cat"], "answer_start": [4]}]
    assert train.dataset["answers"] == dev.dataset["answers"] == expected
    # Left out (in either data.bad_rows mode), not rejected: the row is valid, only not trainable.
    assert train.left_out == {1} and train.rejected == dev.rejected == dev.left_out == set() and train.bad_rows == "error"
    train.drop_rejected()
    assert train.dataset["id"] == ["a", "c"]
    # The training target is the first answer found in the context: "the door", not "the dog".
    tokenizer = _tokenizer([CONTEXT, "where"])
    features = adapter.encode(train.dataset[:], [0, 1], tokenizer, "train")
    ids, start, end = features["input_ids"][0], features["start_positions"][0], features["end_positions"][0]
    assert tokenizer.decode(ids[start:end + 1]) == "the door"
    # Scoring keeps every reference: "the dog" (not in the context) still counts.
    scores = adapter.score([{"id": "a", "text": "the dog"}, {"id": "b", "text": "x"}, {"id": "c", "text": "cat"}], dev.dataset)
    assert scores["exact_match"] == pytest.approx(200 / 3)


def test_squad_still_refuses_an_answer_that_is_not_in_its_context():
    adapter = registry.get(load_config("squad", ["data.max_seq_length=32", "doc_stride=8"]))
    examples = Dataset.from_dict({"id": ["a"], "question": ["where"], "context": [CONTEXT],
                                  "answers": [{"text": ["the dog"], "answer_start": [-1]}]})
    with pytest.raises(InputError, match="question id a.*not in its context.*unlocated_answers=reference"):
        adapter.setup_labels({"validation": RawSplit("validation", examples, "file", "dev.json")})


def test_cmrc_metric_needs_answerable_questions():
    with pytest.raises(InputError, match="metric.*version_2=false"):
        _cmrc_adapter("version_2=true")


def test_the_sample_file_is_read_with_answer_start_minus_one():
    config = load_config("cmrc2018", [f"data.validation={SAMPLE_DEV}"])
    split = data_io.load_split(config.data, "validation")
    assert sum(s == -1 for a in split.dataset["answers"] for s in a["answer_start"]) == 2
    assert len(split.dataset) == 6


# -- the command line ---------------------------------------------------------------------------------

def test_score_command_prints_what_the_official_script_prints(tmp_path):
    data = json.loads(SAMPLE_DEV.read_text(encoding="utf-8"))
    predictions = {"SAMPLE_DEV_0_QUERY_0": "四川、陕西和甘肃的山区", "SAMPLE_DEV_0_QUERY_1": "竹子",
                   "SAMPLE_DEV_0_QUERY_2": "WWF", "SAMPLE_DEV_1_QUERY_0": "约6300公里", "SAMPLE_DEV_1_QUERY_2": ""}
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps(predictions, ensure_ascii=False), encoding="utf-8")
    result = run_cli("score", "cmrc2018", "--predictions", str(path), "--references", str(SAMPLE_DEV))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == official.main(data, predictions, str(path))
    printed = json.loads(result.stdout)
    assert (printed["TOTAL"], printed["SKIP"]) == (6, 1)
    assert "Unanswered question: SAMPLE_DEV_1_QUERY_1" in result.stderr


@pytest.mark.e2e
def test_train_cmrc2018_on_the_sample_with_a_tiny_model(tiny_bert, tmp_path):
    result = run_cli("train", "cmrc2018", f"model={tiny_bert}", f"output_dir={tmp_path}", "run_name=tiny",
                     "data.source=sample", "data.max_seq_length=64", "doc_stride=16", "train.max_steps=2",
                     "train.batch_size=4", "train.eval_every=null")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "validation: 2 answer(s) not in their context" in result.stdout
    summary = json.loads((tmp_path / "tiny" / "metrics.json").read_text())
    assert summary["primary"] == "f1" and set(summary["metrics"]) >= {"f1", "exact_match"}
    predictions = json.loads((tmp_path / "tiny" / "predictions.json").read_text(encoding="utf-8"))
    assert len(predictions) == 6
