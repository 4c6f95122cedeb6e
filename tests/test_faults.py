"""Faults injected into real training runs: kills while a checkpoint is written, a failed write,
SIGTERM / SIGINT, a NaN loss; each must lose nothing a rerun cannot redo exactly."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, run_cli, tiny_args
from safetensors.torch import load_file

# The run the faulted ones are compared with: 48 steps (4 epochs of 12), checkpoints every 3
# steps (3 kept), an evaluation every 5, dropout on so that the RNG state matters too.
ARGS = dict(train__save_every=3, train__keep_last=3, train__eval_every=5)


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def _train_losses(run: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "loss" in r]


@pytest.fixture(scope="module")
def whole(tiny_bert_dropout, sentiment_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("whole")
    result = run_cli("train", "sst2", *tiny_args(sentiment_data, tiny_bert_dropout, out, **ARGS))
    assert result.returncode == 0, result.stderr[-3000:]
    return out / "tiny"


def assert_same_run(run: Path, whole: Path) -> None:
    """Metrics, losses at every logging step and final weights of an uninterrupted run."""
    a, b = _metrics(whole), _metrics(run)
    assert a["best_step"] == b["best_step"] and a["steps"] == b["steps"] == 48
    for key, value in a["metrics"].items():
        assert b["metrics"][key] == pytest.approx(value, abs=1e-6), key
    assert [s for s, _ in _train_losses(run)] == [s for s, _ in _train_losses(whole)]
    for (_, x), (_, y) in zip(_train_losses(run), _train_losses(whole)):
        assert x == pytest.approx(y, abs=1e-6)
    wa, wb = (load_file(str(r / "checkpoints" / "best" / "model.safetensors")) for r in (whole, run))
    for key in wa:
        torch.testing.assert_close(wb[key], wa[key], rtol=0, atol=1e-6, msg=key)


# -- a kill while a checkpoint is being written ------------------------------------------------------

@pytest.mark.parametrize("point, leftover", [
    ("step-6:files", ".tmp-step-6"),  # model, optimizer, RNG written; the state file not yet
    ("step-6:rename", ".tmp-step-6"),  # all written and flushed, not yet renamed into place
    ("best:rename", ".tmp-best"),  # the first best model (step 5), not yet in place
])
def test_kill_while_writing_a_checkpoint_resumes_from_the_last_whole_one(point, leftover, whole, tiny_bert_dropout,
                                                                         sentiment_data, tmp_path):
    args = tiny_args(sentiment_data, tiny_bert_dropout, tmp_path, **ARGS)
    killed = run_cli("train", "sst2", *args, env={"FINETUNE_TEST_KILL_DURING_SAVE": point})
    assert killed.returncode == -signal.SIGKILL
    checkpoints = tmp_path / "tiny" / "checkpoints"
    assert (checkpoints / leftover).is_dir()  # what the kill interrupted, never taken for a checkpoint
    if point.endswith(":files"):
        assert not (checkpoints / leftover / "trainer_state.json").exists()
    assert not (checkpoints / "step-6").exists() and not (tmp_path / "tiny" / "metrics.json").exists()

    resumed = run_cli("train", "sst2", *args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resuming from {checkpoints / 'step-3'} (step 3" in resumed.stdout
    assert not list(checkpoints.glob(".tmp-*")) and not list(checkpoints.glob(".old-*"))
    assert_same_run(tmp_path / "tiny", whole)


def test_a_kill_between_the_renames_of_best_puts_the_old_one_back(tmp_path, monkeypatch):
    """Replacing best/ moves the old one aside, then renames the new one in; a death between the
    two leaves no best/, and the next start restores the old one (never half of each)."""
    from finetune.run import checkpoint, fault_injection

    checkpoints = tmp_path / "checkpoints"
    best = checkpoints / "best"
    best.mkdir(parents=True)
    (best / "model.safetensors").write_text("old")
    tmp = checkpoint.tmp_dir(checkpoints, "best")
    tmp.mkdir()
    (tmp / "model.safetensors").write_text("new")

    class Killed(Exception):
        pass

    def die(name, point):
        if (name, point) == ("best", "rename"):
            raise Killed

    monkeypatch.setattr(fault_injection, "during_save", die)
    with pytest.raises(Killed):
        checkpoint.publish(tmp, best)
    assert not best.exists() and (checkpoints / ".old-best" / "model.safetensors").read_text() == "old"
    checkpoint.clean_partial(checkpoints)
    assert (best / "model.safetensors").read_text() == "old"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best"]


def test_a_damaged_checkpoint_is_not_taken_for_whole(tmp_path, capsys):
    """Every file's size is written beside the position; a file that differs (truncated, lost) makes
    the folder not a checkpoint, and resuming falls back to the one before."""
    from finetune.run import checkpoint

    checkpoints = tmp_path / "checkpoints"
    for step in (3, 6):
        folder = checkpoints / f"step-{step}"
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"x" * 100)
        (folder / "optimizer.bin").write_bytes(b"y" * 200)
        checkpoint.write_state(folder, {"global_step": step})
    assert checkpoint.latest(checkpoints) == checkpoints / "step-6"
    assert checkpoint.read_state(checkpoints / "step-6") == {"global_step": 6}  # the file list stays inside

    (checkpoints / "step-6" / "optimizer.bin").write_bytes(b"y" * 150)
    assert checkpoint.latest(checkpoints) == checkpoints / "step-3"
    assert "optimizer.bin has 150 bytes, 200 were written" in capsys.readouterr().err
    (checkpoints / "step-3" / "model.safetensors").unlink()
    assert checkpoint.latest(checkpoints) is None
    assert "model.safetensors is missing" in capsys.readouterr().err


# -- a failed write -------------------------------------------------------------------------------------

def test_a_failed_write_stops_the_run_and_keeps_the_previous_checkpoint(whole, tiny_bert_dropout, sentiment_data,
                                                                        tmp_path, monkeypatch, capsys):
    """The disk fills up halfway through the optimizer file of checkpoint step-6: the run stops
    (status 1) naming it, step-3 stays, the half-written copy is gone, and a rerun ends as an
    uninterrupted run would."""
    import accelerate.checkpointing

    from finetune import cli

    real_save = accelerate.checkpointing.save
    failed = []

    def save(obj, path, *args, **kwargs):
        if "step-6" in str(path) and str(path).endswith("optimizer.bin"):
            Path(path).write_bytes(b"\0" * 64)  # what got written before the disk was full
            failed.append(path)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(accelerate.checkpointing, "save", save)
    args = tiny_args(sentiment_data, tiny_bert_dropout, tmp_path, **ARGS)
    assert cli.main(["train", "sst2", *args]) == 1
    err = capsys.readouterr().err
    checkpoints = tmp_path / "tiny" / "checkpoints"
    assert failed and "could not write checkpoint step-6" in err and "No space left on device" in err
    assert f"The last complete checkpoint, {checkpoints / 'step-3'}" in err and "Traceback" not in err
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best", "step-3"]  # no half-written copy left

    monkeypatch.setattr(accelerate.checkpointing, "save", real_save)  # space freed
    resumed = run_cli("train", "sst2", *args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "(step 3," in resumed.stdout
    assert_same_run(tmp_path / "tiny", whole)


# -- SIGTERM / SIGINT -----------------------------------------------------------------------------------

def test_sigterm_mid_epoch_saves_at_the_step_boundary_and_resumes_exactly(whole, tiny_bert_dropout,
                                                                          sentiment_data, tmp_path):
    """SIGTERM arrives during step 8 (mid-epoch 1): step 8 finishes, is saved, and the run exits 143;
    the rerun continues from step 8 and ends as the uninterrupted run."""
    args = tiny_args(sentiment_data, tiny_bert_dropout, tmp_path, **ARGS)
    stopped = run_cli("train", "sst2", *args, env={"FINETUNE_TEST_KILL_AT_STEP": "7:TERM"})
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-3000:]
    checkpoints = tmp_path / "tiny" / "checkpoints"
    assert f"SIGTERM at step 8: saved {checkpoints / 'step-8'}" in stopped.stderr
    assert "Traceback" not in stopped.stderr and not (tmp_path / "tiny" / "metrics.json").exists()
    assert json.loads((checkpoints / "step-8" / "trainer_state.json").read_text())["batch_in_epoch"] == 8

    resumed = run_cli("train", "sst2", *args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resuming from {checkpoints / 'step-8'} (step 8" in resumed.stdout
    assert_same_run(tmp_path / "tiny", whole)


def test_ctrl_c_from_outside_saves_a_whole_checkpoint(tiny_bert, sentiment_data, tmp_path):
    """A real SIGINT at an arbitrary moment: exit 130 after a checkpoint at the step it names."""
    args = tiny_args(sentiment_data, tiny_bert, tmp_path, train__epochs=200, train__log_every=1, train__save_every=10**6)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    process = subprocess.Popen([sys.executable, "-m", "finetune", "train", "sst2", *args], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "tiny" / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and len(log.read_text().splitlines()) >= 3):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    step = int(stderr.split("SIGINT at step ")[1].split(":")[0])
    assert 3 <= step < 2400
    from finetune.run import checkpoint

    assert checkpoint.latest(tmp_path / "tiny" / "checkpoints") == tmp_path / "tiny" / "checkpoints" / f"step-{step}"


# -- a NaN loss --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def poisoned(tiny_bert, sentiment_data, tmp_path_factory) -> tuple[Path, Path, int]:
    """The tiny BERT with a NaN embedding for the word 'greeted', and the training data with one
    row using it: that row's loss is NaN, every other row's is finite."""
    from transformers import BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("poisoned")
    model, tokenizer = BertModel.from_pretrained(tiny_bert), BertTokenizerFast.from_pretrained(tiny_bert)
    with torch.no_grad():
        model.embeddings.word_embeddings.weight[tokenizer.convert_tokens_to_ids("greeted")] = float("nan")
    model.save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    lines = sentiment_data["train"].read_text().splitlines()
    lines.insert(40, "he greeted us\t1")  # file line 41
    train = folder / "train.tsv"
    train.write_text("\n".join(lines) + "\n")
    return folder / "model", train, 41


def test_a_nan_loss_stops_before_the_step_naming_the_row(poisoned, sentiment_data, tmp_path):
    model, train, line = poisoned
    data = {**sentiment_data, "train": train}
    result = run_cli("train", "sst2", *tiny_args(data, model, tmp_path, train__epochs=1, train__save_every=100))
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    message = result.stderr.split("stopped: ")[1]
    step = int(message.split("step ")[1].split(":")[0])
    assert "the loss or the gradient norm is not finite" in message
    assert f"Alone, these give a non-finite loss: {train}, line {line}; check those rows" in message
    checkpoints = tmp_path / "tiny" / "checkpoints"
    assert f"{checkpoints / f'step-{step - 1}'} holds the weights before this step" in message
    state = json.loads((checkpoints / f"step-{step - 1}" / "trainer_state.json").read_text())
    assert state["global_step"] == step - 1
    saved = load_file(str(checkpoints / f"step-{step - 1}" / "model.safetensors"))
    assert torch.isfinite(saved["classifier.weight"]).all()  # the bad step never reached the optimizer
    assert not (tmp_path / "tiny" / "metrics.json").exists()


def test_on_nan_loss_skip_skips_and_counts_those_steps(poisoned, sentiment_data, tmp_path):
    model, train, line = poisoned
    data = {**sentiment_data, "train": train}
    result = run_cli("train", "sst2", *tiny_args(data, model, tmp_path, train__on_nan_loss="skip"))
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "tiny"
    skipped = [r for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "skipped" in r]
    assert len(skipped) == 4 == _metrics(run)["skipped_steps"]  # the row is in one batch an epoch, 4 epochs
    assert all(r["examples"] == [f"{train}, line {line}"] for r in skipped)
    assert result.stderr.count("Skipped this step") == 4
    weights = load_file(str(run / "checkpoints" / "best" / "model.safetensors"))
    assert torch.isfinite(weights["classifier.weight"]).all()
    assert all(v == v for v in _metrics(run)["metrics"].values())  # no NaN reached the dev metrics
    # 97 rows, batches of 8: 13 steps an epoch, each counted (the schedule follows the step count).
    assert _metrics(run)["steps"] == 52
    losses = [loss for _, loss in _train_losses(run)]
    assert len(losses) == 7 and all(loss == loss for loss in losses)  # steps 8, 16, ..., 48, 52: no NaN logged


# -- train.auto_batch_size ----------------------------------------------------------------------------------

def test_auto_batch_size_finds_what_fits_and_keeps_the_batch(tiny_bert, sentiment_data, tmp_path, monkeypatch, capsys):
    """A model that runs out of memory above 4 examples a forward pass: batches of 16 train as 4
    micro-batches of 4, and the run equals the one with whole batches (same losses, same metrics)."""
    from transformers import BertForSequenceClassification

    from finetune import cli

    common = dict(train__batch_size=16, train__epochs=2, train__log_every=2, train__eval_every=3)
    assert cli.main(["train", "sst2", *tiny_args(sentiment_data, tiny_bert, tmp_path / "whole", **common)]) == 0
    real_forward = BertForSequenceClassification.forward
    widths = []

    def forward(self, input_ids=None, **kwargs):
        if self.training:
            widths.append(input_ids.shape[0])
            if input_ids.shape[0] > 4:  # the message CUDA gives, which accelerate recognises
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated in a test).")
        return real_forward(self, input_ids=input_ids, **kwargs)

    monkeypatch.setattr(BertForSequenceClassification, "forward", forward)
    capsys.readouterr()
    args = tiny_args(sentiment_data, tiny_bert, tmp_path / "auto", train__auto_batch_size="true", **common)
    assert cli.main(["train", "sst2", *args]) == 0
    out = capsys.readouterr().out
    assert "trying micro-batches of 8" in out and "trying micro-batches of 4" in out
    assert "auto_batch_size: micro-batches of 4, 4 a batch of 16." in out
    assert widths[:3] == [16, 8, 4] and max(widths[3:]) == 4  # the probes, then training never above 4
    whole, auto = tmp_path / "whole" / "tiny", tmp_path / "auto" / "tiny"
    assert _metrics(auto)["steps"] == _metrics(whole)["steps"] == 12  # 96 rows / 16 x 2 epochs
    assert [s for s, _ in _train_losses(auto)] == [s for s, _ in _train_losses(whole)]
    for (_, x), (_, y) in zip(_train_losses(auto), _train_losses(whole)):
        assert x == pytest.approx(y, rel=1e-5)
    for key, value in _metrics(whole)["metrics"].items():
        assert _metrics(auto)["metrics"][key] == pytest.approx(value, abs=1e-5), key
    state = json.loads((auto / "checkpoints" / "step-12" / "trainer_state.json").read_text())
    assert state["micro_batch_size"] == 4


def test_auto_batch_size_says_when_not_even_one_example_fits(tiny_bert, sentiment_data, tmp_path, monkeypatch, capsys):
    from transformers import BertForSequenceClassification

    from finetune import cli

    def forward(self, *args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated in a test).")

    monkeypatch.setattr(BertForSequenceClassification, "forward", forward)
    args = tiny_args(sentiment_data, tiny_bert, tmp_path, train__auto_batch_size="true")
    assert cli.main(["train", "sst2", *args]) == 1
    err = capsys.readouterr().err
    assert "even one example a step does not fit in memory" in err and "data.max_seq_length" in err


def test_a_log_line_torn_by_a_kill_is_dropped_on_resume(tmp_path):
    """A kill while appending to log.jsonl leaves half a line; resume keeps the whole lines up to
    its checkpoint and reads on."""
    from finetune.run.tracking import RunLog

    log = RunLog(tmp_path / "log.jsonl", True)
    for step in (2, 4, 6):
        log.write({"step": step, "loss": 1.0 / step})
    with log.path.open("a") as handle:
        handle.write('{"step": 8, "lo')
    assert [r["step"] for r in log.records()] == [2, 4, 6]
    log.truncate_after(4)
    assert log.path.read_text() == '{"step": 2, "loss": 0.5}\n{"step": 4, "loss": 0.25}\n'


def test_a_failed_log_write_stops_the_run_with_the_file_named(tiny_bert, sentiment_data, tmp_path, monkeypatch, capsys):
    from finetune import cli
    from finetune.run.tracking import RunLog

    real_write = RunLog.write

    def write(self, record):
        if record.get("step") == 16:
            raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(self.path))
        real_write(self, record)

    monkeypatch.setattr(RunLog, "write", write)
    args = tiny_args(sentiment_data, tiny_bert, tmp_path, train__save_every=6)
    assert cli.main(["train", "sst2", *args]) == 1
    err = capsys.readouterr().err
    run = tmp_path / "tiny"
    assert f"could not write into the run folder ({run / 'log.jsonl'}): Permission denied" in err
    assert f"The last complete checkpoint, {run / 'checkpoints' / 'step-12'}, is intact" in err


def test_only_errors_on_files_in_the_run_folder_count_as_failed_writes(tmp_path):
    """The whole training loop runs under the failed-write guard; an OSError on another file (the
    data, say) is not a write of the run's and keeps its own type and message."""
    from finetune.errors import RunStopped
    from finetune.run import faults

    run = tmp_path / "run"
    with pytest.raises(FileNotFoundError):
        with faults.writing("into the run folder", None, lambda: "kept.", inside=run):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(tmp_path / "data.tsv"))
    with pytest.raises(RunStopped, match=r"could not write into the run folder \(.*log.jsonl\): No space left"):
        with faults.writing("into the run folder", None, lambda: "kept.", inside=run):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(run / "log.jsonl"))
