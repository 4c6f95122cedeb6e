"""train.report_to: accelerate's trackers get the config, losses, learning rate, throughput, dev
metrics and the run's summary. TensorBoard (a test dependency) is read back from its event files;
the other trackers are accelerate's, checked for name and installation before anything runs."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli, tiny_args

from finetune.errors import InputError
from finetune.run import trackers


def _scalars(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = sorted(folder.rglob("events.out.tfevents.*"))
    assert files, f"no event file under {folder}"
    values = {}
    for path in files:
        events = EventAccumulator(str(path))
        events.Reload()
        for tag in events.Tags()["scalars"]:
            values[tag] = [(e.step, e.value) for e in events.Scalars(tag)]
    return values


def test_tensorboard_gets_losses_lr_throughput_dev_metrics_and_the_summary(tiny_bert, sentiment_data, tmp_path):
    result = run_cli("train", "sst2", *tiny_args(sentiment_data, tiny_bert, tmp_path, train__report_to="tensorboard",
                                                 train__epochs=2, train__log_every=2))
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "tiny"
    scalars = _scalars(run)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    train_lines = [r for r in log if "loss" in r and "eval" not in r]
    evals = [r for r in log if "eval" in r]
    assert len(train_lines) >= 2 and len(evals) >= 2
    # epochs trained so far, as a float: a training line and the evaluation at the same step agree
    # (the evaluation at an epoch's end used to say the next epoch)
    at_step = {r["step"]: r["epoch"] for r in train_lines}
    assert [r["epoch"] for r in evals] == [at_step[r["step"]] for r in evals] == [1.0, 2.0]
    assert [r["epoch"] for r in log] == sorted(r["epoch"] for r in log)
    for key in ("loss", "lr", "samples_per_s", "tokens_per_s"):  # what log.jsonl says, step by step
        assert [s for s, _ in scalars[f"train/{key}"]] == [r["step"] for r in train_lines], key
        assert [v for _, v in scalars[f"train/{key}"]] == pytest.approx([r[key] for r in train_lines], rel=1e-6), key
    for key in ("accuracy", "loss"):
        assert scalars[f"eval/{key}"] == [(r["step"], pytest.approx(r["eval"][key], rel=1e-6)) for r in evals], key
    summary = json.loads((run / "metrics.json").read_text())
    assert scalars["summary/best_accuracy"] == [(summary["steps"], pytest.approx(summary["metrics"]["accuracy"]))]
    assert scalars["summary/train_seconds"][0][1] == pytest.approx(summary["train_seconds"])


def test_an_unknown_or_missing_tracker_is_named_with_the_fix(monkeypatch):
    with pytest.raises(InputError, match=r"unknown tracker neptune\. Trackers: tensorboard, wandb, mlflow"):
        trackers.names("neptune")
    monkeypatch.setattr("accelerate.tracking.get_available_trackers", lambda: [])
    with pytest.raises(InputError, match=r"wandb, mlflow is not installed\. Fix: pip install wandb mlflow"):
        trackers.names("wandb,mlflow")
    assert trackers.names("none") == [] and trackers.names("") == []


def test_a_missing_tracker_exits_2_before_training(tiny_bert, sentiment_data, tmp_path):
    import importlib.util

    missing = next((n for n in ("swanlab", "clearml", "aim", "dvclive") if importlib.util.find_spec(n) is None), None)
    if missing is None:
        pytest.fail("every candidate tracker is installed here: pick another that is not")
    result = run_cli("train", "sst2", *tiny_args(sentiment_data, tiny_bert, tmp_path, train__report_to=missing))
    assert result.returncode == 2 and f"pip install {missing}" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "tiny" / "metrics.json").exists()
