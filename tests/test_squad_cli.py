"""SQuAD through the command line on the shipped samples and a tiny BERT: files in the official
formats, `score` printing what the official scripts print, predict over typed questions."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import ROOT, run_cli

sys.path.insert(0, str(ROOT / "tests" / "reference"))
import squad_official_v1  # noqa: E402
import squad_official_v2  # noqa: E402

SAMPLES = ROOT / "samples" / "squad"


@pytest.fixture(scope="module")
def v2_run(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("squad")
    result = run_cli("train", "squad_v2", f"model={tiny_bert}", f"output_dir={out}", "run_name=v2", "data.source=sample",
                     "train.max_steps=4", "train.batch_size=8", "data.max_seq_length=64", "doc_stride=16")
    assert result.returncode == 0, result.stderr[-3000:]
    return out / "v2"


def test_v2_run_writes_the_official_files_and_metrics(v2_run):
    gold = json.loads((SAMPLES / "dev-v2.0.json").read_text())
    ids = [qa["id"] for article in gold["data"] for p in article["paragraphs"] for qa in p["qas"]]
    predictions = json.loads((v2_run / "predictions.json").read_text())
    nbest = json.loads((v2_run / "nbest_predictions.json").read_text())
    odds = json.loads((v2_run / "null_odds.json").read_text())
    assert sorted(predictions) == sorted(nbest) == sorted(odds) == sorted(ids)
    assert all(isinstance(v, str) for v in predictions.values())
    for entries in nbest.values():
        assert {"text", "probability", "start_logit", "end_logit"} <= set(entries[0])
        assert sum(e["probability"] for e in entries) == pytest.approx(1.0)
    metrics = json.loads((v2_run / "metrics.json").read_text())["metrics"]
    # Dev metrics = the official script on the best spans with --na-prob-thresh null_threshold (0.0);
    # its main keys equal the official script's on the thresholded answers file.
    spans = {qid: next((e["text"] for e in entries if e["text"]), "") for qid, entries in nbest.items()}
    expected = json.loads(squad_official_v2.main(gold, spans, odds, na_prob_thresh=0.0))
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, abs=1e-9), key
    plain = json.loads(squad_official_v2.main(gold, predictions))
    for key in ("exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1"):
        assert metrics[key] == pytest.approx(plain[key], abs=1e-9), key
    assert metrics["HasAns_total"] == 18 and metrics["NoAns_total"] == 6


def test_score_prints_what_the_official_scripts_print(v2_run, tmp_path):
    gold_v2 = SAMPLES / "dev-v2.0.json"
    result = run_cli("score", "squad_v2", "--predictions", str(v2_run / "predictions.json"), "--references", str(gold_v2),
                     "--null-odds", str(v2_run / "null_odds.json"))
    assert result.returncode == 0, result.stderr
    expected = squad_official_v2.main(json.loads(gold_v2.read_text()), json.loads((v2_run / "predictions.json").read_text()),
                                      json.loads((v2_run / "null_odds.json").read_text()))
    assert result.stdout.strip() == expected.strip()

    gold_v1 = json.loads((SAMPLES / "dev-v1.1.json").read_text())
    answers = {qa["id"]: qa["answers"][0]["text"] if i % 2 else "wrong"
               for article in gold_v1["data"] for p in article["paragraphs"] for i, qa in enumerate(p["qas"])}
    (tmp_path / "p.json").write_text(json.dumps(answers))
    result = run_cli("score", "squad", "--predictions", str(tmp_path / "p.json"), "--references", str(SAMPLES / "dev-v1.1.json"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == squad_official_v1.main(gold_v1, answers).strip()

    (tmp_path / "bad.json").write_text("[1, 2]")
    bad = run_cli("score", "squad", "--predictions", str(tmp_path / "bad.json"), "--references", str(SAMPLES / "dev-v1.1.json"))
    assert bad.returncode == 2 and "bad.json" in bad.stderr and "Traceback" not in bad.stderr


def test_export_carries_the_chosen_null_threshold_and_predict_answers_typed_questions(v2_run, tmp_path):
    export = tmp_path / "export"
    assert run_cli("export", str(v2_run), "--out", str(export)).returncode == 0
    import yaml

    chosen = yaml.safe_load((export / "finetune.yaml").read_text())["null_threshold"]
    metrics = json.loads((v2_run / "metrics.json").read_text())["metrics"]
    assert chosen == pytest.approx(metrics["best_f1_thresh"])
    assert "null_threshold" in (export / "README.md").read_text()

    result = run_cli("predict", str(export), "--question", "苏轼是哪里人？", "--context", "苏轼是北宋著名的文学家与政治家，眉州眉山人。",
                     "--question", "Who wrote it?", "--context", "It was written by Ann Lee in 1901.")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].endswith("苏轼是哪里人？") and lines[1].endswith("Who wrote it?")
    mismatched = run_cli("predict", str(export), "--question", "Who?")
    assert mismatched.returncode == 2 and "--context" in mismatched.stderr


@pytest.mark.parametrize("null_threshold", [None, "-1e9"])  # the chosen threshold; one that always answers ""
def test_the_cards_decode_code_gives_the_toolkits_answer(v2_run, tmp_path, null_threshold):
    """transformers 5 has no question-answering pipeline: the card's code decodes in plain
    transformers, windows and null threshold included, and must answer what `predict` answers."""
    import contextlib
    import io
    import re

    import yaml

    export = tmp_path / "export"
    assert run_cli("export", str(v2_run), "--out", str(export)).returncode == 0
    if null_threshold is not None:  # as if dev had chosen it: the card and predict both read finetune.yaml
        config = yaml.safe_load((export / "finetune.yaml").read_text())
        config["null_threshold"] = float(null_threshold)
        (export / "finetune.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
        from finetune.serve.card import usage
        from tasks import registry

        snippet = usage(config, registry.get(registry.load_config(export / "finetune.yaml")), export, export.name)
    else:
        snippet = (export / "README.md").read_text().split("```python\n")[1].split("```")[0]
    question = re.search(r'^question = "(.*)"$', snippet, re.M).group(1)
    context = re.search(r'^context = "(.*)"$', snippet, re.M).group(1)
    # a context longer than one window, so that the code's windows matter
    long_context = " ".join([context] * 6)
    snippet = snippet.replace(f'"{export.name}"', f'"{export}"').replace(f'context = "{context}"', f'context = "{long_context}"')
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet, "README.md", "exec"), {})
    result = run_cli("predict", str(export), "--question", question, "--context", long_context)
    assert result.returncode == 0, result.stderr[-2000:]
    answer = result.stdout.strip().split("\t")[0]
    assert printed.getvalue().strip() == ("" if answer == "(no answer)" else answer)
    if null_threshold is not None:
        assert answer == "(no answer)"


@pytest.mark.parametrize("fixture", ["tiny_gpt2", "tiny_llama"])
def test_decoders_answer_questions_with_position_0_as_no_answer(fixture, request, tmp_path):
    """GPT-2 and Llama have ...ForQuestionAnswering heads but no CLS: the first token of each window
    is the no-answer position, and windows are padded on the right so it stays first."""
    model = request.getfixturevalue(fixture)
    result = run_cli("train", "squad_v2", f"model={model}", f"output_dir={tmp_path}", "run_name=dec", "data.source=sample",
                     "train.max_steps=2", "train.batch_size=8", "data.max_seq_length=64", "doc_stride=16")
    assert result.returncode == 0, result.stderr[-3000:]
    predictions = json.loads((tmp_path / "dec" / "predictions.json").read_text())
    assert len(predictions) == 24
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(tmp_path / "dec" / "checkpoints" / "best").padding_side == "right"
