"""End to end on the packaged MiniLM and the real GLUE files from FINETUNE_DATA.

The bounds were calibrated on this machine (2 CPU cores, torch 2.13 CPU): SST-2 reached 0.787 dev
accuracy and STS-B a Pearson correlation of 0.583 with exactly these settings; the bounds leave room
for a different CPU's float rounding, and sit far above chance (0.51 / 0.0).
"""

from __future__ import annotations

import json
import os

import pytest

from conftest import run_cli
from finetune import data as data_io
from finetune.config import CONFIG_DIR, load_config
from tasks import registry

pytestmark = pytest.mark.e2e

OFFLINE_GLUE = ["cola", "sst2", "mrpc", "stsb", "rte", "wnli"]  # train + dev + test on hand; QNLI: dev + test


@pytest.mark.parametrize("task", OFFLINE_GLUE + ["qnli"])
def test_every_real_glue_file_reads_and_checks(task, real_data, monkeypatch):
    """The configs' columns, headers and label lists fit the real files, row for row."""
    monkeypatch.setenv("FINETUNE_DATA", str(real_data))
    config = load_config(task, ["data.source=files"] + (["data.train=null"] if task == "qnli" else []))
    splits = {name: data_io.load_split(config.data, name) for name in ("train", "validation", "test")}
    splits = {k: v for k, v in splits.items() if v is not None}
    registry.get(config).setup_labels(splits)
    expected = json.loads((CONFIG_DIR.parent / "tests" / "glue_rows.json").read_text())[task]
    assert {k: len(v.dataset) for k, v in splits.items()} == expected


def _train(task, tmp_path, real_data, *overrides):
    result = run_cli("train", task, f"output_dir={tmp_path}", f"run_name={task}", "data.source=files",
                     "train.eval_every=null", *overrides, env={"FINETUNE_DATA": str(real_data)}, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp_path / task, json.loads((tmp_path / task / "metrics.json").read_text())


def test_sst2_minilm_first_2000_sentences(real_data, tmp_path):
    run, summary = _train("sst2", tmp_path, real_data, "data.max_train_samples=2000", "train.epochs=1", "train.lr=1e-4")
    assert summary["train_examples"] == 2000 and summary["steps"] == 63
    assert summary["metrics"]["accuracy"] >= 0.75, summary["metrics"]
    assert summary["data"]["validation"]["rows"] == 872 and summary["data"]["validation"]["origin"] == "file"

    # The export loads with plain transformers and its pipeline predicts what the toolkit predicted.
    export = tmp_path / "export"
    assert run_cli("export", str(run), "--out", str(export)).returncode == 0
    from transformers import pipeline

    dev = data_io.read_file(load_config("sst2").data, str(real_data / "glue/SST-2/dev.tsv"), "validation")[0]
    toolkit = [line.split("\t")[1] for line in (run / "predictions.tsv").read_text().splitlines()[1:]]
    classify = pipeline("text-classification", model=str(export), device="cpu")
    n = 200
    piped = [p["label"] for p in classify(dev["sentence"][:n], batch_size=32)]
    assert piped == toolkit[:n]


def test_stsb_minilm_regression(real_data, tmp_path):
    _, summary = _train("stsb", tmp_path, real_data, "data.max_train_samples=2000", "train.epochs=1", "train.lr=1e-4",
                        "train.batch_size=16")
    assert summary["steps"] == 125
    assert summary["metrics"]["pearson"] >= 0.5, summary["metrics"]
    assert summary["metrics"]["spearman"] >= 0.5, summary["metrics"]
