"""The README's bring-your-own-data example: a CSV with its own column names and string labels."""

from __future__ import annotations

import json

from conftest import ROOT, run_cli
from transformers import AutoConfig


def test_own_csv_with_string_labels_trains_and_exports(tiny_bert, tmp_path):
    result = run_cli("train", str(ROOT / "examples/reviews/reviews.yaml"), f"model={tiny_bert}", f"output_dir={tmp_path}",
                     "run_name=reviews", "train.epochs=1", "data.max_seq_length=64")
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "reviews"
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["data"]["train"]["rows"] == 22 and summary["data"]["validation"]["rows"] == 8
    assert set(summary["metrics"]) == {"accuracy", "f1", "combined", "loss"}
    rows = [line.split("\t") for line in (run / "predictions.tsv").read_text().splitlines()[1:]]
    assert {row[2] for row in rows} <= {"negative", "positive"}  # index, prediction, label, p_negative, p_positive
    assert {row[1] for row in rows} <= {"negative", "positive"}

    export = tmp_path / "export"
    assert run_cli("export", str(run), "--out", str(export)).returncode == 0
    config = AutoConfig.from_pretrained(export)
    assert config.id2label == {0: "negative", 1: "positive"}
    assert config.label2id == {"negative": 0, "positive": 1}
