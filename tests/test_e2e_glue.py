"""End to end on the packaged MiniLM and the real GLUE files from FINETUNE_DATA.

The bounds were calibrated on this machine (2 CPU cores, torch 2.13 CPU): SST-2 reached 0.787 dev
accuracy (0.796 since the classifier mean-pools, pooling=auto) and STS-B (in the GLUE batch test) a
Pearson correlation of 0.583 with exactly these settings; the bounds leave room for a different CPU's float rounding, and sit far above chance
(0.51 / 0.0).
"""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from finetune.config.schema import CONFIG_DIR
from finetune.data import splits as data_io
from tasks import registry
from tasks.registry import load_config

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
    run, summary = _train("sst2", tmp_path, real_data, "data.max_train_samples=2000", "train.epochs=1")
    assert summary["train_examples"] == 2000 and summary["steps"] == 63
    # Measured: 0.790 in fp32 with sst2.yaml's recipe (lr 2e-4, layer_lr_decay 0.8); bf16 seeds 42-44:
    # 0.790 / 0.812 / 0.814. The old lr 3e-5 stayed near chance (0.539).
    assert summary["metrics"]["accuracy"] >= 0.75, summary["metrics"]
    assert summary["data"]["validation"]["rows"] == 872 and summary["data"]["validation"]["origin"] == "file"

    # The export loads with plain transformers and its pipeline predicts what the toolkit predicted.
    # MiniLM mean-pools (pooling=auto): the folder's mean_pooling.py runs only when trusted.
    export = tmp_path / "export"
    assert run_cli("export", str(run), "--out", str(export)).returncode == 0
    assert json.loads((export / "config.json").read_text())["model_type"] == "finetune_mean_pooling"
    from transformers import pipeline

    with pytest.raises(ValueError, match="trust_remote_code"):
        pipeline("text-classification", model=str(export), device="cpu")

    dev = data_io.read_file(load_config("sst2").data, str(real_data / "glue/SST-2/dev.tsv"), "validation")[0]
    toolkit = [line.split("\t")[1] for line in (run / "predictions.tsv").read_text().splitlines()[1:]]
    classify = pipeline("text-classification", model=str(export), device="cpu", trust_remote_code=True)
    n = 200
    piped = [p["label"] for p in classify(dev["sentence"][:n], batch_size=32)]
    # the model says negative / positive (label_names); GLUE's files keep 0 / 1
    assert piped == [{"0": "negative", "1": "positive"}[label] for label in toolkit[:n]]


def test_glue_batch_rte_mrpc_stsb_killed_and_resumed(real_data, tmp_path):
    """`python -m finetune glue` over three real tasks, killed in the middle of STS-B and run again:
    MRPC is skipped, STS-B resumes from its step-50 checkpoint and still reaches its bound, RTE runs,
    and the table, the chart and the leaderboard files cover all three. STS-B uses the settings of
    the calibration in the module docstring (2,000 pairs, 1 epoch, batch 16, lr 1e-4: Pearson 0.583 measured); MRPC and
    RTE train on 200 pairs for one epoch, enough for the batch's mechanics but not for a bound."""
    out = tmp_path / "glue"
    args = ["--tasks", "rte,mrpc,stsb", "--out", str(out), "train.eval_every=null", "data.max_predict_samples=300",
            "mrpc.data.max_train_samples=200", "mrpc.train.epochs=1", "rte.data.max_train_samples=200",
            "rte.train.epochs=1", "stsb.data.max_train_samples=2000", "stsb.train.epochs=1", "stsb.train.lr=1e-4",
            "stsb.train.batch_size=16", "stsb.train.save_every=50"]
    env = {"FINETUNE_DATA": str(real_data)}
    killed = run_cli("glue", *args, env={**env, "FINETUNE_TEST_KILL_AT_STEP": "60"}, timeout=900)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert (out / "tasks/mrpc.json").is_file() and not (out / "tasks/stsb.json").exists()
    resumed = run_cli("glue", *args, env=env, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "mrpc: done in an earlier run, skipped" in resumed.stdout
    assert "Resuming from" in resumed.stdout and "(step 50," in resumed.stdout

    result = json.loads((out / "results.json").read_text())
    tasks = {r["task"]: r for r in result["tasks"]}
    assert list(tasks) == ["mrpc", "stsb", "rte"] and all(r["counted"] for r in tasks.values())
    assert tasks["stsb"]["metrics"]["pearson"] >= 0.5 and tasks["stsb"]["metrics"]["spearman"] >= 0.5, tasks["stsb"]
    assert tasks["stsb"]["train_examples"] == 2000 and tasks["mrpc"]["train_examples"] == 200
    assert tasks["rte"]["dev_examples"] == 277 and tasks["mrpc"]["dev_examples"] == 408
    assert all(split["origin"] == "file" for r in tasks.values() for split in r["data"].values())
    assert result["glue_tasks"] == ["mrpc", "stsb", "rte"] and len(result["left_out"]) == 6
    table = (out / "results.md").read_text()
    for name in ("| MRPC |", "| STS-B |", "| RTE |", "**GLUE score:", "Not for the leaderboard"):
        assert name in table
    assert (out / "scores.png").stat().st_size > 10_000
    for name, labels in (("MRPC.tsv", {"0", "1"}), ("RTE.tsv", {"entailment", "not_entailment"}), ("STS-B.tsv", None)):
        rows = (out / "submission" / name).read_text().splitlines()
        assert rows[0] == "index\tprediction" and len(rows) == 1 + 300
        values = [row.split("\t")[1] for row in rows[1:]]
        assert set(values) <= labels if labels else all(-1 < float(v) < 6 for v in values)
