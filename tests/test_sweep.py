"""`python -m finetune sweep` on a tiny BERT: trials as run folders, pruning, the study's files,
resume after a kill, two workers on one study, failed trials, and a malformed `sweep:` section."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from conftest import run_cli, tiny_args

SPACE = "sweep.params={train.lr: {low: 1.0e-3, high: 5.0e-2, log: true}, train.warmup_ratio: [0.0, 0.1]}"


def _args(sentiment_data, tiny_bert, out: Path, *extra: str) -> list[str]:
    base = tiny_args(sentiment_data, tiny_bert, out, train__max_steps=6, train__eval_every=2, train__log_every=2,
                     data__test="null")
    return [a for a in base if not a.startswith("run_name=")] + [SPACE, *extra]


def _trials(folder: Path) -> list[dict]:
    with (folder / "trials.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_a_pruned_sweep_writes_its_table_best_config_and_plots(sentiment_data, tiny_bert, tmp_path):
    done = run_cli("sweep", "sst2", *_args(sentiment_data, tiny_bert, tmp_path, "sweep.trials=4"))
    assert done.returncode == 0, done.stderr[-2000:]
    folder = tmp_path / "sweep-sst2"
    rows = _trials(folder)
    assert [int(r["trial"]) for r in rows] == [0, 1, 2, 3]
    assert {r["state"] for r in rows} <= {"complete", "pruned"} and "complete" in {r["state"] for r in rows}
    for row in rows:  # every trial is an ordinary run folder with the values it was given
        config = yaml.safe_load((folder / "trials" / row["run"] / "config.yaml").read_text())
        assert config["train"]["lr"] == pytest.approx(float(row["train.lr"]))
        assert config["train"]["warmup_ratio"] == float(row["train.warmup_ratio"])
        if row["state"] == "pruned":
            assert int(row["pruned_at_step"]) < 6
    best = yaml.safe_load((folder / "best.yaml").read_text())
    complete = [r for r in rows if r["state"] == "complete"]
    top = max(complete, key=lambda r: float(r["value"]))
    assert best["train"]["lr"] == pytest.approx(float(top["train.lr"]))
    assert "sweep" not in best and "run_name" not in best
    for name in ("history.png", "importance.png", "results.md"):
        assert (folder / name).stat().st_size > 0
    assert "Best: trial" in done.stdout
    # best.yaml is a config a run takes as it is.
    rerun = run_cli("train", str(folder / "best.yaml"), f"output_dir={tmp_path / 'again'}", "run_name=best")
    assert rerun.returncode == 0, rerun.stderr[-2000:]


def test_pruning_stops_a_trial_that_trails_at_the_loops_evaluations(sentiment_data, tiny_bert, tmp_path):
    """A learning rate too small to move the tiny model trails every earlier trial at step 2."""
    space = "sweep.params={train.lr: [5.0e-2, 5.0e-2, 1.0e-9]}"
    args = [a for a in _args(sentiment_data, tiny_bert, tmp_path) if not a.startswith("sweep.params")]
    done = run_cli("sweep", "sst2", *args, space, "sweep.trials=6", "sweep.sampler=random", "sweep.pruner=median")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = _trials(tmp_path / "sweep-sst2")
    tiny = [r for r in rows if float(r["train.lr"]) < 1e-6 and int(r["trial"]) >= 2]
    assert tiny and all(r["state"] == "pruned" and r["pruned_at_step"] == "2" for r in tiny)


def test_no_pruning_before_prune_after_of_the_steps(sentiment_data, tiny_bert, tmp_path):
    space = "sweep.params={train.lr: [5.0e-2, 5.0e-2, 1.0e-9]}"
    args = [a for a in _args(sentiment_data, tiny_bert, tmp_path) if not a.startswith("sweep.params")]
    done = run_cli("sweep", "sst2", *args, space, "sweep.trials=6", "sweep.sampler=random", "sweep.prune_after=0.5")
    assert done.returncode == 0, done.stderr[-2000:]
    pruned = [r for r in _trials(tmp_path / "sweep-sst2") if r["state"] == "pruned"]
    assert pruned and all(r["pruned_at_step"] == "4" for r in pruned)  # step 2 is before half of 6


def test_a_killed_sweep_resumes_with_the_same_number_of_trials(sentiment_data, tiny_bert, tmp_path):
    args = _args(sentiment_data, tiny_bert, tmp_path, "sweep.trials=3", "sweep.pruner=none")
    killed = run_cli("sweep", "sst2", *args, env={"FINETUNE_TEST_KILL_AT_STEP": "5"})
    assert killed.returncode == -9
    folder = tmp_path / "sweep-sst2"
    checkpoints = sorted(p.name for p in (folder / "trials" / "trial-000" / "checkpoints").iterdir())
    assert "step-4" in checkpoints  # the interrupted trial kept its last checkpoint
    resumed = run_cli("sweep", "sst2", *args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "queued again" in resumed.stdout and "Resuming from" in resumed.stdout
    rows = _trials(folder)
    assert len(rows) == 3 and all(r["state"] == "complete" for r in rows)
    assert rows[0]["run"] == "trial-000"  # the re-run trial finished in the killed trial's folder


def test_two_workers_share_one_study_with_distinct_trials(sentiment_data, tiny_bert, tmp_path):
    # 60 steps a trial (a few seconds): with 6-step trials the first worker could take all four while the
    # second was still importing torch, and the test would prove nothing about sharing
    done = run_cli("sweep", "sst2", *_args(sentiment_data, tiny_bert, tmp_path, "sweep.trials=4", "sweep.pruner=none",
                                            "train.max_steps=60", "train.eval_every=20"), "--workers", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "[worker 0]" in done.stdout and "[worker 1]" in done.stdout
    rows = _trials(tmp_path / "sweep-sst2")
    assert sorted(int(r["trial"]) for r in rows) == [0, 1, 2, 3]  # one study, the cap shared
    assert len({r["run"] for r in rows}) == 4
    assert len({r["train.lr"] for r in rows}) == 4  # the workers' samplers do not repeat each other


def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(sentiment_data, tiny_bert, tmp_path):
    """A maximum length longer than the model's positions fails inside the trial, not up front."""
    args = [a for a in _args(sentiment_data, tiny_bert, tmp_path) if not a.startswith("sweep.params")]
    done = run_cli("sweep", "sst2", *args, "sweep.params={data.max_seq_length: [100000, 32]}", "sweep.trials=4",
                   "sweep.sampler=random", "sweep.pruner=none")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = _trials(tmp_path / "sweep-sst2")
    failed = [r for r in rows if r["state"] == "fail"]
    assert len(rows) == 4 and failed and len(failed) < 4
    assert all("max_seq_length=100000" in r["error"] for r in failed)


@pytest.mark.parametrize("section, named", [
    ("sweep.params={train.lr: {low: 1.0e-3, hgh: 1.0e-2}}", "sweep.params.train.lr.hgh"),
    ("sweep.params={train.lr: {low: 1.0e-2, high: 1.0e-3}}", "sweep.params.train.lr: low"),
    ("sweep.params={train.batch_size: [8, eight]}", "train.batch_size"),
    ("sweep.params={train.lrr: [1.0e-3]}", "train.lrr"),
    ("sweep.params={}", "sweep.params is empty"),
    ("sweep.pruner=sometimes", "sweep.pruner"),
    ("sweep.prune_after=1.5", "sweep.prune_after"),
])
def test_a_malformed_sweep_section_exits_2_naming_the_key(sentiment_data, tiny_bert, tmp_path, section, named):
    args = [a for a in _args(sentiment_data, tiny_bert, tmp_path) if not a.startswith("sweep.params")]
    done = run_cli("sweep", "sst2", *args, section)
    assert done.returncode == 2, done.stderr[-2000:]
    assert named in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "sweep-sst2" / "trials").exists()


def test_best_yaml_keeps_what_the_best_trial_ran_not_its_run_record(tmp_path):
    """A trial whose data settled a key (asked_for, RunConfig.settle) ran with the settled value:
    best.yaml is that recipe, without the trial's run keys or its record of what was asked."""
    import optuna

    from finetune.apps.sweep.report import write_best
    from finetune.apps.sweep.study import RUN

    study = optuna.create_study(direction="maximize", study_name="ner")
    distribution = optuna.distributions.FloatDistribution(1e-5, 1e-3, log=True)
    for number, (lr, f1) in enumerate([(1e-4, 0.8), (3e-4, 0.9)]):
        study.add_trial(optuna.trial.create_trial(params={"train.lr": lr}, distributions={"train.lr": distribution},
                                                  value=f1, user_attrs={RUN: f"trial-{number}"}))
        run = tmp_path / "trials" / f"trial-{number}"
        run.mkdir(parents=True)
        (run / "config.yaml").write_text(yaml.safe_dump({
            "task": "conll2003", "run_name": f"trial-{number}", "seeds": None, "train": {"lr": lr},
            "document_context": 0, "asked_for": {"document_context": 16}}))
    best = yaml.safe_load(write_best(study, tmp_path, "f1").read_text())
    assert best == {"task": "conll2003", "train": {"lr": 3e-4}, "document_context": 0}
