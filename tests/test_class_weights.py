"""class_weights: the weighted objective over an accumulated batch equals torch's weighted mean on
the whole batch; balanced weights by hand; runs record them; bad values exit 2 naming the key."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_args

from finetune.cli import main
from tasks import class_weights
from tasks.class_weights import ClassWeights


class _Weighted(ClassWeights):
    def __init__(self, weights):
        self.weights = weights


def test_accumulated_micro_batches_give_torchs_weighted_mean_of_the_whole_batch():
    torch.manual_seed(0)
    weights = [0.5, 2.0, 1.25]
    adapter = _Weighted(weights)
    # NER-shaped: [batch, length, classes] with ignored positions, cut into two micro-batches
    logits = torch.randn(4, 5, 3)
    labels = torch.randint(0, 3, (4, 5))
    labels[0, 3:] = -100
    labels[2, 1] = -100
    parts = [(logits[:1], labels[:1]), (logits[1:], labels[1:])]
    loss = sum(adapter.train_loss(SimpleNamespace(logits=x), {"labels": y}) for x, y in parts)
    items = sum(adapter.train_items({"labels": y}) for _, y in parts)
    expected = F.cross_entropy(logits.reshape(-1, 3), labels.reshape(-1), weight=torch.tensor(weights), ignore_index=-100)
    assert float(loss / items) == pytest.approx(float(expected), rel=1e-6)
    # classification-shaped, by hand: two rows of one class each
    two = SimpleNamespace(logits=torch.tensor([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]]))
    batch = {"labels": torch.tensor([1, 0])}
    by_hand = (2.0 * -torch.log_softmax(two.logits[0], 0)[1] + 0.5 * -torch.log_softmax(two.logits[1], 0)[0]) / 2.5
    assert float(adapter.train_loss(two, batch) / adapter.train_items(batch)) == pytest.approx(float(by_hand))


def test_balanced_weights_by_hand():
    # 3 of "a", 1 of "b": 4 / (2 x 3) and 4 / (2 x 1)
    assert class_weights.resolve("balanced", ["a", "b"], [0, 0, 0, 1]) == pytest.approx([2 / 3, 2.0])
    assert class_weights.resolve([1, 3], ["a", "b"], None) == [1.0, 3.0]
    assert class_weights.resolve(None, ["a", "b"], [0]) is None


def _losses(run) -> list[float]:
    return [r["loss"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "loss" in r]


def test_weights_of_one_are_the_plain_loss_and_others_change_it(sentiment_data, tiny_bert, tmp_path, capsys):
    base = tiny_args(sentiment_data, tiny_bert, tmp_path, train__epochs=1, train__log_every=1)
    for name, extra in (("plain", []), ("ones", ["class_weights=[1, 1]"]), ("skewed", ["class_weights=[1, 5]"]),
                        ("balanced", ["class_weights=balanced"])):
        assert main(["train", "sst2", *base, f"run_name={name}", *extra]) == 0, capsys.readouterr().err
    plain, ones, skewed = (_losses(tmp_path / n) for n in ("plain", "ones", "skewed"))
    assert ones == pytest.approx(plain, rel=1e-6)  # sum(1 * CE) / sum(1) is the mean (summed in another order)
    # at the first steps every example's loss is near ln 2, so any weighting averages alike; then they part
    assert max(abs(a - b) for a, b in zip(skewed, plain)) > 1e-3
    recorded = json.loads((tmp_path / "skewed" / "metrics.json").read_text())["class_weights"]
    assert recorded == {"0": 1.0, "1": 5.0}
    balanced = json.loads((tmp_path / "balanced" / "metrics.json").read_text())["class_weights"]
    assert "Class weights (class_weights): 0 " in capsys.readouterr().out
    # the dev loss is unweighted: the same model state gives the same dev loss with or without weights
    assert set(balanced) == {"0", "1"} and all(w > 0 for w in balanced.values())


def test_ner_trains_with_balanced_tag_weights(tmp_path, tiny_bert, capsys):
    conll = tmp_path / "train.conll"
    conll.write_text("the O\ngood B-MISC\nfilm I-MISC\n\ngreat O\nbad B-MISC\n\n")
    args = ["train", "conll2003", f"model={tiny_bert}", f"data.train={conll}", f"data.validation={conll}", "data.test=null",
            f"output_dir={tmp_path}", "run_name=ner", "train.max_steps=2", "train.batch_size=2", "data.max_seq_length=32", "class_weights=balanced", "crf=false"]
    assert main(args) == 0, capsys.readouterr().err
    weights = json.loads((tmp_path / "ner" / "metrics.json").read_text())["class_weights"]
    # 5 words: O 2, B-MISC 2, I-MISC 1 -> 5 / (3 x count)
    assert weights == pytest.approx({"O": 5 / 6, "B-MISC": 5 / 6, "I-MISC": 5 / 3})


@pytest.mark.parametrize("value, words", [
    ("[1, 2, 3]", "3 weights for 2 labels"),
    ("[1, 0]", "not a positive number"),
    ("heavy", "class_weights"),
])
def test_bad_class_weights_exit_2_naming_the_key(value, words, sentiment_data, tiny_bert, tmp_path, capsys):
    assert main(["train", "sst2", *tiny_args(sentiment_data, tiny_bert, tmp_path), f"class_weights={value}"]) == 2
    err = capsys.readouterr().err
    assert words in err and "class_weights" in err, err
    assert not (tmp_path / "tiny").exists()


def test_regression_refuses_class_weights(sentiment_data, tiny_bert, tmp_path, capsys):
    assert main(["train", "stsb", f"model={tiny_bert}", "class_weights=balanced", f"output_dir={tmp_path}"]) == 2
    assert "regression has no classes" in capsys.readouterr().err
