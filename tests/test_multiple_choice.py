"""Multiple choice: the [batch, choices, len] reshape, encoder and decoder heads, zero-shot
likelihood scoring, the SWAG / CODAH / JSONL readers, the CLI and the decoder's export."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import random
from pathlib import Path

import pytest
import torch
from conftest import NEGATIVE, NEUTRAL, POSITIVE, run_cli

from finetune.engine.build import build
from tasks.multiple_choice import ChoiceCollator
from tasks.multiple_choice_heads import (
    DecoderForMultipleChoice,
    LikelihoodChoiceScorer,
    MultipleChoiceModel,
    _flatten,
)
from tasks.registry import load_config

SWAG_HEADER = ["", "video-id", "fold-ind", "startphrase", "sent1", "sent2", "gold-source",
               "ending0", "ending1", "ending2", "ending3", "label"]


def choice_rows(n: int, seed: int) -> list[dict]:
    """SWAG-layout rows from the tiny vocabulary: the right ending is the one with a positive word."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        sent1 = " ".join(rng.choices(NEUTRAL, k=rng.randint(3, 8)))
        sent2 = " ".join(rng.choices(NEUTRAL, k=rng.randint(1, 2)))
        endings = [" ".join(rng.choices(NEUTRAL, k=rng.randint(0, 3)) + [rng.choice(NEGATIVE)]) for _ in range(4)]
        label = rng.randrange(4)
        endings[label] = " ".join(rng.choices(NEUTRAL, k=rng.randint(0, 3)) + [rng.choice(POSITIVE)])
        rows.append({"": str(i), "video-id": f"v{i}", "fold-ind": str(i), "startphrase": f"{sent1} {sent2}",
                     "sent1": sent1, "sent2": sent2, "gold-source": "gold",
                     **{f"ending{k}": e for k, e in enumerate(endings)}, "label": str(label)})
    return rows


def write_swag(path: Path, rows: list[dict], labelled: bool = True) -> Path:
    header = SWAG_HEADER if labelled else SWAG_HEADER[:-1]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([[row[k] for k in header] for row in rows])
    return path


@pytest.fixture(scope="module")
def swag_data(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("swag")
    return {"train": write_swag(folder / "train.csv", choice_rows(160, seed=1)),
            "dev": write_swag(folder / "val.csv", choice_rows(40, seed=2)),
            "test": write_swag(folder / "test.csv", choice_rows(6, seed=3), labelled=False)}


def swag_args(data: dict[str, Path], model: Path, out: Path, **extra) -> list[str]:
    args = {"model": str(model), "output_dir": str(out), "data.train": str(data["train"]),
            "data.validation": str(data["dev"]), "data.test": str(data["test"]), "train.epochs": "6",
            "train.batch_size": "8", "train.lr": "3e-3", "train.warmup_ratio": "0", "run_name": "tiny",
            "data.max_seq_length": "32", "train.log_every": "10"}
    args.update({k.replace("__", "."): str(v) for k, v in extra.items()})
    return [f"{k}={v}" for k, v in args.items()]


def swag_config(data, model, out=Path("/tmp/unused"), **extra):
    return load_config("swag", swag_args(data, model, out, **extra))


def _causal_llama(folder: Path) -> Path:
    """A tiny Llama WITH its LM head saved (conftest's decoders are base models)."""
    from conftest import _word_level_tokenizer
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True)
    tokenizer = _word_level_tokenizer({"bos_token": "<s>"})
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                         bos_token_id=1, eos_token_id=2)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    assert AutoTokenizer.from_pretrained(folder)  # loads back
    return folder


@pytest.fixture(scope="module")
def causal_llama(tmp_path_factory) -> Path:
    return _causal_llama(tmp_path_factory.mktemp("models") / "llama-lm")


# -- the reshape -------------------------------------------------------------------------------
def _two_example_batch(data, model):
    """The seed's picture: two examples with four choices each, padded to [2, 4, L]."""
    built = build(swag_config(data, model), ["validation"])
    features = built.features["validation"].select(range(2))
    batch = ChoiceCollator(built.tokenizer)([features[i] for i in range(2)])
    return built, features, batch


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_llama", "tiny_gpt2"])
def test_the_reshape_keeps_every_choice_with_its_own_example(fixture, request, swag_data):
    built, features, batch = _two_example_batch(swag_data, request.getfixturevalue(fixture))
    longest = max(len(ids) for i in range(2) for ids in features[i]["input_ids"])
    assert batch["input_ids"].shape == (2, 4, longest)
    assert batch["labels"].tolist() == [int(features[i]["labels"]) for i in range(2)]
    flat, size, choices = _flatten({"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]})
    assert (size, choices) == (2, 4) and flat["input_ids"].shape == (8, longest)
    for b in range(2):
        for c in range(4):  # row b * 4 + c of the flat batch is choice c of example b, unpadded equal
            ids = features[b]["input_ids"][c]
            assert flat["input_ids"][b * 4 + c, :len(ids)].tolist() == ids
    model = built.model.eval()
    with torch.no_grad():
        scores = model(**{k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}).logits
        assert scores.shape == (2, 4)
        for b in range(2):  # each pair scored alone, unpadded, gives the score at [b, c]
            for c in range(4):
                alone = {k: torch.tensor([[features[b][k][c]]]) for k in ("input_ids", "attention_mask", "token_type_ids")
                         if k in features.column_names}
                assert model(**alone).logits[0, 0].item() == pytest.approx(scores[b, c].item(), abs=1e-5)


def test_encoders_use_transformers_class_and_decoders_the_toolkit_head(tiny_bert, tiny_llama, tiny_gpt2):
    from transformers import BertForMultipleChoice

    assert isinstance(MultipleChoiceModel.from_pretrained(str(tiny_bert)), BertForMultipleChoice)
    for path in (tiny_llama, tiny_gpt2):
        head = MultipleChoiceModel.from_pretrained(str(path))
        assert isinstance(head, DecoderForMultipleChoice) and head.config.num_labels == 1


def test_encoder_pairs_and_decoder_joined_text(swag_data, tiny_bert, tiny_gpt2):
    row = choice_rows(40, seed=2)[0]
    built = build(swag_config(swag_data, tiny_bert), ["validation"])
    first = built.tokenizer.decode(built.features["validation"][0]["input_ids"][1])
    assert first == f"[CLS] {row['sent1']} [SEP] {row['sent2']} {row['ending1']} [SEP]"
    built = build(swag_config(swag_data, tiny_gpt2), ["validation"])
    assert built.tokenizer.decode(built.features["validation"][0]["input_ids"][2]) == \
        f"{row['sent1']} {row['sent2']} {row['ending2']}"
    assert built.tokenizer.truncation_side == "left"  # the decoder scores the last token: keep the ending


# -- zero-shot likelihood ------------------------------------------------------------------------
def test_zero_shot_score_is_the_mean_log_likelihood_of_the_ending(swag_data, causal_llama):
    from transformers import AutoModelForCausalLM

    built = build(swag_config(swag_data, causal_llama, zero_shot="true"), ["validation"])
    assert isinstance(built.model, LikelihoodChoiceScorer)
    features = built.features["validation"].select(range(3))
    rows = choice_rows(40, seed=2)
    tokenizer = built.tokenizer
    for i in range(3):  # the mask marks exactly the ending's tokens (a word-level vocabulary: one a word)
        for c in range(4):
            ending = f"{rows[i]['sent2']} {rows[i][f'ending{c}']}"
            ids, mask = features[i]["input_ids"][c], features[i]["choice_mask"][c]
            assert tokenizer.decode([t for t, m in zip(ids, mask) if m]) == ending
    batch = ChoiceCollator(tokenizer)([features[i] for i in range(3)])
    with torch.no_grad():
        scores = built.model.eval()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                    choice_mask=batch["choice_mask"]).logits
        lm = AutoModelForCausalLM.from_pretrained(causal_llama).eval()
        for i in range(3):
            for c in range(4):
                ids, mask = torch.tensor([features[i]["input_ids"][c]]), torch.tensor(features[i]["choice_mask"][c])
                logp = lm(input_ids=ids).logits[0, :-1].log_softmax(-1).gather(-1, ids[0, 1:, None])[:, 0]
                expected = logp[mask[1:].bool()].mean().item()
                assert scores[i, c].item() == pytest.approx(expected, abs=1e-5)


def test_zero_shot_needs_a_causal_lm(swag_data, tiny_bert, tmp_path):
    result = run_cli("evaluate", "swag", *swag_args(swag_data, tiny_bert, tmp_path, zero_shot="true"))
    assert result.returncode == 2, result.stderr
    assert "has no trained language-model head" in result.stderr and "smollm2" in result.stderr


def test_zero_shot_evaluate_scores_the_dev_set(swag_data, causal_llama, tmp_path):
    result = run_cli("evaluate", "swag", *swag_args(swag_data, causal_llama, tmp_path, zero_shot="true"),
                     "--out", str(tmp_path / "zs"))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "zs" / "metrics.json").read_text())["metrics"]
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["loss"] > 0


# -- readers and bad input ------------------------------------------------------------------------
def test_the_swag_csv_layout_is_read_with_its_unnamed_index_column(swag_data, tiny_bert):
    built = build(swag_config(swag_data, tiny_bert), ["train", "validation", "test"])
    assert built.splits["validation"].dataset.column_names[0] == "Unnamed: 0"
    assert len(built.splits["train"].dataset) == 160 and "labels" in built.features["validation"].column_names
    assert "labels" not in built.features["test"].column_names  # SWAG's test file has no labels


@pytest.mark.parametrize("damage,expected", [
    (lambda rows: rows[2].update({"ending3": ""}), "line 4: ending 3 ('ending3') is empty"),
    (lambda rows: rows[5].update({"label": "4"}), "line 7: label '4' is not a choice index 0..3"),
    (lambda rows: rows[0].update({"label": "two"}), "line 2: label 'two' is not a choice index"),
])
def test_bad_rows_exit_2_naming_file_and_line(damage, expected, swag_data, tiny_bert, tmp_path):
    rows = choice_rows(10, seed=4)
    damage(rows)
    bad = write_swag(tmp_path / "bad.csv", rows)
    result = run_cli("evaluate", "swag", *swag_args({**swag_data, "dev": bad}, tiny_bert, tmp_path))
    assert result.returncode == 2, result.stderr
    assert str(bad) in result.stderr and expected in result.stderr


def test_jsonl_with_a_choices_list_and_a_wrong_choice_count(tiny_bert, tmp_path):
    rows = [{"context": "the movie was", "choices": ["good", "bad", "dull"], "label": 0},
            {"context": "the plot is", "choices": ["awful", "great", "weak"], "label": 1}]
    good = tmp_path / "dev.jsonl"
    good.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["model=" + str(tiny_bert), f"data.validation={good}", "data.train=null", "data.test=null",
            "context_column=context", "start_column=null", "choices_column=choices", "num_choices=3",
            "data.max_seq_length=32"]
    built = build(load_config("swag", args), ["validation"])
    assert len(built.features["validation"][1]["input_ids"]) == 3 and built.features["validation"][1]["labels"] == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rows[0]) + "\n" + json.dumps({**rows[1], "choices": ["awful", "great"]}) + "\n")
    result = run_cli("evaluate", "swag", *[a.replace(str(good), str(bad)) for a in args])
    assert result.returncode == 2 and f"{bad}, line 2: 2 endings where num_choices is 3" in result.stderr


def test_codah_layout_without_header(tiny_bert, tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_text("o\tthe movie was good and it\tis great\tis bad\tis dull\tis weak\t0\n"
                    "n\tthe plot was\tawful\tfine\tpoor\tboring\t1\n", encoding="utf-8")
    built = build(load_config("codah", [f"model={tiny_bert}", f"data.validation={path}", "data.train=null",
                                        "data.test=null", "data.max_seq_length=32"]), ["validation"])
    assert built.features["validation"]["labels"] == [0, 1]
    assert built.tokenizer.decode(built.features["validation"][0]["input_ids"][0]) == \
        "[CLS] the movie was good and it [SEP] is great [SEP]"


# -- training, prediction, export ------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_swag(swag_data, tiny_bert, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    result = run_cli("train", "swag", *swag_args(swag_data, tiny_bert, out))
    assert result.returncode == 0, result.stderr
    return out / "tiny"


def test_training_learns_to_choose_and_writes_predictions(trained_swag):
    metrics = json.loads((trained_swag / "metrics.json").read_text())["metrics"]
    assert metrics["accuracy"] >= 0.8  # chance is 0.25
    rows = list(csv.DictReader((trained_swag / "predictions.tsv").open(), delimiter="\t"))
    assert len(rows) == 40 and set(rows[0]) == {"index", "prediction", "label", "score0", "score1", "score2", "score3"}
    assert rows[0]["index"] == "v0"
    correct = sum(r["prediction"] == r["label"] for r in rows) / len(rows)
    assert correct == pytest.approx(metrics["accuracy"])
    assert all(int(r["prediction"]) == max(range(4), key=lambda i: float(r[f"score{i}"])) for r in rows)


def test_score_a_predictions_file_against_the_dev_file(trained_swag, swag_data):
    result = run_cli("score", "swag", "--predictions", str(trained_swag / "predictions.tsv"),
                     "--references", str(swag_data["dev"]))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((trained_swag / "metrics.json").read_text())["metrics"]
    assert json.loads(result.stdout)["metrics"]["accuracy"] == pytest.approx(metrics["accuracy"])


def test_predict_typed_context_and_choices(trained_swag):
    result = run_cli("predict", str(trained_swag), "--context", "the movie was very", "--choice", "bad",
                     "--choice", "awful", "--choice", "great", "--choice", "dull")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().split("\n")
    assert lines[0] == "the movie was very" and len(lines) == 5
    assert lines[3].startswith("> 2") and lines[3].endswith("great")  # the chosen ending is marked
    result = run_cli("predict", str(trained_swag), "--context", "the film", "--choice", "good", "--choice", "bad")
    assert result.returncode == 2 and "give one --context and 4 --choice" in result.stderr


def test_predict_the_unlabelled_test_file(trained_swag, tmp_path):
    result = run_cli("predict", str(trained_swag), "--out", str(tmp_path / "test.tsv"))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader((tmp_path / "test.tsv").open(), delimiter="\t"))
    assert len(rows) == 6 and "label" not in rows[0] and "Scores against" not in result.stdout


def test_decoder_trains_and_its_export_loads_with_plain_transformers(swag_data, tiny_llama, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    result = run_cli("train", "swag", *swag_args(swag_data, tiny_llama, tmp_path, train__epochs=1))
    assert result.returncode == 0, result.stderr
    export = tmp_path / "export"
    assert run_cli("export", str(tmp_path / "tiny"), "--out", str(export)).returncode == 0
    card = (export / "README.md").read_text()
    assert "AutoModelForSequenceClassification" in card
    tokenizer = AutoTokenizer.from_pretrained(export)
    model = AutoModelForSequenceClassification.from_pretrained(export).eval()
    rows = list(csv.DictReader((tmp_path / "tiny" / "predictions.tsv").open(), delimiter="\t"))
    dev = choice_rows(40, seed=2)
    for row, example in list(zip(rows, dev))[:5]:
        texts = [f"{example['sent1']} {example['sent2']} {example[f'ending{c}']}" for c in range(4)]
        with torch.no_grad():  # the card's recipe: one text per choice, the score of each
            scores = model(**tokenizer(texts, return_tensors="pt", padding=True)).logits[:, 0]
        assert scores.tolist() == pytest.approx([float(row[f"score{c}"]) for c in range(4)], abs=1e-4)
        assert int(scores.argmax()) == int(row["prediction"])


def test_encoder_export_card_shows_the_multiple_choice_call(trained_swag, tmp_path):
    from transformers import AutoModelForMultipleChoice

    export = tmp_path / "export"
    assert run_cli("export", str(trained_swag), "--out", str(export)).returncode == 0
    card = (export / "README.md").read_text()
    assert "AutoModelForMultipleChoice" in card and "pipeline_tag: multiple-choice" in card
    assert f'predict {export.name} --context "..." --choice "..."' in card
    assert AutoModelForMultipleChoice.from_pretrained(export).config.architectures == ["BertForMultipleChoice"]
    snippet = card.split("```python\n")[1].split("```")[0].replace(f'"{export.name}"', f'"{export}"')
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # the card's code runs as written
        exec(snippet, {})
    assert printed.getvalue().strip() in {"It shattered on the floor.", "It flew back up to the shelf.",
                                          "It sang a quiet song.", "It became a table."}
