"""peft.method: LoRA and IA3 on every task and backbone of the contract (tiny random models):
the loss falls, only the adapted modules and the task's head change (every other weight is
bit-equal to the pretrained one in the merged model), checkpoints hold the trained parameters
only, the merged best model evaluates to the run's metrics, a killed run resumes exactly, and
refused combinations exit 2 naming the method and the task."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import run_cli, tiny_args
from peft.utils import constants
from safetensors.torch import load_file
from test_contract import CASES, _case, _cli
from transformers import AutoConfig

from finetune.cli import main
from finetune.models import backbones
from tasks import registry

TARGETS = {"lora": constants.TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING,
           "ia3": constants.TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING}
LR = {"lora": 1e-2, "ia3": 3e-1}  # IA3 only rescales activations of a random model: slow to move
HEADS = ("classifier.", "score.", "qa_outputs.")
TRAINED = ("lora_", "ia3_", "modules_to_save")
RUNNABLE = CASES


def _base_weights(model_path) -> dict[str, torch.Tensor]:
    folder = backbones.resolve(str(model_path))
    return load_file(f"{folder}/model.safetensors")


@pytest.mark.parametrize("method", ["lora", "ia3"])
@pytest.mark.parametrize("case, task, backbone", RUNNABLE, ids=[c[0] for c in RUNNABLE])
def test_a_method_trains_its_modules_and_the_head_only(method, case, task, backbone, request, tiny_files, tmp_path, capsys):
    name, overrides = _case(case, task, backbone, request, tiny_files)
    steps = ["train.max_steps=16"] if "train.max_steps=4" in overrides else []  # enough steps for the loss to show a trend
    overrides = [o for o in overrides if not o.startswith(("train.lr=", "train.save_every=", "train.keep_last="))] + steps
    runs = tmp_path / "runs"
    printed = _cli(capsys, "train", name, *overrides, f"peft.method={method}", f"peft.lr={LR[method]}", "train.save_every=2",
                   "train.keep_last=1", f"output_dir={runs}", "run_name=peft")
    run = runs / "peft"
    summary = trained_a_few(run, printed, method)

    # a step checkpoint holds the trained parameters only: the method's and the head's
    step = next(p for p in (run / "checkpoints").iterdir() if p.name.startswith("step-"))
    saved = load_file(str(step / "model.safetensors"))
    assert saved and all(any(t in key for t in TRAINED) for key in saved), sorted(saved)[:5]

    # the merged best model: plain keys; a weight changed only in an adapted module or the head
    model = request.getfixturevalue(backbone)
    best = load_file(str(run / "checkpoints" / "best" / "model.safetensors"))
    assert not any(t in key for key in best for t in TRAINED)
    base = _base_weights(model)
    model_type = AutoConfig.from_pretrained(model).model_type
    targets = TARGETS[method][model_type]
    pretrained = {k: _matching(base, k) for k in best if not any(k.startswith(h) or f".{h}" in k for h in HEADS)}
    assert all(v is not None for v in pretrained.values()), [k for k, v in pretrained.items() if v is None]
    changed = [k for k, v in pretrained.items() if not torch.equal(best[k], v)]
    assert changed, "no adapted weight changed"
    for key in changed:
        module = key.rsplit(".", 1)[0]
        assert any(module.endswith(t) for t in targets), f"{key} changed but {targets} are the adapted modules"

    # the merged model is the trained one: the same dev loss (the merge rounds differently from
    # computing the adapters apart, so a tiny random model's near-tied predictions may flip)
    out = tmp_path / "evaluated"
    _cli(capsys, "evaluate", str(run), "--out", str(out))
    again = json.loads((out / "metrics.json").read_text())["metrics"]
    if "loss" in summary["metrics"]:
        assert again["loss"] == pytest.approx(summary["metrics"]["loss"], rel=1e-5)
    elif (run / "nbest_predictions.json").exists():  # span QA: each question's best span score
        def best_scores(folder):
            nbest = json.loads((folder / "nbest_predictions.json").read_text())
            return [max(c["score"] for c in candidates) for candidates in nbest.values()]
        assert best_scores(out) == pytest.approx(best_scores(run), abs=1e-4)
    else:  # generative QA scores what it generates
        primary = registry.get(registry.load_config(name, overrides)).primary_metric
        assert again[primary] == pytest.approx(summary["metrics"][primary], abs=1e-6)


def trained_a_few(run, printed: str, method: str) -> dict:
    """The run's metrics.json, having checked that it trained a few parameters (printed and
    recorded) and that its loss fell."""
    summary = json.loads((run / "metrics.json").read_text())
    trained, total = summary["trainable_parameters"], summary["total_parameters"]
    assert summary["peft_method"] == method and 0 < trained < total / 2
    assert f"Parameters: {trained:,} trained of {total:,}" in printed
    losses = [r["loss"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "loss" in r]
    assert sum(losses[-4:]) < sum(losses[:4]), losses
    return summary


def _matching(base: dict[str, torch.Tensor], key: str) -> torch.Tensor | None:
    """The base model's tensor for a task model's key: the same key, or the key without the task
    model's prefix (bert.encoder.layer... against encoder.layer...)."""
    return base.get(key, base.get(key.split(".", 1)[-1]))


def test_an_ia3_run_killed_mid_way_resumes_exactly(tiny_bert_dropout, sentiment_data, tmp_path):
    resumes_exactly(tiny_bert_dropout, sentiment_data, tmp_path, "model.safetensors", peft__method="ia3")


def resumes_exactly(model, data, tmp_path, weights: str, **args) -> None:
    """A run killed at step 7 and resumed ends with the metrics and saved weights (`weights`, in
    checkpoints/best) of the same run uninterrupted."""
    args = dict(train__save_every=3, train__keep_last=3, train__eval_every=5, **args)
    whole = run_cli("train", "sst2", *tiny_args(data, model, tmp_path / "whole", **args))
    assert whole.returncode == 0, whole.stderr[-3000:]
    killed = run_cli("train", "sst2", *tiny_args(data, model, tmp_path / "cut", **args),
                     env={"FINETUNE_TEST_KILL_AT_STEP": "7"})
    assert killed.returncode == -9
    resumed = run_cli("train", "sst2", *tiny_args(data, model, tmp_path / "cut", **args))
    assert resumed.returncode == 0 and "Resuming from" in resumed.stdout, resumed.stderr[-3000:]
    a, b = (json.loads((tmp_path / r / "tiny" / "metrics.json").read_text()) for r in ("whole", "cut"))
    for key, value in a["metrics"].items():
        assert b["metrics"][key] == pytest.approx(value, abs=1e-6), key
    wa, wb = (load_file(str(tmp_path / r / "tiny" / "checkpoints" / "best" / weights)) for r in ("whole", "cut"))
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=0, atol=1e-6, msg=key)


@pytest.mark.parametrize("extra, words", [
    (["peft.method=adapters"], "peft.method"),
    (["peft.method=ia3", "lora.enabled=true"], "set one of them"),
])
def test_refused_combinations_exit_2_naming_the_method(extra, words, sentiment_data, tiny_bert, tmp_path, capsys):
    assert main(["train", "sst2", *tiny_args(sentiment_data, tiny_bert, tmp_path), *extra]) == 2
    err = capsys.readouterr().err
    assert words in err, err
    assert not (tmp_path / "tiny").exists()


def test_lora_trains_the_crf_beside_the_tagger(tiny_bert, tmp_path, capsys):
    """NER with crf=true: the CRF is part of the head (trained in full, in the checkpoint, saved as
    crf.safetensors beside the merged tagger), and the merged model evaluates to the run's loss."""
    from test_ner_crf import _train

    assert main(_train(tiny_bert, tmp_path, "train.max_steps=6", "train.save_every=3", "peft.method=lora")) == 0
    run = tmp_path / "crf"
    step = load_file(str(run / "checkpoints" / "step-6" / "model.safetensors"))
    assert {k.rsplit(".", 1)[-1] for k in step if ".crf." in k} == {"transitions", "start", "end"}
    assert any("lora_B" in k for k in step)
    transitions = load_file(str(run / "checkpoints" / "best" / "crf.safetensors"))["transitions"]
    assert transitions[1, 2] != 0  # learned (B-LOC -> I-LOC starts at 0)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--out", str(tmp_path / "evaluated")]) == 0
    again = json.loads((tmp_path / "evaluated" / "metrics.json").read_text())["metrics"]
    assert again["loss"] == pytest.approx(json.loads((run / "metrics.json").read_text())["metrics"]["loss"], rel=1e-5)


def test_lora_on_the_zero_shot_scorer_saves_a_plain_causal_lm(tiny_gpt2, tmp_path, capsys):
    """zero_shot=true trains the language model that scores the endings: LoRA adapts it, and the
    saved model is the merged causal LM (no head of the toolkit's own, no adapter keys)."""
    from transformers import AutoModelForCausalLM

    assert main(["train", "codah", f"model={tiny_gpt2}", "zero_shot=true", "peft.method=lora", "train.max_steps=3",
                 "train.batch_size=2", "data.max_seq_length=32", f"output_dir={tmp_path}", "run_name=zs",
                 "data.source=sample"]) == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "zs" / "metrics.json").read_text())
    assert summary["peft_method"] == "lora" and summary["trainable_parameters"] < summary["total_parameters"] / 2
    saved = AutoModelForCausalLM.from_pretrained(tmp_path / "zs" / "checkpoints" / "best")
    assert not any("lora" in k for k in saved.state_dict())


def test_peft_lr_is_the_methods_own_and_recorded(tmp_path):
    from finetune.config.schema import PEFT_LR
    from finetune.errors import InputError

    for name in ("lora", "ia3", "prompt", "prefix"):
        config = registry.load_config("sst2", [f"peft.method={name}"])
        assert config.peft.lr == PEFT_LR[name] and config.learning_rate == PEFT_LR[name]
        assert config.to_dict()["peft"]["lr"] == PEFT_LR[name]  # config.yaml says the rate that ran
    assert registry.load_config("sst2", ["lora.enabled=true"]).learning_rate == PEFT_LR["lora"]
    assert registry.load_config("sst2", ["peft.method=ia3", "peft.lr=0.02", "train.lr=1e-5"]).learning_rate == 0.02
    plain = registry.load_config("sst2", ["train.lr=2e-5"])
    assert plain.peft.lr is None and plain.learning_rate == 2e-5
    with pytest.raises(InputError, match="peft.lr=0.01 is the learning rate of a peft method"):
        registry.load_config("sst2", ["peft.lr=0.01"])


def test_a_sweep_over_train_lr_with_a_method_exits_2(capsys, tmp_path):
    code = main(["sweep", "sst2", "peft.method=lora", "data.source=sample", f"output_dir={tmp_path}",
                 "sweep.params={train.lr: {low: 1.0e-5, high: 1.0e-3, log: true}}", "sweep.trials=2"])
    assert code == 2
    assert "search peft.lr instead" in capsys.readouterr().err
