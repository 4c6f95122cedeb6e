"""The Python API (finetune/api.py): the commands as functions that return what the command line
prints and raise a typed error instead of exiting; on a tiny BERT and the tiny sentiment data."""

from __future__ import annotations

import json

import pytest
from conftest import tiny_args

import finetune
from finetune import InputError, evaluate, export, predict, train
from finetune.api import as_overrides


def _overrides(sentiment_data, tiny_bert, out, **extra) -> dict:
    """tiny_args as the dict a notebook user would write (values typed, not strings)."""
    args = dict(arg.split("=", 1) for arg in tiny_args(sentiment_data, tiny_bert, out))
    args.update({"train.epochs": 2, "train.lr": 1e-2, "data.max_seq_length": 32, "train.eval_every": None, **extra})
    return args


def test_overrides_from_a_dict_are_what_the_command_line_would_say():
    assert as_overrides({"train.lr": 1e-4, "labels": ["neg", "pos"], "train.eval_every": None, "lora.enabled": True,
                         "run_name": "001"}) == [
        "train.lr=0.0001", 'labels=["neg", "pos"]', "train.eval_every=null", "lora.enabled=true", "run_name=001"]
    assert as_overrides(["train.lr=1e-4"]) == ["train.lr=1e-4"] and as_overrides(None) == []
    with pytest.raises(TypeError, match="not one string"):
        as_overrides("train.lr=1e-4")


def test_train_evaluate_predict_export_return_their_results(tiny_bert, sentiment_data, tmp_path):
    run = train("sst2", _overrides(sentiment_data, tiny_bert, tmp_path / "runs"))
    assert run.folder == tmp_path / "runs" / "tiny"
    assert run.summary == json.loads((run.folder / "metrics.json").read_text())
    assert run.metrics == run.summary["metrics"] and 0 <= run.metrics["accuracy"] <= 1

    metrics = evaluate(run.folder)
    assert metrics["accuracy"] == run.metrics["accuracy"]

    texts = ["the film was great", "awful and dull"]
    labels = predict(run.folder, text=texts)
    # the run's labels (--text prints their names), with the probability of each class
    assert len(labels) == 2 and {p["label"] for p in labels} <= {"0", "1"}
    for p in labels:
        assert set(p["probabilities"]) == {"0", "1"} and p["score"] == max(p["probabilities"].values())
        assert sum(p["probabilities"].values()) == pytest.approx(1.0)
    folder = export(run.folder, tmp_path / "exported")
    assert folder == tmp_path / "exported" and (folder / "config.json").is_file()
    assert predict(folder, text=texts) == labels  # the export predicts as the run


def test_bad_input_raises_the_error_the_command_line_prints(tiny_bert, sentiment_data, tmp_path):
    with pytest.raises(InputError, match=r"'train\.batchsize'.*did you mean train\.batch_size"):
        train("sst2", {**_overrides(sentiment_data, tiny_bert, tmp_path), "train.batchsize": 8})
    with pytest.raises(InputError, match="does not take --question"):
        predict("sst2", question="Who?")
    assert not (tmp_path / "tiny").exists()


def test_the_api_is_imported_on_first_use():
    import subprocess
    import sys

    loaded = subprocess.run([sys.executable, "-c", "import sys, finetune; print('torch' in sys.modules)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "False"
    assert finetune.train is train and finetune.Run.__name__ == "Run"
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        finetune.trian
