"""The training loop through the real command line, on a tiny BERT and tiny data."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import run_cli, tiny_args
from safetensors.torch import load_file


def _weights(run) -> dict[str, torch.Tensor]:
    return load_file(str(run / "checkpoints" / "best" / "model.safetensors"))


def _metrics(run) -> dict:
    return json.loads((run / "metrics.json").read_text())


def test_run_folder_layout(tiny_bert, sentiment_data, tmp_path):
    result = run_cli("train", "sst2", *tiny_args(sentiment_data, tiny_bert, tmp_path, train__keep_last=1, train__save_every=3))
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "tiny"
    assert f"Run folder: {run}" in result.stdout
    assert "Dev metrics (best" in result.stdout
    for name in ("config.yaml", "metrics.json", "log.jsonl", "predictions.tsv", "curves.png"):
        assert (run / name).is_file(), name
    summary = _metrics(run)
    assert summary["task"] == "sst2" and summary["primary"] == "accuracy"
    assert summary["steps"] == 48  # 96 rows / batch 8 = 12 steps an epoch, 4 epochs
    assert summary["train_examples"] == 96 and summary["epochs_completed"] == 4
    assert 0.0 <= summary["metrics"]["accuracy"] <= 1.0
    # The tiny task is learnable: the best dev accuracy beats chance clearly.
    assert summary["metrics"]["accuracy"] >= 0.8
    rows = (run / "predictions.tsv").read_text().splitlines()
    assert rows[0] == "index\tprediction\tlabel\tp_negative\tp_positive" and len(rows) == 1 + 25
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    train_lines = [r for r in log if "loss" in r]
    assert [r["step"] for r in train_lines] == [8, 16, 24, 32, 40, 48]
    assert all(r["samples_per_s"] > 0 and r["tokens_per_s"] > 0 for r in train_lines)
    assert [r["step"] for r in log if "eval" in r] == [12, 24, 36, 48]  # each epoch end
    # keep_last=1: only the final step checkpoint survives rotation, plus best/
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best", "step-48"]
    # What the run said it would hold, against what it holds (metrics.json's size is the folder's)
    from finetune.run import disk

    line = next(line for line in result.stdout.splitlines() if line.startswith("Disk: a checkpoint is about"))
    assert "keeping the last 1 (train.keep_last)" in line, line
    size = disk.folder_bytes(run) / disk.MB
    assert summary["run_folder_mb"] == pytest.approx(size, abs=0.05)
    assert f"Run folder: {run} ({size:,.0f} MB)" in result.stdout
    # The run says how its process's malloc was set (finetune/engine/allocator.py).
    assert summary["allocator"] == "oneDNN cache 16, malloc as is"
    # The resolved config reproduces the run: it names the tiny model and data.
    saved = (run / "config.yaml").read_text()
    assert str(tiny_bert) in saved and "max_seq_length: 32" in saved


def _first_step_gradients(config_args: list[str]) -> dict[str, torch.Tensor]:
    """The gradients the loop accumulates for its first optimizer step (the step itself skipped)."""
    from finetune.engine.loop import Trainer
    from finetune.engine.progress import Meter, Position
    from finetune.run.faults import SignalStop
    from tasks.registry import load_config

    trainer = Trainer(load_config("sst2", config_args))
    trainer.setup()
    trainer.optimizer.step = lambda *a, **k: None
    trainer.optimizer.zero_grad = lambda *a, **k: None
    trainer.sampler.set_epoch(0)
    batches = iter(trainer.train_loader)
    window = [(next(batches), False) for _ in range(trainer.config.train.grad_accum)]
    trainer.train_step(window, Meter(trainer.accelerator.device), Position(), SignalStop())
    return {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}


def test_gradient_accumulation_equals_one_big_batch(tiny_bert, sentiment_data, tmp_path):
    """5 examples as one batch, or as micro-batches of 3 + 2: the same gradient, because the loss is
    normalised over the whole accumulated batch. A mean per micro-batch would weigh the 2 like the 3."""
    common = dict(data__max_train_samples=5, train__group_by_length="false", train__max_grad_norm="null")
    one = _first_step_gradients(tiny_args(sentiment_data, tiny_bert, tmp_path / "a", train__batch_size=5, **common))
    two = _first_step_gradients(tiny_args(sentiment_data, tiny_bert, tmp_path / "b", train__batch_size=3,
                                          train__grad_accum=2, **common))
    assert one.keys() == two.keys() and len(one) > 10
    for key in one:
        torch.testing.assert_close(one[key], two[key], rtol=1e-4, atol=1e-7, msg=key)
    assert max(g.abs().max().item() for g in one.values()) > 1e-3  # the gradients are not trivially zero


def test_kill_and_resume_gives_the_same_run(tiny_bert_dropout, sentiment_data, tmp_path):
    """SIGKILL after step 7 (checkpoints at 3 and 6, mid-epoch); resume=auto redoes step 7 from the
    step-6 checkpoint and ends with the same metrics and weights as an uninterrupted run, dropout included."""
    args = dict(train__save_every=3, train__keep_last=3, train__eval_every=5)
    whole = run_cli("train", "sst2", *tiny_args(sentiment_data, tiny_bert_dropout, tmp_path / "whole", **args))
    assert whole.returncode == 0, whole.stderr[-3000:]

    killed = run_cli("train", "sst2", *tiny_args(sentiment_data, tiny_bert_dropout, tmp_path / "cut", **args),
                     env={"FINETUNE_TEST_KILL_AT_STEP": "7"})
    assert killed.returncode == -9
    cut = tmp_path / "cut" / "tiny"
    assert not (cut / "metrics.json").exists()
    assert sorted(p.name for p in (cut / "checkpoints").iterdir() if p.name.startswith("step")) == ["step-3", "step-6"]

    resumed = run_cli("train", "sst2", *tiny_args(sentiment_data, tiny_bert_dropout, tmp_path / "cut", **args))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming from" in resumed.stdout and "step 6" in resumed.stdout
    a, b = _metrics(tmp_path / "whole" / "tiny"), _metrics(cut)
    assert a["best_step"] == b["best_step"] and a["steps"] == b["steps"] == 48
    for key, value in a["metrics"].items():
        assert b["metrics"][key] == pytest.approx(value, abs=1e-6), key
    wa, wb = _weights(tmp_path / "whole" / "tiny"), _weights(cut)
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=0, atol=1e-6, msg=key)
    # The log was cut back to the checkpoint and redone: one line per logging step, no duplicates.
    def train_lines(run):
        return [r for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "loss" in r]

    resumed_log, whole_log = train_lines(cut), train_lines(tmp_path / "whole" / "tiny")
    assert [r["step"] for r in resumed_log] == [r["step"] for r in whole_log] == [8, 16, 24, 32, 40, 48]
    for x, y in zip(resumed_log, whole_log):
        assert x["loss"] == pytest.approx(y["loss"], abs=1e-6)


def test_resume_never_refuses_an_existing_run(tiny_bert, sentiment_data, tmp_path):
    args = tiny_args(sentiment_data, tiny_bert, tmp_path, train__max_steps=2)
    assert run_cli("train", "sst2", *args).returncode == 0
    again = run_cli("train", "sst2", *args, "resume=never")
    assert again.returncode == 2
    assert "exists already" in again.stderr and "Traceback" not in again.stderr


def test_compiled_training_matches_eager_and_saves_plain_keys(tiny_bert, sentiment_data, tmp_path):
    """train.compile compiles the module in place: same losses, and checkpoint keys without _orig_mod."""
    common = dict(train__epochs=1, train__eval_every="null", train__log_every=4)
    eager = run_cli("train", "sst2", *tiny_args(sentiment_data, tiny_bert, tmp_path / "eager", **common))
    compiled = run_cli("train", "sst2", *tiny_args(sentiment_data, tiny_bert, tmp_path / "compiled",
                                                   train__compile="aot_eager", **common))
    assert eager.returncode == 0 and compiled.returncode == 0, compiled.stderr[-3000:]

    def losses(out):
        return [r["loss"] for r in map(json.loads, (out / "tiny" / "log.jsonl").read_text().splitlines()) if "loss" in r]

    assert losses(tmp_path / "compiled") == pytest.approx(losses(tmp_path / "eager"), abs=1e-5)
    keys = set(_weights(tmp_path / "compiled" / "tiny"))
    assert keys == set(_weights(tmp_path / "eager" / "tiny")) and not any("_orig_mod" in k for k in keys)


def test_an_unknown_compile_backend_is_exit_2(tiny_bert, sentiment_data, tmp_path):
    result = run_cli("train", "sst2", *tiny_args(sentiment_data, tiny_bert, tmp_path, train__compile="turbo"))
    assert result.returncode == 2 and "train.compile=turbo" in result.stderr and "inductor" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "tiny").exists()


def test_keep_last_0_leaves_best_only_and_a_rerun_cannot_train_over_it(tiny_bert, sentiment_data, tmp_path):
    args = tiny_args(sentiment_data, tiny_bert, tmp_path, train__keep_last=0, train__save_every=3, train__epochs=1)
    result = run_cli("train", "sst2", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "tiny"
    assert "one while training, none once finished (train.keep_last=0)" in result.stdout
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best"]
    from finetune.run import disk

    assert _metrics(run)["run_folder_mb"] == pytest.approx(disk.folder_bytes(run) / disk.MB, abs=0.05)
    best = (run / "checkpoints" / "best" / "model.safetensors").read_bytes()
    again = run_cli("train", "sst2", *args)
    assert again.returncode == 2 and "has finished and kept no step checkpoint (train.keep_last=0)" in again.stderr
    assert (run / "checkpoints" / "best" / "model.safetensors").read_bytes() == best


def test_disk_plan_matches_the_files_a_checkpoint_holds(tiny_bert, tiny_gpt2, tmp_path):
    """The estimate against accelerate's own files: weights (GPT-2's tied embeddings once), AdamW's moments."""
    from accelerate import Accelerator
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from finetune.run import disk

    for name, path in (("bert", tiny_bert), ("gpt2", tiny_gpt2)):
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
        tokenizer = AutoTokenizer.from_pretrained(path)
        accelerator = Accelerator(cpu=True)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        model, optimizer = accelerator.prepare(model, optimizer)
        model(**tokenizer(["a b c"], return_tensors="pt"), labels=torch.tensor([1])).loss.backward()
        optimizer.step()  # the moments exist only after a step
        folder = tmp_path / name
        accelerator.save_state(str(folder))
        plan = disk.plan(model, tokenizer)
        weights, moments = (folder / "model.safetensors").stat().st_size, (folder / "optimizer.bin").stat().st_size
        assert plan.weights == pytest.approx(weights, rel=0.03), name
        assert plan.optimizer == pytest.approx(moments, rel=0.05), name
