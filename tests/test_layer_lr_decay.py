"""train.layer_lr_decay: each parameter's rate by its depth (BERT, GPT-2, Llama, under LoRA too),
AdamW's first step moves each layer by its own rate, the schedule keeps the ratios, a run records
it (config.yaml, the model card), and bad values exit 2 naming the key."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from conftest import tiny_args

from finetune.cli import main
from finetune.config.schema import TrainConfig
from finetune.engine import optim
from finetune.errors import InputError

LR, DECAY = 1e-3, 0.5


def _rates(model, train: TrainConfig) -> dict[str, float]:
    opt = optim.optimizer(model, train, train.lr, fused=False)
    by_id = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert sum(len(g["params"]) for g in opt.param_groups) == len(trainable)  # each parameter in one group
    return {n: by_id[id(p)] for n, p in trainable}


def _expected(name: str) -> float:
    """Two layers: the top (1) and what is above it at LR, layer 0 at LR x 0.5, embeddings at LR x 0.25."""
    if ".0." in name:
        return LR * DECAY
    if any(part in name for part in ("embeddings", "embed_tokens", "wte", "wpe")):
        return LR * DECAY ** 2
    return LR


@pytest.mark.parametrize("kind", ["bert", "gpt2", "llama"])
def test_each_parameter_gets_the_rate_of_its_depth(kind, tiny_bert, tiny_gpt2, tiny_llama):
    from transformers import AutoModelForSequenceClassification

    path = {"bert": tiny_bert, "gpt2": tiny_gpt2, "llama": tiny_llama}[kind]
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    rates = _rates(model, TrainConfig(lr=LR, layer_lr_decay=DECAY))
    assert rates == {n: pytest.approx(_expected(n)) for n in rates}
    # every depth is there: the embeddings, both layers and the head
    assert sorted(set(rates.values())) == pytest.approx([LR * DECAY ** 2, LR * DECAY, LR])
    top = {"bert": "classifier.weight", "gpt2": "score.weight", "llama": "score.weight"}[kind]
    assert rates[top] == LR
    # decay 1 is one rate throughout, in the same two groups (decayed or not) as without the key
    plain = optim.optimizer(model, TrainConfig(lr=LR, layer_lr_decay=1.0), LR, fused=False)
    assert [(g["lr"], g["weight_decay"]) for g in plain.param_groups] == [(LR, 0.01), (LR, 0.0)]


def test_weight_decay_still_spares_biases_and_norms_and_embedding_lr_overrides_the_word_matrix(tiny_bert):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    opt = optim.optimizer(model, TrainConfig(lr=LR, layer_lr_decay=DECAY, embedding_lr=0.2), LR, fused=False)
    groups = {id(p): g for g in opt.param_groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert groups[id(named["bert.encoder.layer.0.attention.self.query.bias"])]["weight_decay"] == 0.0
    assert groups[id(named["bert.encoder.layer.0.attention.self.query.weight"])]["weight_decay"] == 0.01
    assert groups[id(named["bert.embeddings.LayerNorm.weight"])]["weight_decay"] == 0.0
    assert groups[id(named["bert.embeddings.word_embeddings.weight"])]["lr"] == 0.2
    assert groups[id(named["bert.embeddings.position_embeddings.weight"])]["lr"] == pytest.approx(LR * DECAY ** 2)
    # the first group is the full rate's (the log's lr is train.lr's schedule)
    assert opt.param_groups[0]["lr"] == LR


def test_adams_first_step_moves_each_layer_by_its_rate(tiny_bert):
    """AdamW's first step is lr x sign(gradient) for every weight with a gradient well above eps:
    the largest change in a tensor is its group's rate."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = optim.optimizer(model, TrainConfig(lr=LR, layer_lr_decay=DECAY, weight_decay=0.0), LR, fused=False)
    ids = torch.tensor([[2, 5, 6, 17, 3], [2, 11, 12, 18, 3]])
    # The loss scaled up: on the tiny model some tensors' gradients are ~1e-6, where AdamW's eps (1e-8)
    # takes 1% off the step (and which tensors depends on the random weights, so on the tests run before).
    (model(input_ids=ids, labels=torch.tensor([1, 0])).loss * 1e4).backward()
    opt.step()
    for name in ("bert.embeddings.position_embeddings.weight", "bert.encoder.layer.0.output.dense.weight",
                 "bert.encoder.layer.1.output.dense.weight", "classifier.weight"):
        moved = (dict(model.named_parameters())[name] - before[name]).abs().max().item()
        assert moved == pytest.approx(_expected(name), rel=1e-3), name  # |g| / (|g| + eps) just under 1


def test_the_schedule_keeps_the_ratios(tiny_llama):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_llama, num_labels=2)
    train = TrainConfig(lr=LR, layer_lr_decay=DECAY, warmup_steps=2)
    opt = optim.optimizer(model, train, LR, fused=False)
    sched = optim.schedule(opt, train, 10)
    peaks = [g["initial_lr"] for g in opt.param_groups]  # the peaks (warm-up starts every group at 0)
    for _ in range(4):  # past the warm-up, on the linear decay: 6 of 8 decay steps left
        opt.step()
        sched.step()
    assert peaks == pytest.approx([LR, LR, LR * DECAY, LR * DECAY, LR * DECAY ** 2])
    assert sched.get_last_lr() == pytest.approx([peak * 6 / 8 for peak in peaks])


def test_under_lora_the_adapters_take_their_layers_rate(tiny_bert):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    model = get_peft_model(AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2),
                           LoraConfig(task_type="SEQ_CLS", r=2, target_modules=["query", "value"]))
    rates = _rates(model, TrainConfig(lr=LR, layer_lr_decay=DECAY))
    lora = {n: r for n, r in rates.items() if "lora_" in n}
    assert lora and all(r == pytest.approx(LR * DECAY if ".layer.0." in n else LR) for n, r in lora.items())


def test_a_model_without_stacked_layers_is_refused():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3))
    with pytest.raises(InputError, match="train.layer_lr_decay=0.9: no stacked layers"):
        optim.optimizer(model, TrainConfig(lr=LR, layer_lr_decay=0.9), LR, fused=False)


def test_a_run_records_it_and_trains(sentiment_data, tiny_bert, tmp_path, capsys):
    args = tiny_args(sentiment_data, tiny_bert, tmp_path, train__epochs=1, train__layer_lr_decay=0.8)
    assert main(["train", "sst2", *args]) == 0, capsys.readouterr().err
    run = tmp_path / "tiny"
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["layer_lr_decay"] == 0.8
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert any("loss" in r for r in logged)
    assert main(["export", str(run), "--out", str(tmp_path / "exported")]) == 0, capsys.readouterr().err
    card = (tmp_path / "exported" / "README.md").read_text()
    assert "lr=0.01, weight_decay" in card and "layer_lr_decay=0.8" in card and "embedding_lr" not in card


@pytest.mark.parametrize("override, words", [
    ("train.layer_lr_decay=0", "train.layer_lr_decay must be in (0, 1]"),
    ("train.layer_lr_decay=1.5", "train.layer_lr_decay must be in (0, 1]"),
    ("train.layer_lr_decay=nan", "train.layer_lr_decay must be in (0, 1]"),
    ("train.embedding_lr=-1e-3", "train.embedding_lr must be a positive number"),
])
def test_bad_values_exit_2_naming_the_key(override, words, sentiment_data, tiny_bert, tmp_path, capsys):
    assert main(["train", "sst2", *tiny_args(sentiment_data, tiny_bert, tmp_path), override]) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "tiny").exists()
