"""The bench: key routing, its arithmetic, and a run end to end on a tiny model (no time asserted)."""

from __future__ import annotations

import json

import pytest

from finetune.apps.bench import bench
from finetune.apps.bench import report as bench_report
from finetune.errors import InputError
from tests.conftest import run_cli


def test_keys_go_to_the_bench_a_workload_or_the_task_configs():
    config, shared, per_task = bench.parse(["sst2.steps=7", "squad.train_samples=50", "model=X", "runners=[toolkit]",
                                            "sst2.train.batch_size=16", "eval_questions=0", "toolkit_precision=no"])
    assert (config.sst2.steps, config.sst2.warmup_steps, config.sst2.train_samples) == (7, 5, None)
    assert (config.squad.steps, config.squad.train_samples) == (15, 50)
    assert config.runners == ["toolkit"] and config.eval_questions == 0 and config.toolkit_precision == "no"
    assert shared == ["model=X"] and per_task == {"sst2": ["train.batch_size=16"]}


@pytest.mark.parametrize("item, words", [
    ("runners=[toolkit,trainer]", ["runners[1]", "trainer_default"]),
    ("workloads=[sst2,mnli]", ["workloads", "mnli", "sst2, squad"]),
    ("sst2.steps=many", ["sst2.steps", "int"]),
    ("toolkit_precision=fp8", ["toolkit_precision", "auto"]),
    ("sst2.train.max_steps=10", ["train.max_steps", "WORKLOAD.steps"]),
    ("sst2.stpes=10", ["sst2.stpes", "sst2.steps"]),
    ("train.precision=bf16", ["train.precision", "toolkit_precision"]),
])
def test_bad_bench_keys_are_named(item, words):
    with pytest.raises(InputError) as error:
        bench.parse([item])
    assert all(word in str(error.value) for word in words)


def _result(samples: float, tokens: float, rss: float, accuracy: float | None = None) -> dict:
    result = {"samples_per_s": samples, "real_tokens_per_s": tokens, "pad_fraction": 0.0, "peak_rss_mb": rss,
              "precision": "no", "config": {"model": "m", "batch_size": 32, "lr": 3e-5, "max_seq_length": 128}}
    return {**result, "dev": {"accuracy": accuracy}} if accuracy is not None else result


def test_bound_ratios_and_goals():
    record = {"runners": {"trainer_default": _result(20.0, 270.0, 2000, 0.80),
                          "trainer_best": _result(100.0, 1350.0, 1500, 0.82),
                          "toolkit": _result(125.0, 1700.0, 1400, 0.81)},
              "dense": {"real_tokens_per_s": 2000.0}}
    record.update(bench_report.derived(record))
    assert record["bound_tokens_per_s"] == 2000.0
    assert record["bound_fraction"] == pytest.approx(0.85)
    assert record["ratios"] == {"toolkit/trainer_default": pytest.approx(6.25), "toolkit/trainer_best": pytest.approx(1.25)}
    met = [ok for _, ok in bench_report.goals(record)]
    # bound 0.85 (met, >=), 6.25x default, 1.25x best, accuracy 81 >= 80 but < 82, memory 1400 <= 1500
    assert met == [True, True, True, True, False, True]


def test_no_real_data_is_exit_2_before_any_measurement(tmp_path):
    done = run_cli("bench", f"out={tmp_path / 'b'}", env={"FINETUNE_DATA": str(tmp_path)})
    assert done.returncode == 2, done.stderr
    assert "FINETUNE_DATA" in done.stderr and "data.source=sample" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "b").exists()


def _tiny(tiny_bert, out, *extra) -> list[str]:
    """Every runner, both workloads, a few steps of the tiny BERT on the shipped samples."""
    return [f"model={tiny_bert}", "data.source=sample", "data.max_seq_length=64", "train.batch_size=8",
            "sst2.steps=2", "sst2.warmup_steps=1", "squad.steps=1", "squad.warmup_steps=1", "squad.doc_stride=16",
            "eval_questions=6", "toolkit_precision=no", "memory_steps=0", f"out={out}", *extra]


def test_bench_runs_end_to_end_and_writes_its_table(tiny_bert, tmp_path, capsys):
    assert bench.main(_tiny(tiny_bert, tmp_path / "b", "isolate=false")) == 0
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    table = (tmp_path / "b" / "results.md").read_text()
    assert table in capsys.readouterr().out
    assert results["sample_data"] and "SAMPLE DATA" in table
    for name in ("sst2", "squad"):
        record = results["workloads"][name]
        assert set(record["runners"]) == set(bench.RUNNERS)
        for runner, result in record["runners"].items():
            assert {"samples_per_s", "real_tokens_per_s", "pad_fraction", "peak_rss_mb"} <= set(result), runner
            assert result["timed_steps"] == record["timed_steps"]
            assert result["samples_per_s"] > 0 and 0 <= result["pad_fraction"] < 1
        assert record["bound_tokens_per_s"] == record["dense"]["real_tokens_per_s"] > 0
        assert record["bound_fraction"] == pytest.approx(
            record["runners"]["toolkit"]["real_tokens_per_s"] / record["bound_tokens_per_s"])
        # The run_glue / run_qa default pads every example to max_seq_length; the bound has no pad at all.
        default = record["runners"]["trainer_default"]
        assert default["padded_tokens_per_s"] / default["samples_per_s"] == pytest.approx(64)
        assert record["dense"]["pad_fraction"] == 0.0
        assert f"### {name}:" in table
    # Dev accuracy after the same steps, scored the toolkit's way for every runner.
    assert all(0 <= r["dev"]["accuracy"] <= 1 for r in results["workloads"]["sst2"]["runners"].values())
    evaluation = results["workloads"]["squad"]["eval"]
    assert evaluation["toolkit"]["questions"] == 6
    assert evaluation["toolkit"]["windows"] == evaluation["trainer_best"]["windows"] >= 6
    assert "Goals:" in table and "Trainer.predict" in table
    # MFU: the peaks measured in the run, a column of every training row, and where the step's time goes.
    assert results["peaks"]["fp32"] > 1e8 and "| MFU |" in table and "Where finetune's step goes" in table
    ours = results["workloads"]["sst2"]["runners"]["toolkit"]
    assert set(ours["phase_seconds"]) == {"forward", "backward", "optimizer", "data", "other"}
    # The parts cover the clock's timed window, from the last warm-up step's end to the last step's end.
    assert sum(ours["phase_seconds"].values()) == pytest.approx(ours["seconds"], rel=0.05, abs=2e-3)
    assert all(v >= 0 for v in ours["phase_seconds"].values()) and ours["phase_seconds"]["forward"] > 0


def test_bench_isolates_each_runner_in_its_own_process(tiny_bert, tmp_path):
    done = run_cli("bench", *_tiny(tiny_bert, tmp_path / "b", "workloads=[sst2]", "runners=[toolkit]"))
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "b" / "results.json").read_text())["workloads"]["sst2"]
    assert record["runners"]["toolkit"]["peak_rss_mb"] > 100 and record["dense"]["peak_rss_mb"] > 100
    assert "| finetune | fp32 |" in (tmp_path / "b" / "results.md").read_text()


def test_the_memory_table_traces_rss_under_both_allocator_settings(tiny_bert, tmp_path):
    done = run_cli("bench", *_tiny(tiny_bert, tmp_path / "b", "workloads=[]", "memory_steps=6", "memory_batch_size=4"))
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((tmp_path / "b" / "results.json").read_text())["memory"]
    assert record["steps"] == 6 and record["eval_every"] == 2 and set(record["runs"]) == {"default", "glibc"}
    default, glibc = record["runs"]["default"], record["runs"]["glibc"]
    # Each run's own metrics.json says how its allocator was set: the policy reached each run.
    assert default["allocator"] == "oneDNN cache 16, malloc as is"
    assert glibc["allocator"] == "as the system sets it (FINETUNE_MALLOC=glibc)"
    for result in (default, glibc):
        assert result["trace"] and all(mb > 100 for _, mb in result["trace"])
        assert result["peak_rss_mb"] >= max(mb for _, mb in result["trace"]) - 1
        assert [step for step, _ in result["trace"]] == sorted(step for step, _ in result["trace"])
    table = (tmp_path / "b" / "results.md").read_text()
    assert "### Memory over a long run: squad, batch 4, 6 steps" in table
    assert "| glibc: as the system sets it (FINETUNE_MALLOC=glibc) |" in table
