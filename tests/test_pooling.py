"""pooling: a classifier on the mean of the last hidden states for sentence-transformers backbones
(pooling=auto), the architecture's own head otherwise; the mean-pooled model saves a folder that
plain transformers loads (trust_remote_code=True) and computes the same."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import tiny_args
from transformers import AutoModelForSequenceClassification

import finetune
from finetune.cli import main
from finetune.errors import InputError
from finetune.models import pooling
from finetune.models.pooling import SequenceClassifier

IDS = torch.tensor([[5, 6, 7, 8, 9], [5, 6, 7, 0, 0]])
MASK = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])


def as_sentence_transformer(model: Path, folder: Path, mean: bool = True) -> Path:
    """A copy of `model` laid out as sentence-transformers saves one (modules.json, 1_Pooling)."""
    shutil.copytree(model, folder)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_cls_token": not mean, "pooling_mode_mean_tokens": mean,
         "pooling_mode_max_tokens": False}))
    return folder


def test_the_backbones_own_pooling_is_read_from_its_sentence_transformers_files(tiny_bert, tmp_path):
    mean = as_sentence_transformer(tiny_bert, tmp_path / "mean")
    cls = as_sentence_transformer(tiny_bert, tmp_path / "cls", mean=False)
    assert pooling.sentence_transformers_pooling(str(mean)) == "mean"
    assert pooling.sentence_transformers_pooling(str(cls)) == "cls"
    assert pooling.sentence_transformers_pooling(str(tiny_bert)) is None
    assert pooling.resolve("auto", str(mean), "none")[0] == "mean"
    assert pooling.resolve("auto", str(mean), "lora")[0] == "mean"
    assert pooling.resolve("auto", str(cls), "none") == ("model", "pooling=auto: it was trained with cls pooling")
    assert pooling.resolve("auto", str(tiny_bert), "none")[0] == "model"
    # prompt tuning's adapter folder loads on transformers' own head: auto keeps that head
    assert pooling.resolve("auto", str(mean), "prompt")[0] == "model"
    assert pooling.resolve("mean", str(tiny_bert), "none") == ("mean", "pooling=mean")


@pytest.mark.parametrize("backbone", ["tiny_bert", "tiny_gpt2", "tiny_llama"])
def test_the_classifier_reads_the_mean_of_the_real_tokens(backbone, request, tmp_path):
    model = SequenceClassifier.from_pretrained(str(request.getfixturevalue(backbone)), pooling="mean", num_labels=3)
    model.eval()
    logits = model(input_ids=IDS, attention_mask=MASK).logits
    hidden = model.base_model(input_ids=IDS, attention_mask=MASK).last_hidden_state
    by_hand = torch.stack([hidden[0].mean(0), hidden[1, :3].mean(0)])
    head = model.classifier if hasattr(model, "classifier") else model.score
    torch.testing.assert_close(logits, head(by_hand))
    if backbone == "tiny_bert":
        assert model.base_model.pooler is None  # unused, so dropped (DistributedDataParallel refuses unused weights)
        # the padded row scores as it does alone (the decoders' causal masks already see no padding)
        alone = model(input_ids=IDS[1:, :3], attention_mask=MASK[1:, :3]).logits
        torch.testing.assert_close(alone[0], logits[1], atol=1e-5, rtol=1e-5)
    labels = torch.tensor([0, 2])
    assert model(input_ids=IDS, attention_mask=MASK, labels=labels).loss.item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits, labels).item(), rel=1e-6)


@pytest.mark.parametrize("backbone", ["tiny_bert", "tiny_llama"])
def test_a_saved_mean_pooled_model_loads_in_plain_transformers_and_computes_the_same(backbone, request, tmp_path):
    model = SequenceClassifier.from_pretrained(str(request.getfixturevalue(backbone)), pooling="mean", num_labels=2).eval()
    model.save_pretrained(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert saved["model_type"] == "finetune_mean_pooling" and saved["classifier_pooling"] == "mean"
    assert saved["pooled_model_type"] == ("bert" if backbone == "tiny_bert" else "llama")
    assert saved["auto_map"] == {"AutoConfig": "mean_pooling.MeanPoolingConfig",
                                 "AutoModelForSequenceClassification": "mean_pooling.MeanPoolingForSequenceClassification"}
    assert (tmp_path / "saved" / "mean_pooling.py").is_file()
    expected = model(input_ids=IDS, attention_mask=MASK).logits
    # untrusted, transformers refuses the folder (rather than load its own head, untrained, in silence)
    with pytest.raises(ValueError, match="trust_remote_code"):
        AutoModelForSequenceClassification.from_pretrained(tmp_path / "saved")
    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path / "saved", trust_remote_code=True).eval()
    torch.testing.assert_close(plain(input_ids=IDS, attention_mask=MASK).logits, expected)
    # the toolkit loads its own class, without running the folder's code
    again = SequenceClassifier.from_pretrained(str(tmp_path / "saved")).eval()
    assert type(again) is type(model)
    torch.testing.assert_close(again(input_ids=IDS, attention_mask=MASK).logits, expected)


def _dev_loss(run: Path) -> float:
    return json.loads((run / "metrics.json").read_text())["metrics"]["loss"]


def test_a_run_on_a_sentence_transformers_backbone_mean_pools_says_so_and_evaluates_the_same(
        sentiment_data, tiny_bert, tmp_path, capsys):
    backbone = as_sentence_transformer(tiny_bert, tmp_path / "st")
    base = tiny_args(sentiment_data, backbone, tmp_path, train__epochs=1)
    assert main(["train", "sst2", *base, "run_name=auto"]) == 0, capsys.readouterr().err
    assert main(["train", "sst2", *base, "pooling=model", "run_name=model"]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert ("Pooling: the mean of the last hidden states (pooling=auto: the backbone is a sentence-transformers "
            "model trained with mean pooling)") in printed
    assert "Pooling: the architecture's own head (pooling=model)" in printed
    auto = tmp_path / "auto"
    assert json.loads((auto / "metrics.json").read_text())["pooling"] == "mean"
    assert json.loads((tmp_path / "model" / "metrics.json").read_text())["pooling"] == "model"
    assert (auto / "checkpoints" / "best" / "mean_pooling.py").is_file()
    assert _dev_loss(auto) != _dev_loss(tmp_path / "model")  # two different heads
    evaluated = finetune.evaluate(auto)
    assert evaluated["loss"] == pytest.approx(_dev_loss(auto), abs=1e-6)


def test_mean_pooling_with_lora_exports_a_merged_mean_pooled_model(sentiment_data, tiny_bert, tmp_path, capsys):
    base = tiny_args(sentiment_data, tiny_bert, tmp_path, train__epochs=1)
    assert main(["train", "sst2", *base, "pooling=mean", "peft.method=lora", "run_name=lora"]) == 0, capsys.readouterr().err
    best = tmp_path / "lora" / "checkpoints" / "best"
    assert json.loads((best / "config.json").read_text())["model_type"] == "finetune_mean_pooling"
    plain = AutoModelForSequenceClassification.from_pretrained(best, trust_remote_code=True).eval()
    assert type(plain).__name__ == "MeanPooledBertForSequenceClassification"
    assert not any("lora" in name for name in plain.state_dict())


def test_refusals_name_the_key(sentiment_data, tiny_bert, tmp_path, capsys):
    base = tiny_args(sentiment_data, tiny_bert, tmp_path, train__epochs=1)
    assert main(["train", "sst2", *base, "pooling=mean", "peft.method=prompt"]) == 2
    assert "peft.method=prompt with pooling=mean" in capsys.readouterr().err
    assert main(["train", "sst2", *base, "pooling=max"]) == 2
    assert "pooling" in capsys.readouterr().err


def test_an_architecture_whose_head_is_not_one_linear_layer_is_refused(tmp_path):
    from transformers import RobertaConfig, RobertaModel

    config = RobertaConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    RobertaModel(config).save_pretrained(tmp_path / "roberta")
    with pytest.raises(InputError, match="Set pooling=model"):
        SequenceClassifier.from_pretrained(str(tmp_path / "roberta"), pooling="mean", num_labels=2)
