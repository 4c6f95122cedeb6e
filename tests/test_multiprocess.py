"""Two processes (torchrun on CPU, gloo) give the run one process gives.

train.batch_size is the global batch (split across processes) and the loss is normalised over the
items of all processes, so with dropout off the two runs see the same gradients. The dev set has 25
rows, so the processes get uneven shares and gather_for_metrics must drop the padding duplicates.
"""

from __future__ import annotations

import json
import sys

import pytest
from conftest import run_cli, tiny_args

# `accelerate launch --cpu` starts ONE process whatever --num_processes says; torchrun starts two,
# and the toolkit joins them on CPU (devices.state). Each checks it is one of two, so a launcher
# that quietly runs a single process cannot pass these tests.
LAUNCH = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m"]


def _read(run):
    summary = json.loads((run / "metrics.json").read_text())
    predictions = (run / "predictions.tsv").read_text().splitlines()
    losses = [r["loss"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "loss" in r]
    return summary, predictions, losses


def test_two_processes_match_one(tiny_bert, sentiment_data, tmp_path):
    args = dict(train__eval_every=6)
    one = run_cli("train", "sst2", *tiny_args(sentiment_data, tiny_bert, tmp_path / "one", **args))
    two = run_cli("train", "sst2", *tiny_args(sentiment_data, tiny_bert, tmp_path / "two", **args), launcher=LAUNCH)
    assert one.returncode == 0, one.stderr[-3000:]
    assert two.returncode == 0, two.stderr[-3000:]
    s1, p1, l1 = _read(tmp_path / "one" / "tiny")
    s2, p2, l2 = _read(tmp_path / "two" / "tiny")
    assert len(p1) == len(p2) == 1 + 25  # every dev example exactly once
    assert p1 == p2
    assert (s1["processes"], s2["processes"]) == (1, 2)
    assert s1["best_step"] == s2["best_step"] and s1["steps"] == s2["steps"]
    for key, value in s1["metrics"].items():
        assert s2["metrics"][key] == pytest.approx(value, abs=1e-5), key
    assert l2 == pytest.approx(l1, abs=1e-5)  # the training losses, logging step by logging step

    # Evaluation alone under two processes: same metrics, same number of predictions.
    out = tmp_path / "eval2"
    evaluated = run_cli("evaluate", str(tmp_path / "one" / "tiny"), "--out", str(out), launcher=LAUNCH)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["accuracy"] == s1["metrics"]["accuracy"]
    assert metrics["loss"] == pytest.approx(s1["metrics"]["loss"], abs=1e-5)
    assert (out / "predictions.tsv").read_text().splitlines() == p1


def test_sigterm_to_one_process_stops_both_at_the_same_step(tiny_bert, sentiment_data, tmp_path):
    """Only rank 1 gets SIGTERM (after step 7): the processes agree, save step 8 together and stop;
    the rerun under two processes ends as an uninterrupted one-process run."""
    args = tiny_args(sentiment_data, tiny_bert, tmp_path / "two", train__eval_every=6, train__save_every=3)
    stopped = run_cli("train", "sst2", *args, launcher=LAUNCH, env={"FINETUNE_TEST_KILL_AT_STEP": "7:TERM@1"})
    assert stopped.returncode != 0
    assert stopped.stderr.count("SIGTERM at step 8: saved") == 2, stopped.stderr[-3000:]  # both processes
    checkpoints = tmp_path / "two" / "tiny" / "checkpoints"
    from finetune.run import checkpoint

    assert checkpoint.latest(checkpoints) == checkpoints / "step-8"
    assert sorted(p.name for p in (checkpoints / "step-8").glob("random_states_*")) == ["random_states_0.pkl",
                                                                                      "random_states_1.pkl"]
    resumed = run_cli("train", "sst2", *args, launcher=LAUNCH)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    one = run_cli("train", "sst2", *tiny_args(sentiment_data, tiny_bert, tmp_path / "one", train__eval_every=6,
                                              train__save_every=3))
    assert one.returncode == 0, one.stderr[-3000:]
    s1, p1, l1 = _read(tmp_path / "one" / "tiny")
    s2, p2, l2 = _read(tmp_path / "two" / "tiny")
    assert p1 == p2 and s1["steps"] == s2["steps"] == 48 and s2["processes"] == 2
    for key, value in s1["metrics"].items():
        assert s2["metrics"][key] == pytest.approx(value, abs=1e-5), key
    assert l2 == pytest.approx(l1, abs=1e-5)


@pytest.mark.parametrize("argv, asked", [
    (["/v/bin/python", "/v/bin/accelerate", "launch", "--num_processes", "2", "-m", "finetune", "train"], 2),
    (["/v/bin/python", "/v/bin/accelerate", "launch", "--num_processes=4", "x.py"], 4),
    (["/v/bin/python", "-m", "accelerate.commands.launch", "--num_processes", "3", "-m", "finetune"], 3),
    (["/v/bin/python", "/v/bin/accelerate", "launch", "-m", "finetune", "train"], None),  # accelerate's config decides
    (["/v/bin/python", "-m", "torch.distributed.run", "--nproc_per_node", "2"], None),
    (["bash", "-c", "launch --num_processes 2"], None),
])
def test_the_launchers_process_count_is_read_from_its_command_line(argv, asked):
    from finetune.engine.devices import processes_asked

    assert processes_asked(argv) == asked


def test_accelerate_launch_that_starts_one_of_two_processes_warns(tiny_bert, sentiment_data, tmp_path):
    # Without --multi_gpu, `accelerate launch --num_processes 2` runs one process on a machine
    # without a GPU, and used to say nothing about it.
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--num_machines", "1",
                "--mixed_precision", "no", "--dynamo_backend", "no", "-m"]
    result = run_cli("train", "sst2", *tiny_args(sentiment_data, tiny_bert, tmp_path, train__epochs=1),
                     launcher=launcher)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "tiny" / "metrics.json").read_text())["processes"] == 1
    assert result.stderr.count("warning: accelerate launch asked for 2 processes") == 1, result.stderr[-3000:]
    assert "--multi_gpu" in result.stderr and "torchrun --standalone --nproc_per_node 2" in result.stderr
