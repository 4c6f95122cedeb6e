"""multi_label=true: binary cross-entropy by hand, scikit-learn's metrics and the threshold search,
a tiny run end to end (JSON Lines lists and TSV strings), the export that pipeline(top_k=None)
reads with a sigmoid a label, and bad rows and keys exiting 2."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch
import yaml
from conftest import NEGATIVE, NEUTRAL, POSITIVE
from sklearn.metrics import f1_score

from finetune.cli import main
from tasks import multi_label


def test_loss_by_hand_averages_over_every_pair():
    logits, targets = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]])
    by_hand = math.log(2) + math.log(1 + math.exp(2))
    assert float(multi_label.loss(logits, targets)) == pytest.approx(by_hand)
    mean = torch.nn.BCEWithLogitsLoss()(logits, targets)
    assert float(multi_label.loss(logits, targets) / targets.numel()) == pytest.approx(float(mean))


def test_scores_and_the_threshold_search_by_hand():
    labels = ["a", "b"]
    probabilities = np.array([[0.9, 0.4], [0.2, 0.7], [0.6, 0.35]])
    gold = np.array([[1, 1], [0, 1], [1, 0]])
    scores = multi_label.score(probabilities, gold, labels, 0.5)
    # at 0.5: predicted [1,0],[0,1],[1,0]: tp 3, fp 0, fn 1 -> micro F1 6/7; subset accuracy 2/3
    assert scores["micro_f1"] == pytest.approx(6 / 7) and scores["subset_accuracy"] == pytest.approx(2 / 3)
    assert scores["f1_a"] == 1.0 and scores["f1_b"] == pytest.approx(2 / 3)
    assert scores["macro_f1"] == pytest.approx((1.0 + 2 / 3) / 2)
    # at 0.4 the first row's b is found too and nothing is wrong: micro F1 1.0; 0.4 is the grid value nearest 0.5 with it
    assert scores["best_micro_f1"] == 1.0 and scores["best_threshold"] == 0.4
    assert f1_score(gold, (probabilities >= 0.4).astype(int), average="micro") == 1.0
    # each label's own: a is right for any cut in (0.2, 0.6] (0.5 is nearest 0.5), b only in (0.35, 0.4]
    assert scores["best_threshold_a"] == 0.5 and scores["best_threshold_b"] == 0.4
    assert scores["best_per_label_micro_f1"] == 1.0
    assert multi_label.chosen_threshold(scores, "per_label") == {"threshold": [0.5, 0.4]}
    assert multi_label.chosen_threshold(scores, "global") == {"threshold": 0.4}
    assert multi_label.chosen_threshold(scores, "off") == {}
    # a threshold a label decides each label on its own
    decoded = multi_label.decode(np.log(probabilities / (1 - probabilities)), labels, [0.5, 0.4])
    assert [d["labels"] for d in decoded] == [["a", "b"], ["b"], ["a"]]


def _rows(n: int, seed: int) -> list[dict]:
    """Sentences with any of two properties: 'pos' (a positive word) and 'neg' (a negative word)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        pos, neg = rng.random() < 0.5, rng.random() < 0.5
        words = rng.choices(NEUTRAL, k=3) + (rng.choices(POSITIVE, k=1) if pos else []) + (rng.choices(NEGATIVE, k=1) if neg else [])
        rng.shuffle(words)
        rows.append({"sentence": " ".join(words), "labels": [x for x, on in (("neg", neg), ("pos", pos)) if on]})
    return rows


def _config(tmp_path, tiny_bert, layout: str) -> str:
    files = {}
    for split, n, seed in (("train", 320, 1), ("dev", 24, 2)):
        rows = _rows(n, seed)
        if layout == "jsonl":
            path = tmp_path / f"{split}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        else:
            path = tmp_path / f"{split}.tsv"
            path.write_text("sentence\tlabels\n" + "".join(f"{r['sentence']}\t{'|'.join(r['labels'])}\n" for r in rows))
        files[split] = str(path)
    config = {"task": "properties", "adapter": "classification", "model": str(tiny_bert),
              "data": {"train": files["train"], "validation": files["dev"], "max_seq_length": 32},
              "train": {"epochs": 8, "batch_size": 16, "lr": 3e-3, "warmup_ratio": 0.0, "eval_every": None},
              "text_column": "sentence", "label_column": "labels", "multi_label": True, "primary_metric": "micro_f1"}
    path = tmp_path / "properties.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.mark.parametrize("layout", ["jsonl", "tsv"])
def test_a_tiny_multi_label_run_exports_for_pipeline_top_k_none(layout, tiny_bert, tmp_path, capsys):
    config = _config(tmp_path, tiny_bert, layout)
    assert main(["train", config, f"output_dir={tmp_path}", "run_name=ml"]) == 0, capsys.readouterr().err
    run = tmp_path / "ml"
    metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    assert {"micro_f1", "macro_f1", "subset_accuracy", "f1_neg", "f1_pos", "best_micro_f1", "best_threshold"} <= set(metrics)
    # "neg" is learnt at once (dev F1 1.0); always answering both labels would score micro F1 0.67 here
    assert metrics["best_micro_f1"] > 0.8, metrics
    assert "neg" in (run / "predictions.report.txt").read_text()
    export = tmp_path / "export"
    assert main(["export", str(run), "--out", str(export)]) == 0
    assert json.loads((export / "config.json").read_text())["problem_type"] == "multi_label_classification"
    assert yaml.safe_load((export / "finetune.yaml").read_text())["threshold"] == metrics["best_threshold"]
    per_label = tmp_path / "export-per-label"
    assert main(["train", config, f"output_dir={tmp_path}", "run_name=ml2", "tune_threshold=per_label", "train.epochs=1"]) == 0
    assert main(["export", str(tmp_path / "ml2"), "--out", str(per_label)]) == 0
    chosen = json.loads((tmp_path / "ml2" / "metrics.json").read_text())["metrics"]
    assert yaml.safe_load((per_label / "finetune.yaml").read_text())["threshold"] == [chosen["best_threshold_neg"],
                                                                                       chosen["best_threshold_pos"]]

    from transformers import pipeline

    header, *lines = (run / "predictions.tsv").read_text().splitlines()
    assert header.split("\t") == ["index", "prediction", "label", "p_neg", "p_pos"]
    sentences = [r["sentence"] for r in _rows(24, 2)]
    pipe = pipeline("text-classification", model=str(export), top_k=None)
    for sentence, line in zip(sentences[:5], lines[:5]):
        scores = {s["label"]: s["score"] for s in pipe([sentence])[0]}
        _, _, _, p_neg, p_pos = line.split("\t")
        assert scores["neg"] == pytest.approx(float(p_neg), abs=1e-4) and scores["pos"] == pytest.approx(float(p_pos), abs=1e-4)
    # predict uses the exported (dev-chosen) threshold, and the score command reads the file back
    assert main(["predict", str(export), "--text", sentences[0]]) == 0
    capsys.readouterr()
    assert main(["score", config, "labels=[neg, pos]", "--predictions", str(run / "predictions.tsv"), "--references",
                 yaml.safe_load(open(config))["data"]["validation"]]) == 0
    scored = json.loads(capsys.readouterr().out)["metrics"]
    for key in ("micro_f1", "macro_f1", "subset_accuracy", "f1_neg", "f1_pos"):  # the file holds sets, not scores
        assert scored[key] == pytest.approx(metrics[key]), key


def test_an_unknown_label_in_a_row_exits_2_naming_the_line(tiny_bert, tmp_path, capsys):
    config = _config(tmp_path, tiny_bert, "jsonl")
    dev = tmp_path / "dev.jsonl"
    lines = dev.read_text().splitlines()
    lines[2] = json.dumps({"sentence": "the film", "labels": ["pos", "funny"]})
    dev.write_text("\n".join(lines) + "\n")
    assert main(["train", config, f"output_dir={tmp_path}", "labels=[neg, pos]"]) == 2
    err = capsys.readouterr().err
    assert "line 3" in err and "'funny'" in err, err


@pytest.mark.parametrize("extra, words", [
    (["primary_metric=accuracy"], "primary_metric"),
    (["threshold=1.5"], "threshold"),
    (["threshold=[0.5, 0.5, 0.5]"], "3 thresholds for 2 labels"),
    (["tune_threshold=best"], "tune_threshold"),
    (["regression=true"], "regression"),
])
def test_bad_multi_label_keys_exit_2(extra, words, tiny_bert, tmp_path, capsys):
    config = _config(tmp_path, tiny_bert, "jsonl")
    assert main(["train", config, f"output_dir={tmp_path}", *extra]) == 2
    assert words in capsys.readouterr().err
