"""The GLUE batch (`python -m finetune glue`): score arithmetic, leaderboard files, which data a task
uses, and whole batches on a tiny BERT over GLUE-layout files written here (resume, failures,
--eval-only)."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, sentiment_rows, write_tsv

from finetune.apps.glue import batch as glue
from finetune.apps.glue import submission as glue_submission
from finetune.apps.glue.scores import TASK_SCORE_METRICS, glue_score, task_score
from finetune.errors import InputError
from tasks.registry import load_config

# -- arithmetic ----------------------------------------------------------------------------------------------
HAND_MADE = {  # fractions, as runs report them
    "cola": {"matthews": 0.5, "accuracy": 0.8},
    "sst2": {"accuracy": 0.9},
    "mrpc": {"f1": 0.88, "accuracy": 0.82},
    "stsb": {"pearson": 0.86, "spearman": 0.84},
    "qqp": {"f1": 0.86, "accuracy": 0.9},
    "mnli": {"accuracy": 0.83, "mismatched_accuracy": 0.84},
    "qnli": {"accuracy": 0.9},
    "rte": {"accuracy": 0.65},
    "wnli": {"accuracy": 0.56},
}
# Worked by hand: CoLA counts Matthews only, MRPC/QQP average F1 and accuracy, STS-B Pearson and
# Spearman, MNLI matched and mismatched.
EXPECTED = {"cola": 50.0, "sst2": 90.0, "mrpc": 85.0, "stsb": 85.0, "qqp": 88.0, "mnli": 83.5, "qnli": 90.0,
            "rte": 65.0, "wnli": 56.0}


def test_task_scores_and_the_glue_average_by_hand():
    scores = {task: task_score(task, metrics) for task, metrics in HAND_MADE.items()}
    assert scores == pytest.approx(EXPECTED, abs=1e-9)
    score, left_out = glue_score(scores)
    assert score == pytest.approx(692.5 / 9) and left_out == []
    # Missing tasks are named, not averaged as zeros; a task missing one of its metrics has no score.
    assert task_score("mnli", {"accuracy": 0.83}) is None
    partial = {**scores, "mnli": None}
    del partial["qqp"]
    score, left_out = glue_score(partial)
    assert score == pytest.approx((692.5 - 88.0 - 83.5) / 7) and left_out == ["qqp", "mnli"]
    assert glue_score({}) == (None, list(TASK_SCORE_METRICS))
    assert task_score("mrpc", {"f1": 88.85, "accuracy": 84.07}, percent=True) == pytest.approx(86.46)


def test_every_glue_config_holds_a_sourced_reference_for_its_score():
    for task in glue.TASKS:
        reference = load_config(task).reference
        assert reference.model == "bert-base-cased" and "run_glue" in reference.source
        assert set(TASK_SCORE_METRICS[task]) <= set(reference.metrics), task
        assert 50 < task_score(task, reference.metrics, percent=True) < 95


# -- leaderboard files -----------------------------------------------------------------------------------------
def test_submission_file_for_every_test_set(tmp_path):
    """Names, columns and label strings the leaderboard takes, for each of the eleven files; the
    labels are those the task configs train with."""
    assert len(glue_submission.FILES) == 11
    for (task, split), name in glue_submission.FILES.items():
        config = load_config(task)
        if config.options.regression:
            predictions = [0.0, 4.56789, 5.2]
            expected = ["0.000", "4.568", "5.200"]
        else:
            assert set(config.options.labels) == set(glue_submission.LABELS[name]), task  # the leaderboard's spelling
            predictions = [config.options.labels[i % len(config.options.labels)] for i in range(3)]
            expected = predictions
        path = glue_submission.write(tmp_path, task, split, ["0", "1", "2"], predictions)
        assert path.name == f"{name}.tsv"
        rows = list(csv.reader(path.open(encoding="utf-8"), delimiter="\t"))
        assert rows == [["index", "prediction"]] + [[str(i), e] for i, e in enumerate(expected)]
    zipped = glue_submission.zip_files(tmp_path, tmp_path / "submission.zip")
    with zipfile.ZipFile(tmp_path / "submission.zip") as archive:
        assert sorted(archive.namelist()) == sorted(zipped) == sorted(f"{n}.tsv" for n in glue_submission.FILES.values())
    assert glue_submission.missing(tmp_path) == []
    assert not list(tmp_path.glob(".tmp-*"))


def test_submission_refuses_labels_the_leaderboard_would_reject(tmp_path):
    with pytest.raises(InputError, match="RTE.tsv takes entailment, not_entailment"):
        glue_submission.write(tmp_path, "rte", "test", ["0"], ["0"])
    with pytest.raises(InputError, match="not a finite number"):
        glue_submission.write(tmp_path, "stsb", "test", ["0"], [float("nan")])
    assert not (tmp_path / "RTE.tsv").exists()


# -- command line ------------------------------------------------------------------------------------------------
def test_tasks_and_overrides_are_routed_and_checked():
    assert glue.parse_tasks("RTE, sst2,sts-b,rte") == ["sst2", "stsb", "rte"]
    with pytest.raises(InputError, match="did you mean mnli"):
        glue.parse_tasks("mlni")
    shared, per_task = glue.split_overrides(["train.epochs=1", "rte.train.lr=1e-5", "model=x"], ["rte", "sst2"])
    assert shared == ["train.epochs=1", "model=x"] and per_task == {"rte": ["train.lr=1e-5"]}
    with pytest.raises(InputError, match="not in --tasks"):
        glue.split_overrides(["cola.train.lr=1e-5"], ["rte"])
    with pytest.raises(InputError, match="names every task's run"):
        glue.split_overrides(["run_name=x"], ["rte"])
    with pytest.raises(InputError, match="names every task's run"):
        glue.split_overrides(["rte.output_dir=x"], ["rte"])
    # A misspelt task used to pass as a shared key, whose error suggested train.epochs.
    with pytest.raises(InputError, match=r"'rtee' is not a GLUE task \(did you mean rte.train.epochs=1\?\)"):
        glue.split_overrides(["rtee.train.epochs=1"], ["rte"])
    assert glue.split_overrides(["lora.r=4", "data.max_seq_length=64"], ["cola"])[0] == ["lora.r=4", "data.max_seq_length=64"]
    assert glue.default_out(["model=/models/bert-base/"]) == Path("runs/glue-bert-base")
    assert glue.default_out([]) == Path("runs/glue-minilm")


# -- which data a task uses ---------------------------------------------------------------------------------------
def test_samples_never_fill_in_for_missing_real_data(tmp_path, monkeypatch):
    monkeypatch.setenv("FINETUNE_DATA", str(tmp_path))
    (tmp_path / "glue/RTE").mkdir(parents=True)
    rows = [(i, "a", "b", "entailment") for i in range(3)]
    for name in ("train", "dev"):
        write_tsv(tmp_path / f"glue/RTE/{name}.tsv", ["index", "sentence1", "sentence2", "label"], rows)
    config = load_config("rte")
    kept = glue.keep_real_splits(config, ax=True)
    assert set(kept) == {"train", "validation"} and config.data.test is None  # the test file is only a sample
    assert all(k["origin"] == "file" for k in kept.values())

    mnli = load_config("mnli")
    assert glue.keep_real_splits(mnli, ax=True) == {}
    assert mnli.data.train is None and mnli.data.extra_validation == {} and mnli.data.extra_test == {}

    sample = load_config("mnli", ["data.source=sample"])  # asked for: a smoke run on the samples
    kept = glue.keep_real_splits(sample, ax=True)
    assert set(kept) == {"train", "validation", "mismatched", "test", "test_mismatched"}  # no AX sample
    assert {k["origin"] for k in kept.values()} == {"sample"}

    (tmp_path / "glue/diagnostic").mkdir()
    write_tsv(tmp_path / glue.AX_FILE, ["index", "sentence1", "sentence2"], [(0, "a", "b")])
    assert set(glue.keep_real_splits(load_config("mnli"), ax=True)) == {"ax"}


# -- whole batches on a tiny BERT -----------------------------------------------------------------------------------
def _pairs(n: int, seed: int) -> list[tuple[str, str, str]]:
    """(sentence1, sentence2, '1' when both carry the same sentiment)."""
    first, second = sentiment_rows(n, seed), sentiment_rows(n, seed + 100)
    return [(a, b, "1" if la == lb else "0") for (a, la), (b, lb) in zip(first, second)]


@pytest.fixture(scope="module")
def glue_data(tmp_path_factory) -> Path:
    """A FINETUNE_DATA folder in GLUE's layout: SST-2, STS-B, MNLI (with AX) and QNLI (no train)."""
    root = tmp_path_factory.mktemp("glue_data")
    for name in ("SST-2", "STS-B", "MNLI", "QNLI", "diagnostic"):
        (root / "glue" / name).mkdir(parents=True)
    sst = root / "glue/SST-2"
    write_tsv(sst / "train.tsv", ["sentence", "label"], sentiment_rows(40, 1))
    write_tsv(sst / "dev.tsv", ["sentence", "label"], sentiment_rows(17, 2))
    write_tsv(sst / "test.tsv", ["index", "sentence"], [(i, s) for i, (s, _) in enumerate(sentiment_rows(9, 3))])
    sts = root / "glue/STS-B"
    header = ["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2"]
    for name, n, seed in (("train", 40, 4), ("dev", 15, 5), ("test", 7, 6)):
        rows = [(i, "g", "f", "2012", i, "s", "s", a, b) + (() if name == "test" else (f"{4.5 * int(y):.3f}",))
                for i, (a, b, y) in enumerate(_pairs(n, seed))]
        write_tsv(sts / f"{name}.tsv", header + ([] if name == "test" else ["score"]), rows)
    nli = ["entailment", "neutral", "contradiction"]
    mnli = root / "glue/MNLI"
    for name, n, seed in (("train", 45, 7), ("dev_matched", 12, 8), ("dev_mismatched", 11, 9)):
        write_tsv(mnli / f"{name}.tsv", ["index", "sentence1", "sentence2", "gold_label"],
                  [(i, a, b, nli[(i + int(y)) % 3]) for i, (a, b, y) in enumerate(_pairs(n, seed))])
    for name, n, seed in (("test_matched", 6, 10), ("test_mismatched", 5, 11)):
        write_tsv(mnli / f"{name}.tsv", ["index", "sentence1", "sentence2"], [(i, a, b) for i, (a, b, _) in enumerate(_pairs(n, seed))])
    write_tsv(root / glue.AX_FILE, ["index", "sentence1", "sentence2"], [(i, a, b) for i, (a, b, _) in enumerate(_pairs(4, 12))])
    qnli = root / "glue/QNLI"
    write_tsv(qnli / "dev.tsv", ["index", "question", "sentence", "label"],
              [(i, a, b, ["not_entailment", "entailment"][int(y)]) for i, (a, b, y) in enumerate(_pairs(10, 13))])
    write_tsv(qnli / "test.tsv", ["index", "question", "sentence"], [(i, a, b) for i, (a, b, _) in enumerate(_pairs(3, 14))])
    return root


def _tiny(model: Path) -> list[str]:
    return [f"model={model}", "data.max_seq_length=32", "train.epochs=2", "train.batch_size=8", "train.lr=1e-3",
            "train.warmup_ratio=0", "train.eval_every=null", "train.log_every=2", "train.precision=no"]


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    from finetune.cli import main

    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _rows(path: Path) -> list[list[str]]:
    return list(csv.reader(path.open(encoding="utf-8"), delimiter="\t"))


@pytest.fixture(scope="module")
def batch(tiny_bert, glue_data, tmp_path_factory):
    """sst2, stsb, mnli and qnli (dev only) on the tiny BERT; the folder and the printed table."""
    from finetune.cli import main

    out = tmp_path_factory.mktemp("batch") / "glue"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FINETUNE_DATA", str(glue_data))
        code = main(["glue", "--tasks", "sst2,stsb,mnli,qnli", "--out", str(out), *_tiny(tiny_bert)])
    assert code == 0
    return out


def test_batch_writes_table_chart_and_leaderboard_files(batch, glue_data):
    result = json.loads((batch / "results.json").read_text())
    tasks = {r["task"]: r for r in result["tasks"]}
    assert list(tasks) == ["sst2", "stsb", "mnli", "qnli"]  # the leaderboard's order
    for task in ("sst2", "stsb", "mnli"):
        record = tasks[task]
        assert record["status"] == "done" and record["how"] == "fine-tuned" and record["counted"]
        run = json.loads((batch / "runs" / task / "metrics.json").read_text())
        assert record["metrics"] == run["metrics"] and record["train_examples"] == run["train_examples"]
        assert record["score"] == pytest.approx(task_score(task, run["metrics"]))
    assert tasks["mnli"]["metrics"].keys() >= {"accuracy", "mismatched_accuracy"}
    assert tasks["qnli"]["how"] == "untrained head" and not tasks["qnli"]["counted"] and tasks["qnli"]["score"] is not None
    expected = np.mean([tasks[t]["score"] for t in ("sst2", "stsb", "mnli")])
    assert result["glue_score"] == pytest.approx(expected)
    assert result["glue_tasks"] == ["sst2", "stsb", "mnli"]
    assert set(result["left_out"]) == {"cola", "mrpc", "qqp", "qnli", "rte", "wnli"}
    assert "untrained head" in result["left_out"]["qnli"]
    references = [tasks[t]["reference"]["score"] for t in ("sst2", "stsb", "mnli")]
    assert result["reference_glue_score_same_tasks"] == pytest.approx(np.mean(references))

    table = (batch / "results.md").read_text()
    assert f"**GLUE score: {result['glue_score']:.2f}**" in table
    assert "| MNLI | accuracy" in table and "mismatched acc." in table and "| 88.56 |" in table  # STS-B reference
    assert "not the leaderboard's nine-task score" in table
    lines = (batch / "results.csv").read_text().splitlines()
    assert lines[0].startswith("task,status,how,score,reference_score") and len(lines) == 1 + 4 + 1
    assert (batch / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # One file per test set, every test row in file order, the leaderboard's names and labels.
    expected_files = {"SST-2.tsv": "glue/SST-2/test.tsv", "STS-B.tsv": "glue/STS-B/test.tsv",
                      "MNLI-m.tsv": "glue/MNLI/test_matched.tsv", "MNLI-mm.tsv": "glue/MNLI/test_mismatched.tsv",
                      "AX.tsv": glue.AX_FILE, "QNLI.tsv": "glue/QNLI/test.tsv"}
    with zipfile.ZipFile(batch / "submission.zip") as archive:
        assert sorted(archive.namelist()) == sorted(expected_files)
        for name, source in expected_files.items():
            rows = list(csv.reader(archive.read(name).decode().splitlines(), delimiter="\t"))
            assert rows[0] == ["index", "prediction"]
            assert [r[0] for r in rows[1:]] == [r[0] for r in _rows(glue_data / source)[1:]]
            allowed = glue_submission.LABELS[name[:-4]]
            for _, prediction in rows[1:]:
                assert (prediction in allowed) if allowed else float(prediction) == round(float(prediction), 3)
    result_sub = result["submission"]
    assert sorted(result_sub["missing"]) == ["CoLA.tsv", "MRPC.tsv", "QQP.tsv", "RTE.tsv", "WNLI.tsv"]


def test_eval_only_rescores_the_batch_runs_exactly(batch, glue_data, tiny_bert, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("FINETUNE_DATA", str(glue_data))
    out = tmp_path / "again"
    code, stdout, err = _cli(capsys, "glue", "--eval-only", "--tasks", "sst2,stsb,mnli,qnli", "--models",
                             str(batch / "runs"), "--out", str(out), "data.max_seq_length=32")
    assert code == 0, err[-2000:]
    trained = {r["task"]: r for r in json.loads((batch / "results.json").read_text())["tasks"]}
    evaluated = {r["task"]: r for r in json.loads((out / "results.json").read_text())["tasks"]}
    for task in ("sst2", "stsb", "mnli"):
        assert evaluated[task]["how"] == "evaluated" and evaluated[task]["counted"]
        # The tiny model's STS-B outputs are nearly constant, so its correlations amplify float
        # rounding; its predictions are compared instead, to their 3 decimals.
        assert evaluated[task]["metrics"] == pytest.approx(trained[task]["metrics"], abs=1e-6 if task != "stsb" else 1e-3)
        assert evaluated[task]["train_examples"] == trained[task]["train_examples"]  # read from the run folder
        dev = "predictions.tsv"
        assert (out / "eval" / task / dev).read_text() == (batch / "runs" / task / dev).read_text()
    assert evaluated["qnli"]["status"] == "no model"
    for name in ("SST-2.tsv", "STS-B.tsv", "MNLI-m.tsv", "MNLI-mm.tsv", "AX.tsv"):
        assert (out / "submission" / name).read_text() == (batch / "submission" / name).read_text()
    code, _, err = _cli(capsys, "glue", "--eval-only", "--tasks", "sst2", "--out", str(out), f"model={tiny_bert}")
    assert code == 2 and "drop model=" in err

    # Exported folders, named as `export` names them (<run name>): found by their task's prefix.
    exports = tmp_path / "exports"
    code, _, err = _cli(capsys, "export", str(batch / "runs" / "sst2"), "--out", str(exports / "sst2-20261124-101010"))
    assert code == 0, err[-2000:]
    code, _, err = _cli(capsys, "glue", "--eval-only", "--tasks", "sst2,mnli", "--models", str(exports),
                        "--out", str(tmp_path / "from-exports"), "data.max_seq_length=32")
    assert code == 0, err[-2000:]
    records = {r["task"]: r for r in json.loads((tmp_path / "from-exports/results.json").read_text())["tasks"]}
    assert records["sst2"]["metrics"] == pytest.approx(trained["sst2"]["metrics"], abs=1e-6)
    assert records["sst2"]["model"].endswith("sst2-20261124-101010")
    assert records["mnli"]["status"] == "no model"


def test_a_batch_continues_only_with_its_own_settings(batch, glue_data, tiny_bert, capsys, monkeypatch):
    monkeypatch.setenv("FINETUNE_DATA", str(glue_data))
    before = (batch / "tasks" / "sst2.json").stat().st_mtime_ns
    code, stdout, err = _cli(capsys, "glue", "--tasks", "sst2", "--out", str(batch), *_tiny(tiny_bert))
    assert code == 0, err[-2000:]
    assert "sst2: done in an earlier run, skipped" in stdout
    assert (batch / "tasks" / "sst2.json").stat().st_mtime_ns == before
    code, _, err = _cli(capsys, "glue", "--tasks", "sst2", "--out", str(batch), *_tiny(tiny_bert), "train.lr=1e-4")
    assert code == 2 and "other settings" in err and "--out" in err


def test_tasks_of_one_batch_may_train_in_different_precisions(glue_data, tiny_bert, tmp_path, capsys, monkeypatch):
    """accelerate keeps one precision a process; the batch runs every task in one, so each task's
    Accelerator must be free to take its own (make_accelerator drops the other one's state)."""
    monkeypatch.setenv("FINETUNE_DATA", str(glue_data))
    code, _, err = _cli(capsys, "glue", "--tasks", "sst2,stsb", "--out", str(tmp_path / "glue"),
                        *_tiny(tiny_bert), "train.epochs=1", "stsb.train.precision=bf16")
    assert code == 0, err[-2000:]
    ran = {task: json.loads((tmp_path / "glue/runs" / task / "metrics.json").read_text())["precision"]
           for task in ("sst2", "stsb")}
    assert ran == {"sst2": "no", "stsb": "bf16"}


def test_a_run_folder_is_reused_only_with_the_config_that_trained_it(batch, glue_data, tiny_bert, monkeypatch):
    """An edited configs/TASK.yaml is not caught by the batch's own settings: the run's saved config is."""
    monkeypatch.setenv("FINETUNE_DATA", str(glue_data))
    runs = batch / "runs"
    config = load_config("sst2", _tiny(tiny_bert) + ["run_name=sst2", f"output_dir={runs}", "resume=auto"])
    glue.keep_real_splits(config, ax=True)
    glue._check_same_run(runs / "sst2", config)  # as trained: fine
    config.data.test = "somewhere/else.tsv"  # a test set may change (the diagnostic file may arrive later)
    glue._check_same_run(runs / "sst2", config)
    config.train.lr = 5e-4
    with pytest.raises(InputError, match=r"train.lr: 0.001 there, 0.0005 now.*new --out"):
        glue._check_same_run(runs / "sst2", config)


def test_no_real_data_at_all_is_an_input_error(tiny_bert, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("FINETUNE_DATA", raising=False)
    code, _, err = _cli(capsys, "glue", "--out", str(tmp_path / "b"), f"model={tiny_bert}")
    assert code == 2 and "FINETUNE_DATA" in err and "data.source=sample" in err
    assert not (tmp_path / "b").exists()


def test_a_failing_task_is_reported_and_the_others_finish(tiny_bert, glue_data, tmp_path, capsys, monkeypatch):
    data = tmp_path / "data"
    import shutil

    shutil.copytree(glue_data, data)
    bad = data / "glue/SST-2/train.tsv"
    lines = bad.read_text().splitlines()
    lines[4] = lines[4].rsplit("\t", 1)[0] + "\tpositive"
    bad.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("FINETUNE_DATA", str(data))
    out = tmp_path / "batch"
    code, stdout, err = _cli(capsys, "glue", "--tasks", "sst2,stsb", "--out", str(out), *_tiny(tiny_bert))
    assert code == 1 and "1 of 2 tasks failed: sst2" in err
    records = {r["task"]: r for r in json.loads((out / "results.json").read_text())["tasks"]}
    assert records["sst2"]["status"] == "failed" and f"{bad}, line 5" in records["sst2"]["note"]
    assert records["stsb"]["status"] == "done" and records["stsb"]["counted"]
    assert "| SST-2 | - | - |" in (out / "results.md").read_text() and "failed:" in (out / "results.md").read_text()

    lines[4] = lines[4].rsplit("\t", 1)[0] + "\t1"
    bad.write_text("\n".join(lines) + "\n")
    code, stdout, err = _cli(capsys, "glue", "--tasks", "sst2,stsb", "--out", str(out), *_tiny(tiny_bert))
    assert code == 0, err[-2000:]
    assert "stsb: done in an earlier run, skipped" in stdout
    records = {r["task"]: r for r in json.loads((out / "results.json").read_text())["tasks"]}
    assert records["sst2"]["status"] == "done" and records["sst2"]["counted"]


def test_a_killed_batch_resumes_to_the_uninterrupted_result(tiny_bert, glue_data, tmp_path):
    """SIGKILL in the middle of the second task: the rerun skips the first and resumes the second from
    its checkpoint; every record and leaderboard file equals an uninterrupted batch's."""
    env = {"FINETUNE_DATA": str(glue_data)}
    args = ["--tasks", "sst2,stsb", *_tiny(tiny_bert), "train.save_every=2", "sst2.train.max_steps=4",
            "stsb.train.max_steps=9"]
    whole = run_cli("glue", "--out", str(tmp_path / "whole"), *args, env=env)
    assert whole.returncode == 0, whole.stderr[-3000:]
    killed = run_cli("glue", "--out", str(tmp_path / "killed"), *args, env={**env, "FINETUNE_TEST_KILL_AT_STEP": "7"})
    assert killed.returncode == -9
    folder = tmp_path / "killed"
    assert (folder / "tasks/sst2.json").is_file() and not (folder / "tasks/stsb.json").exists()
    assert [r["task"] for r in json.loads((folder / "results.json").read_text())["tasks"]] == ["sst2"]
    resumed = run_cli("glue", "--out", str(folder), *args, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "sst2: done in an earlier run, skipped" in resumed.stdout
    assert "Resuming from" in resumed.stdout and "step 6" in resumed.stdout
    one = {r["task"]: r for r in json.loads((tmp_path / "whole/results.json").read_text())["tasks"]}
    two = {r["task"]: r for r in json.loads((folder / "results.json").read_text())["tasks"]}
    for task in ("sst2", "stsb"):
        assert two[task]["metrics"] == pytest.approx(one[task]["metrics"], abs=1e-6), task
        assert two[task]["train_examples"] == one[task]["train_examples"]
    for name in ("SST-2.tsv", "STS-B.tsv"):
        assert (folder / "submission" / name).read_text() == (tmp_path / "whole/submission" / name).read_text()


def test_two_processes_give_the_one_process_batch(tiny_bert, glue_data, tmp_path):
    """Under `accelerate launch` (2 CPU processes, uneven shares of every dev and test set) the batch
    gives the one-process records and leaderboard files; only the main process writes them."""
    from test_multiprocess import LAUNCH

    env = {"FINETUNE_DATA": str(glue_data)}
    args = ["--tasks", "sst2,mnli", *_tiny(tiny_bert)]
    one = run_cli("glue", "--out", str(tmp_path / "one"), *args, env=env)
    two = run_cli("glue", "--out", str(tmp_path / "two"), *args, env=env, launcher=LAUNCH)
    assert one.returncode == 0, one.stderr[-3000:]
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("GLUE score:") == 1  # one table, from the main process
    first = {r["task"]: r for r in json.loads((tmp_path / "one/results.json").read_text())["tasks"]}
    second = {r["task"]: r for r in json.loads((tmp_path / "two/results.json").read_text())["tasks"]}
    for task in ("sst2", "mnli"):
        assert second[task]["metrics"] == pytest.approx(first[task]["metrics"], abs=1e-5), task
    for name in ("SST-2.tsv", "MNLI-m.tsv", "MNLI-mm.tsv", "AX.tsv"):
        assert (tmp_path / "two/submission" / name).read_text() == (tmp_path / "one/submission" / name).read_text()


def test_a_batch_over_seeds_reports_median_and_spread_and_continues(tiny_bert, glue_data, tmp_path, capsys, monkeypatch):
    """seeds=2: a run folder per seed, the table's median and mean ± std of the task's score, every
    seed's metrics in results.json; a batch cut between seeds continues, skipping the finished seed."""
    import shutil
    import statistics

    monkeypatch.setenv("FINETUNE_DATA", str(glue_data))
    out = tmp_path / "seeds"
    args = ["glue", "--tasks", "sst2", "--out", str(out), *_tiny(tiny_bert), "seeds=2"]
    code, stdout, err = _cli(capsys, *args)
    assert code == 0, err[-2000:]
    record = json.loads((out / "results.json").read_text())["tasks"][0]
    runs = [json.loads((out / f"runs/sst2-seed{s}/metrics.json").read_text())["metrics"] for s in (42, 43)]
    assert [r["seed"] for r in record["seeds"]] == [42, 43]
    assert [r["metrics"] for r in record["seeds"]] == runs
    scores = [task_score("sst2", m) for m in runs]
    assert [r["score"] for r in record["seeds"]] == pytest.approx(scores)
    assert record["score"] == pytest.approx(statistics.median(scores))  # the median is what counts
    stats = record["score_stats"]
    assert stats["mean"] == pytest.approx(np.mean(scores)) and stats["std"] == pytest.approx(np.std(scores, ddof=1))
    assert stats["n"] == 2 and record["counted"]
    best = record["best_seed"]
    assert best["seed"] == (42 if scores[0] >= scores[1] else 43) and best["run"] == f"runs/sst2-seed{best['seed']}"
    assert (out / "submission/SST-2.tsv").is_file()

    table = (out / "results.md").read_text()
    assert "| task | seeds | metrics (dev, median over seeds) | score: median | mean ± std |" in table
    assert f"| SST-2 | 2 | accuracy {record['score']:.2f} | {record['score']:.2f} | {stats['mean']:.2f} ± {stats['std']:.2f} |" in table
    assert f"**GLUE score: {record['score']:.2f}** (mean over SST-2 of each task's median score over its seeds" in table
    assert f"42: {scores[0]:.2f}, 43: {scores[1]:.2f}" in table and "sample standard deviation" in table
    lines = (out / "results.csv").read_text().splitlines()
    assert lines[0].endswith(",seeds,score_mean,score_std,score_min,score_max")

    # Cut after seed 42: the rerun skips it and trains seed 43 again, to the same record.
    (out / "tasks/sst2.json").unlink()
    shutil.rmtree(out / "runs/sst2-seed43")
    code, stdout, err = _cli(capsys, *args)
    assert code == 0, err[-2000:]
    assert "sst2 seed 42 (1/2) finished in an earlier run, skipped" in stdout and "sst2 seed 43 (2/2)\n" in stdout
    again = json.loads((out / "results.json").read_text())["tasks"][0]
    assert again["score"] == pytest.approx(record["score"]) and again["seeds"][1]["metrics"] == pytest.approx(runs[1])
