"""pooling for multiple choice: each (context, ending) pair scored on the mean of its last hidden
states (BERT's multiple-choice class and the decoders' head), a saved model that plain transformers
loads as AutoModelForMultipleChoice (trust_remote_code=True), and a SWAG run on a
sentence-transformers backbone that mean-pools (pooling=auto), through export, ONNX and the card."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from conftest import run_cli
from test_multiple_choice import choice_rows, swag_args, swag_data  # noqa: F401 (swag_data: a fixture)
from test_pooling import as_sentence_transformer
from transformers import AutoModelForMultipleChoice, AutoTokenizer

from tasks.multiple_choice_heads import DecoderForMultipleChoice, MultipleChoiceModel

# two examples of two choices: [batch, choices, length], the last choice padded
IDS = torch.tensor([[[5, 6, 7, 8, 9], [5, 6, 9, 8, 7]], [[5, 7, 7, 8, 6], [5, 6, 7, 0, 0]]])
MASK = torch.tensor([[[1, 1, 1, 1, 1], [1, 1, 1, 1, 1]], [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]])


def _pair_scores_by_hand(model) -> torch.Tensor:
    scorer = model.scorer if isinstance(model, DecoderForMultipleChoice) else model
    head = scorer.classifier if hasattr(scorer, "classifier") else scorer.score
    hidden = scorer.base_model(input_ids=IDS.view(4, 5), attention_mask=MASK.view(4, 5)).last_hidden_state
    lengths = MASK.view(4, 5).sum(-1)
    pooled = torch.stack([hidden[row, :n].mean(0) for row, n in enumerate(lengths)])
    return head(pooled).view(2, 2)


@pytest.mark.parametrize("backbone", ["tiny_bert", "tiny_llama"])
def test_each_pair_is_scored_on_the_mean_of_its_real_tokens(backbone, request):
    model = MultipleChoiceModel.from_pretrained(str(request.getfixturevalue(backbone)), pooling="mean").eval()
    assert type(model).__name__ == ("MeanPooledBertForMultipleChoice" if backbone == "tiny_bert"
                                    else "DecoderForMultipleChoice")
    logits = model(input_ids=IDS, attention_mask=MASK).logits
    assert logits.shape == (2, 2)
    torch.testing.assert_close(logits, _pair_scores_by_hand(model))
    if backbone == "tiny_bert":
        assert model.base_model.pooler is None
        # the padded pair scores as it does alone
        alone = model(input_ids=IDS[1:, 1:, :3], attention_mask=MASK[1:, 1:, :3]).logits
        torch.testing.assert_close(alone[0, 0], logits[1, 1], atol=1e-5, rtol=1e-5)
        labels = torch.tensor([1, 0])
        assert model(input_ids=IDS, attention_mask=MASK, labels=labels).loss.item() == pytest.approx(
            torch.nn.functional.cross_entropy(logits, labels).item(), rel=1e-6)
    # pooling=model keeps transformers' own head: other scores from the same weights
    own = MultipleChoiceModel.from_pretrained(str(request.getfixturevalue(backbone)), pad_token_id=0).eval()
    assert not torch.allclose(own(input_ids=IDS, attention_mask=MASK).logits, logits)


def test_a_saved_mean_pooled_multiple_choice_model_loads_in_plain_transformers(tiny_bert, tmp_path):
    model = MultipleChoiceModel.from_pretrained(str(tiny_bert), pooling="mean").eval()
    model.save_pretrained(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert saved["model_type"] == "finetune_mean_pooling" and saved["pooled_model_type"] == "bert"
    assert saved["auto_map"] == {"AutoConfig": "mean_pooling.MeanPoolingConfig",
                                 "AutoModelForMultipleChoice": "mean_pooling.MeanPoolingForMultipleChoice"}
    expected = model(input_ids=IDS, attention_mask=MASK).logits
    with pytest.raises(ValueError, match="trust_remote_code"):
        AutoModelForMultipleChoice.from_pretrained(tmp_path / "saved")
    plain = AutoModelForMultipleChoice.from_pretrained(tmp_path / "saved", trust_remote_code=True).eval()
    torch.testing.assert_close(plain(input_ids=IDS, attention_mask=MASK).logits, expected)
    again = MultipleChoiceModel.from_pretrained(str(tmp_path / "saved")).eval()  # no remote code run
    assert type(again) is type(model)
    torch.testing.assert_close(again(input_ids=IDS, attention_mask=MASK).logits, expected)


def test_a_swag_run_on_a_mean_pooling_backbone_mean_pools_through_export_onnx_and_card(
        swag_data, tiny_bert, tmp_path):  # noqa: F811
    backbone = as_sentence_transformer(tiny_bert, tmp_path / "st")
    result = run_cli("train", "swag", *swag_args(swag_data, backbone, tmp_path, train__epochs=3))
    assert result.returncode == 0, result.stderr
    assert "Pooling: the mean of the last hidden states (pooling=auto" in result.stdout
    run = tmp_path / "tiny"
    record = json.loads((run / "metrics.json").read_text())
    assert record["pooling"] == "mean" and record["metrics"]["accuracy"] >= 0.5  # chance is 0.25
    export = tmp_path / "export"
    result = run_cli("export", str(run), "--out", str(export), "--onnx")
    assert result.returncode == 0, result.stderr  # the ONNX graph's parity check passed
    card = (export / "README.md").read_text()
    assert 'AutoModelForMultipleChoice.from_pretrained("export", trust_remote_code=True)' in card
    # the tokenizer too: AutoTokenizer reads config.json, whose auto_map makes transformers ask before it goes on
    assert 'AutoTokenizer.from_pretrained("export", trust_remote_code=True)' in card
    # plain transformers scores the dev set as the run did (predictions.tsv)
    tokenizer = AutoTokenizer.from_pretrained(export)
    model = AutoModelForMultipleChoice.from_pretrained(export, trust_remote_code=True).eval()
    rows = list(csv.DictReader((run / "predictions.tsv").open(), delimiter="\t"))
    for row, example in list(zip(rows, choice_rows(40, seed=2)))[:5]:
        endings = [f"{example['sent2']} {example[f'ending{c}']}" for c in range(4)]
        inputs = tokenizer([example["sent1"]] * 4, endings, return_tensors="pt", padding=True)
        with torch.no_grad():
            scores = model(**{k: v.unsqueeze(0) for k, v in inputs.items()}).logits[0]
        assert scores.tolist() == pytest.approx([float(row[f"score{c}"]) for c in range(4)], abs=1e-4)
    # the toolkit evaluates the ONNX graph to the run's accuracy
    evaluated = run_cli("evaluate", str(export / "onnx" / "model.onnx"), "--out", str(tmp_path / "onnx-eval"))
    assert evaluated.returncode == 0, evaluated.stderr
    onnx_metrics = json.loads((tmp_path / "onnx-eval" / "metrics.json").read_text())["metrics"]
    assert onnx_metrics["accuracy"] == pytest.approx(record["metrics"]["accuracy"])


def test_zero_shot_with_mean_pooling_is_refused(swag_data, tiny_bert, tmp_path):  # noqa: F811
    result = run_cli("evaluate", "swag", *swag_args(swag_data, tiny_bert, tmp_path), "zero_shot=true", "pooling=mean")
    assert result.returncode == 2 and "pooling=mean with zero_shot=true" in result.stderr
