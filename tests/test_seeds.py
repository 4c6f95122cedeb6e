"""seeds=N: one config trained once per seed (finetune/apps/seeds.py). The arithmetic on hand-worked
values; then `train ... seeds=2` through the CLI on a tiny BERT: killed and continued, finished seeds
skipped, the summary equal to the runs' own metrics, and `export` of the study's folder."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
import yaml
from conftest import run_cli, tiny_args

from finetune.apps import seeds as study
from finetune.errors import InputError
from tasks.registry import load_config


# -- arithmetic ----------------------------------------------------------------------------------------------
def test_stats_by_hand_odd_and_even_n():
    # 0.7, 0.8, 0.9: mean 0.8; deviations -0.1, 0, 0.1 -> sum of squares 0.02 over n - 1 = 2 -> std 0.1
    s = study.stats([0.9, 0.7, 0.8])
    assert s["mean"] == pytest.approx(0.8) and s["std"] == pytest.approx(0.1) and s["median"] == pytest.approx(0.8)
    assert (s["min"], s["max"], s["n"]) == (0.7, 0.9, 3)
    # 1, 2, 3, 10: mean 4; deviations -3, -2, -1, 6 -> 50 / 3; the median is between 2 and 3
    s = study.stats([10.0, 1.0, 3.0, 2.0])
    assert s["mean"] == 4.0 and s["std"] == pytest.approx(math.sqrt(50 / 3)) and s["median"] == 2.5
    assert (s["min"], s["max"], s["n"]) == (1.0, 10.0, 4)
    assert s["std"] != pytest.approx(math.sqrt(50 / 4))  # the sample std, not the population's
    one = study.stats([0.5])
    assert one["std"] is None and one["mean"] == one["median"] == 0.5 and one["n"] == 1


def test_summary_picks_the_best_dev_primary_and_counts_each_metric():
    runs = [{"seed": 1, "run": "r-seed1", "metrics": {"loss": 0.5, "accuracy": 0.80}},
            {"seed": 2, "run": "r-seed2", "metrics": {"accuracy": 0.90, "loss": 0.4, "f1": 0.5}},
            {"seed": 3, "run": "r-seed3", "metrics": {"accuracy": 0.90, "loss": 0.3}}]
    result = study.summarize(runs, "accuracy")
    assert list(result["metrics"]) == ["accuracy", "loss", "f1"]  # the primary first
    accuracy = result["metrics"]["accuracy"]
    assert accuracy["mean"] == pytest.approx(2.6 / 3) and accuracy["median"] == 0.9 and accuracy["n"] == 3
    assert accuracy["std"] == pytest.approx(math.sqrt(((0.8 - 2.6 / 3) ** 2 + 2 * (0.9 - 2.6 / 3) ** 2) / 2))
    assert result["metrics"]["f1"] == {"mean": 0.5, "std": None, "median": 0.5, "min": 0.5, "max": 0.5, "n": 1}
    best = result["best_run"]
    assert (best["seed"], best["run"], best["value"]) == (2, "r-seed2", 0.9)  # a tie goes to the earlier seed
    assert "highest dev accuracy" in best["why"]
    assert study.summarize(runs[:1], "matthews")["best_run"]["seed"] == 1  # nothing to choose by: the first


def test_seed_lists_and_bad_values():
    assert study.seed_list(load_config("sst2")) is None
    assert study.seed_list(load_config("sst2", ["seeds=3", "seed=7"])) == [7, 8, 9]
    assert study.seed_list(load_config("sst2", ["seeds=[5,1,9]"])) == [5, 1, 9]
    for value, words in (("0", "at least 1"), ("-2", "at least 1"), ("[]", "empty list"), ("[1,2,1]", "repeats 1")):
        with pytest.raises(InputError, match=words) as caught:
            study.seed_list(load_config("sst2", [f"seeds={value}"]))
        assert "'seeds'" in str(caught.value)


@pytest.mark.parametrize("command", ["train sst2", "glue --tasks sst2"])
@pytest.mark.parametrize("value", ["0", "[]", "[3,3]"])
def test_bad_seeds_exit_2_naming_the_key(command, value, tmp_path, capsys, monkeypatch):
    from finetune.cli import main

    monkeypatch.setenv("FINETUNE_DATA", str(tmp_path))  # the batch checks seeds before looking for data
    capsys.readouterr()
    code = main([*command.split(), f"seeds={value}", f"output_dir={tmp_path}"] if command.startswith("train")
                else [*command.split(), "--out", str(tmp_path / "b"), f"seeds={value}"])
    err = capsys.readouterr().err
    assert code == 2 and "config key 'seeds'" in err, err
    assert list(tmp_path.iterdir()) == []  # refused before anything ran


# -- through the CLI on a tiny BERT ----------------------------------------------------------------------------
def test_train_seeds_continues_a_killed_study_skips_finished_seeds_and_summarises(
        tiny_bert, sentiment_data, tmp_path, capsys):
    runs = tmp_path / "runs"
    args = ["train", "sst2", *tiny_args(sentiment_data, tiny_bert, runs, train__max_steps=6, train__save_every=2),
            "seeds=2"]
    killed = run_cli(*args, env={"FINETUNE_TEST_KILL_AT_STEP": "5"})  # seed 42 dies after its step 5
    assert killed.returncode == -9
    assert (runs / "tiny-seed42/checkpoints/step-4").is_dir() and not (runs / "tiny-seed43").exists()

    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming from" in resumed.stdout and "step 4" in resumed.stdout  # seed 42, where it was killed
    assert "Seeds folder: " + str(runs / "tiny") in resumed.stdout
    assert "| accuracy (primary) |" in resumed.stdout  # the table is printed

    folders = [runs / "tiny-seed42", runs / "tiny-seed43"]
    configs = [yaml.safe_load((f / "config.yaml").read_text()) for f in folders]
    assert [(c["seed"], c["seeds"], c["run_name"]) for c in configs] == [(42, None, "tiny-seed42"), (43, None, "tiny-seed43")]
    weights = [(f / "checkpoints/best/model.safetensors").read_bytes() for f in folders]
    assert weights[0] != weights[1]
    metrics = [json.loads((f / "metrics.json").read_text())["metrics"] for f in folders]
    summary = json.loads((runs / "tiny/seeds.json").read_text())
    assert summary["seeds"] == [42, 43] and summary["pending"] == [] and summary["primary"] == "accuracy"
    assert [r["run"] for r in summary["runs"]] == ["tiny-seed42", "tiny-seed43"]
    for name in ("accuracy", "loss"):
        values = [m[name] for m in metrics]
        got = summary["metrics"][name]
        assert got["mean"] == pytest.approx(sum(values) / 2) and got["n"] == 2
        assert got["std"] == pytest.approx(statistics.stdev(values)) and got["median"] == pytest.approx(sum(values) / 2)
    best = summary["best_run"]
    assert best["seed"] == (42 if metrics[0]["accuracy"] >= metrics[1]["accuracy"] else 43)
    assert yaml.safe_load((runs / "tiny/config.yaml").read_text())["seeds"] == 2
    table = (runs / "tiny/seeds.md").read_text()
    assert f"**The model: seed {best['seed']}**" in table and "sample standard deviation" in table

    stamps = [(f / "metrics.json").stat().st_mtime_ns for f in folders]
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("finished in an earlier run, skipped") == 2 and "Resuming" not in again.stdout
    assert [(f / "metrics.json").stat().st_mtime_ns for f in folders] == stamps
    assert json.loads((runs / "tiny/seeds.json").read_text())["metrics"] == summary["metrics"]

    # `export` of the study's folder exports its best seed, and says which.
    from finetune.cli import main

    capsys.readouterr()
    assert main(["export", str(runs / "tiny"), "--out", str(tmp_path / "exported")]) == 0
    assert f"seed {best['seed']}" in capsys.readouterr().out
    exported = (tmp_path / "exported/model.safetensors").read_bytes()
    assert exported == (runs / f"tiny-seed{best['seed']}/checkpoints/best/model.safetensors").read_bytes()
    # evaluate takes the study's folder too: its best seed's model and dev metrics.
    assert main(["evaluate", str(runs / "tiny")]) == 0
    out = capsys.readouterr()
    assert f"tiny-seed{best['seed']}" in out.err
    best_metrics = json.loads((runs / f"tiny-seed{best['seed']}/metrics.json").read_text())["metrics"]
    assert json.loads(out.out[out.out.index("{"):])["accuracy"] == pytest.approx(best_metrics["accuracy"])


def test_a_changed_config_is_not_mixed_into_a_study(tiny_bert, sentiment_data, tmp_path, capsys):
    """A finished seed folder is reused only with the config that trained it."""
    from finetune.cli import main

    runs = tmp_path / "runs"
    folder = runs / "tiny-seed42"
    folder.mkdir(parents=True)
    config = load_config("sst2", [*tiny_args(sentiment_data, tiny_bert, runs), "seed=42", "run_name=tiny-seed42"])
    config.save(folder / "config.yaml")
    (folder / "metrics.json").write_text("{}")
    capsys.readouterr()
    code = main(["train", "sst2", *tiny_args(sentiment_data, tiny_bert, runs), "seeds=1", "train.lr=0.5"])
    err = capsys.readouterr().err
    assert code == 2 and "train.lr: 0.01 there, 0.5 now" in err and "other settings" in err
    assert not (runs / "tiny").exists()


def test_a_single_run_folder_is_not_overwritten_by_a_study(tiny_bert, sentiment_data, tmp_path, capsys):
    from finetune.cli import main

    runs = tmp_path / "runs"
    (runs / "tiny/checkpoints").mkdir(parents=True)
    (runs / "tiny/config.yaml").write_text("task: sst2\n")
    capsys.readouterr()
    assert main(["train", "sst2", *tiny_args(sentiment_data, tiny_bert, runs), "seeds=2"]) == 2
    assert "single run's folder" in capsys.readouterr().err
    assert sorted(p.name for p in runs.iterdir()) == ["tiny"]


def test_export_names_an_unfinished_study(tmp_path, capsys):
    from finetune.cli import main

    (tmp_path / "s").mkdir()
    (tmp_path / "s" / study.SUMMARY_NAME).write_text(json.dumps({"best_run": None}))
    capsys.readouterr()
    assert main(["export", str(tmp_path / "s")]) == 2
    assert "no seed has finished" in capsys.readouterr().err
    assert Path(tmp_path / "s").is_dir()
