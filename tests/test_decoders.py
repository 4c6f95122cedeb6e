"""Decoders classify too: a pad token is set, the last real token is pooled, either padding side."""

from __future__ import annotations

import pytest
import torch
from conftest import run_cli, tiny_args
from transformers import AutoModelForSequenceClassification

from finetune.engine import batching
from finetune.models import backbones as models

SENTENCES = ["good", "the movie was good and great", "bad plot", "it is a very dull and boring story"]


def _classifier(path):
    tokenizer = models.load_tokenizer(str(path))
    torch.manual_seed(0)
    model = models.load_model(AutoModelForSequenceClassification, str(path), tokenizer, num_labels=3)
    return tokenizer, model.eval()


@pytest.mark.parametrize("fixture", ["tiny_gpt2", "tiny_llama"])
def test_pad_token_is_set_and_pooled_token_is_the_last_real_one(fixture, request):
    tokenizer, model = _classifier(request.getfixturevalue(fixture))
    assert tokenizer.pad_token == tokenizer.eos_token == "</s>"
    assert model.config.pad_token_id == tokenizer.pad_token_id
    alone = []
    with torch.no_grad():
        for sentence in SENTENCES:
            alone.append(model(**tokenizer(sentence, return_tensors="pt")).logits[0])
        for side in ("right", "left"):
            tokenizer.padding_side = side
            collate = batching.collator(tokenizer, on_gpu=False)
            batch = collate([tokenizer(s) for s in SENTENCES])
            assert (batch["input_ids"][:, 0 if side == "left" else -1] == tokenizer.pad_token_id).any()
            logits = model(**batch).logits
            for row, expected in zip(logits, alone):
                torch.testing.assert_close(row, expected, rtol=1e-4, atol=1e-5, msg=f"{side} padding")


@pytest.mark.parametrize("fixture", ["tiny_gpt2", "tiny_llama"])
def test_decoder_trains_through_the_cli(fixture, request, sentiment_data, tmp_path):
    result = run_cli("train", "sst2", *tiny_args(sentiment_data, request.getfixturevalue(fixture), tmp_path,
                                                 train__max_steps=6, train__eval_every=3))
    assert result.returncode == 0, result.stderr[-3000:]
    best = tmp_path / "tiny" / "checkpoints" / "best"
    model = AutoModelForSequenceClassification.from_pretrained(best)
    assert model.config.pad_token_id is not None and model.config.id2label == {0: "negative", 1: "positive"}
    rows = (tmp_path / "tiny" / "predictions.tsv").read_text().splitlines()
    assert len(rows) == 26
