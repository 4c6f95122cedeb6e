"""NER adapter: label alignment, windows over long sentences, decoders, the CLI, export and pipeline."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, shown_entities
from datasets import Dataset

from finetune.data.splits import RawSplit
from tasks.ner import (
    CONTINUATION,
    IGNORED,
    SPECIAL,
    NerAdapter,
    entity_spans,
    owner_windows,
    window_starts,
)
from tasks.registry import load_config

PEOPLE = ["john", "mary", "smith", "jones"]
PLACES = ["paris", "london", "berlin"]
FILLER = ["the", "visited", "met", "in", "and", "today", "said", "."]
SUBWORD_PIECES = ["new", "##castle", "york", "##shire"]  # "newcastle" = new + ##castle


def ner_rows(n: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """Sentences where a PER is one or two name words and a LOC one place word; a filler word
    follows every entity, so that the tags are a function of the words (B- vs I- is never a guess)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words, tags = [], []
        for _ in range(rng.randint(2, 5)):
            kind = rng.random()
            if kind < 0.3:
                names = rng.sample(PEOPLE, rng.randint(1, 2))
                words += names + [rng.choice(FILLER)]
                tags += ["B-PER"] + ["I-PER"] * (len(names) - 1) + ["O"]
            elif kind < 0.5:
                words += [rng.choice(PLACES), rng.choice(FILLER)]
                tags += ["B-LOC", "O"]
            else:
                words.append(rng.choice(FILLER))
                tags.append("O")
        rows.append((words, tags))
    return rows


def write_conll(path: Path, rows) -> Path:
    path.write_text("".join("".join(f"{w}\t{t}\n" for w, t in zip(words, tags)) + "\n" for words, tags in rows),
                    encoding="utf-8")
    return path


def _bert_tokenizer(folder: Path):
    from transformers import BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + PEOPLE + PLACES + FILLER + SUBWORD_PIECES
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)
    tokenizer.save_pretrained(folder)
    return tokenizer


@pytest.fixture(scope="module")
def ner_bert(tmp_path_factory) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("models") / "ner-bert"
    folder.mkdir()
    tokenizer = _bert_tokenizer(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def ner_data(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ner")
    return {"train": write_conll(folder / "train.conll", ner_rows(160, 1)),
            "dev": write_conll(folder / "dev.conll", ner_rows(30, 2)),
            "test": write_conll(folder / "test.conll", ner_rows(10, 3))}


def ner_args(data, model, out, **extra) -> list[str]:
    args = {"model": str(model), "output_dir": str(out), "data.train": str(data["train"]),
            "data.validation": str(data["dev"]), "data.test": str(data["test"]), "train.epochs": "10",
            "train.batch_size": "16", "train.lr": "1e-2", "train.warmup_ratio": "0", "run_name": "ner",
            "data.max_seq_length": "32", "train.log_every": "10", "tag_scheme": "bio",
            "crf": "false"}  # the plain tagger: the NER configs' CRF has its own tests (test_ner_crf.py)
    args.update({k.replace("__", "."): str(v) for k, v in extra.items()})
    return [f"{k}={v}" for k, v in args.items()]


def make_adapter(**options) -> NerAdapter:
    overrides = [f"{k}={v}" for k, v in {"crf": "false", **options}.items()]  # the plain tagger, as ner_args
    adapter = NerAdapter(load_config("wnut17", overrides))
    adapter.labels = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    return adapter


def encode(adapter, tokenizer, sentences, tags=None):
    batch = {"tokens": sentences}
    if tags is not None:
        batch["tags"] = tags
    return adapter.encode(batch, list(range(len(sentences))), tokenizer, "validation")


# -- windows --------------------------------------------------------------------------------------
def test_window_starts_cover_everything_with_the_overlap():
    assert window_starts(5, 8, 2) == [0]
    assert window_starts(8, 8, 2) == [0]
    assert window_starts(9, 8, 2) == [0, 6]
    assert window_starts(20, 8, 2) == [0, 6, 12]  # windows 0-7, 6-13, 12-19


def test_owner_window_is_the_one_with_most_context_on_both_sides():
    starts = [0, 6, 12]  # room 8 over 20 tokens: windows [0, 8), [6, 14), [12, 20)
    # position 6: context min(6, 1) = 1 in window 0, min(0, 7) = 0 in window 1 -> window 0;
    # position 7: min(7, 0) = 0 vs min(1, 6) = 1 -> window 1; 13: min(7, 0) vs min(1, 6) -> window 2.
    assert owner_windows([0, 5, 6, 7, 10, 12, 13, 19], starts, 8, 20) == [0, 0, 0, 1, 1, 1, 2, 2]


# -- alignment ------------------------------------------------------------------------------------
def test_first_subword_carries_the_label_and_the_rest_are_ignored(tmp_path):
    tokenizer = _bert_tokenizer(tmp_path)
    adapter = make_adapter()
    out = encode(adapter, tokenizer, [["john", "newcastle", "the", "yorkshire"]], [["B-PER", "B-LOC", "O", "B-LOC"]])
    assert tokenizer.convert_ids_to_tokens(out["input_ids"][0]) == [
        "[CLS]", "john", "new", "##castle", "the", "york", "##shire", "[SEP]"]
    ids = {label: i for i, label in enumerate(adapter.labels)}
    assert out["labels"][0] == [IGNORED, ids["B-PER"], ids["B-LOC"], IGNORED, ids["O"], ids["B-LOC"], IGNORED, IGNORED]
    assert out["word_index"][0] == [SPECIAL, 0, 1, CONTINUATION, 2, 3, CONTINUATION, SPECIAL]


def test_label_all_tokens_continues_the_entity_with_inside_tags(tmp_path):
    tokenizer = _bert_tokenizer(tmp_path)
    adapter = make_adapter(label_all_tokens="true")
    out = encode(adapter, tokenizer, [["newcastle", "yorkshire"]], [["B-LOC", "I-LOC"]])
    ids = {label: i for i, label in enumerate(adapter.labels)}
    assert out["labels"][0] == [IGNORED, ids["B-LOC"], ids["I-LOC"], ids["I-LOC"], ids["I-LOC"], IGNORED]


def test_a_long_sentence_becomes_windows_and_every_word_is_predicted_once(tmp_path):
    tokenizer = _bert_tokenizer(tmp_path)
    adapter = make_adapter(**{"data.max_seq_length": 8, "stride": 2})
    words = ["john", "newcastle", "the", "yorkshire", "met", "mary", "in", "paris", "today", "and", "london", "."]
    tags = ["B-PER", "B-LOC", "O", "B-LOC", "O", "B-PER", "O", "B-LOC", "O", "O", "B-LOC", "O"]
    out = encode(adapter, tokenizer, [words], [tags])
    # 14 subwords, 6 a window (8 minus [CLS] and [SEP]), overlapping by 2: starts 0, 4, 8.
    assert len(out["input_ids"]) == 3
    assert all(len(ids) <= 8 for ids in out["input_ids"])
    assert all(ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id for ids in out["input_ids"])
    owned = [w for window in out["word_index"] for w in window if w >= 0]
    assert sorted(owned) == list(range(len(words)))  # each word once, none dropped
    labelled = [label for window in out["labels"] for label in window if label != IGNORED]
    assert len(labelled) == len(words)
    # Decoding reads each word from its own window: fake logits that say the right tag there
    # (and a wrong one in every other window) give back exactly the gold tags.
    ids = {label: i for i, label in enumerate(adapter.labels)}
    logits = []
    for window in out["word_index"]:
        scores = np.zeros((len(window), len(adapter.labels)))
        scores[:, ids["I-PER"]] = 1.0  # wrong everywhere a word is not owned
        for k, w in enumerate(window):
            if w >= 0:
                scores[k] = 0.0
                scores[k, ids[tags[w]]] = 5.0
        logits.append(scores)
    features = Dataset.from_dict({"example_index": out["example_index"], "word_index": out["word_index"]})
    examples = Dataset.from_dict({"tokens": [words]})
    assert adapter.decode(examples, features, {"logits": logits}) == [tags]


def test_a_word_the_tokenizer_drops_is_tagged_o_and_the_others_keep_their_place(tmp_path):
    tokenizer = _bert_tokenizer(tmp_path)
    adapter = make_adapter()
    words = ["john", "\u200b", "paris"]
    out = encode(adapter, tokenizer, [words], [["B-PER", "O", "B-LOC"]])
    assert [w for w in out["word_index"][0] if w >= 0] == [0, 2]
    logits = [np.tile(np.array([0.0, 0.0, 0.0, 9.0, 0.0]), (len(out["word_index"][0]), 1))]  # B-PER everywhere
    features = Dataset.from_dict({"example_index": [0], "word_index": out["word_index"]})
    assert adapter.decode(Dataset.from_dict({"tokens": [words]}), features, {"logits": logits}) == [["B-PER", "O", "B-PER"]]


def test_byte_level_tokenizers_get_a_prefix_space_for_words(tmp_path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2TokenizerFast

    from finetune.models.backbones import for_words, load_tokenizer

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(["john lives in new york city"] * 5, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    GPT2TokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>").save_pretrained(tmp_path)
    words = ["john", "lives", "in", "york"]
    plain = load_tokenizer(str(tmp_path))
    prefixed = for_words(plain)
    # A word inside a sentence is " york"; given alone it must be tokenised the same way.
    sentence = prefixed(" " + " ".join(words))["input_ids"]
    assert prefixed(words, is_split_into_words=True)["input_ids"] == sentence
    assert plain(words, is_split_into_words=True)["input_ids"] != sentence
    assert plain.pad_token is not None and prefixed.pad_token is not None


# -- labels and schemes ---------------------------------------------------------------------------
def _split(rows, name="train", location="x.conll") -> RawSplit:
    tokens, tags = zip(*rows)
    return RawSplit(name, Dataset.from_dict({"tokens": list(tokens), "tags": list(tags)}), "file", location,
                    [1 + 3 * i for i in range(len(rows))])


def test_labels_come_from_train_and_a_tag_only_in_dev_names_its_line():
    from finetune.errors import InputError

    adapter = NerAdapter(load_config("wnut17", ["tag_scheme=bio"]))
    train = _split([(["john", "paris"], ["B-PER", "B-LOC"])])
    dev = _split([(["a", "b"], ["O", "O"]), (["x", "y"], ["O", "B-ORG"])], "validation", "dev.conll")
    with pytest.raises(InputError, match=r"dev\.conll, line 5: tag 'B-ORG' is not among the labels"):
        adapter.setup_labels({"train": train, "validation": dev})
    assert adapter.labels == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def test_iob1_and_bmes_files_are_read_as_bio(capsys):
    adapter = NerAdapter(load_config("wnut17", ["tag_scheme=auto"]))
    iob1 = _split([(["john", "smith", "in", "paris"], ["I-PER", "I-PER", "O", "I-LOC"])])
    bmes = _split([(list("张伟在北京"), ["B-PER", "E-PER", "O", "B-LOC", "E-LOC"])], "validation")
    adapter.setup_labels({"train": iob1, "validation": bmes})
    assert iob1.dataset["tags"] == [["B-PER", "I-PER", "O", "B-LOC"]]
    assert bmes.dataset["tags"] == [["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]]
    assert "IOB1" in capsys.readouterr().err


def test_a_malformed_tag_names_file_and_line():
    from finetune.errors import InputError

    adapter = NerAdapter(load_config("wnut17", ["tag_scheme=bio"]))
    with pytest.raises(InputError, match=r"x\.conll, line 5: .*PER"):
        adapter.setup_labels({"train": _split([(["a"], ["O"]), (["b", "c"], ["O", "PER"])])})


def test_entity_spans_are_character_offsets_into_the_text():
    text = "苹果公司在加利福尼亚州"
    spans = [(i, i + 1) for i in range(len(text))]
    tags = ["B-ORG", "I-ORG", "I-ORG", "I-ORG", "O", "B-LOC", "I-LOC", "I-LOC", "I-LOC", "I-LOC", "I-LOC"]
    assert entity_spans(tags, spans, text) == [
        {"entity_group": "ORG", "start": 0, "end": 4, "word": "苹果公司"},
        {"entity_group": "LOC", "start": 5, "end": 11, "word": "加利福尼亚州"}]


# -- end to end on tiny models --------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_ner(ner_bert, ner_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    result = run_cli("train", "wnut17", *ner_args(ner_data, ner_bert, out))
    assert result.returncode == 0, result.stderr
    return out / "ner"


def test_training_learns_the_entities_and_writes_conlleval_columns(trained_ner, ner_data):
    summary = json.loads((trained_ner / "metrics.json").read_text())
    assert summary["metrics"]["f1"] >= 0.9  # 0.94 measured: the tags are a function of the words
    lines = (trained_ner / "predictions.conll").read_text().split("\n")
    words = ner_data["dev"].read_text().split("\n")
    assert len(lines) == len(words)
    for line, gold in zip(lines, words):
        assert line.split()[:2] == gold.split()[:2]  # word, gold tag, then the prediction
    scored = run_cli("score", "wnut17", "--predictions", str(trained_ner / "predictions.conll"))
    assert scored.returncode == 0, scored.stderr
    assert f"FB1: {100 * summary['metrics']['f1']:6.2f}" in scored.stdout


def test_predict_scores_a_labelled_test_file_and_tags_typed_text(trained_ner):
    result = run_cli("predict", str(trained_ner))
    assert result.returncode == 0, result.stderr
    assert "f1=1.0000" in result.stderr and result.stdout.count("\n\n") == 10
    typed = run_cli("predict", str(trained_ner), "--text", "john smith met mary in paris.")
    assert typed.returncode == 0, typed.stderr
    assert typed.stdout.split("\n")[1:4] == ["  PER\t0-10\tjohn smith", "  PER\t15-19\tmary", "  LOC\t23-28\tparis"]


def test_export_gives_the_toolkit_entities_through_the_pipeline(trained_ner, tmp_path):
    from transformers import pipeline

    exported = tmp_path / "export"
    assert run_cli("export", str(trained_ner), "--out", str(exported)).returncode == 0
    assert 'aggregation_strategy="first"' in (exported / "README.md").read_text()
    texts = ["john smith met mary in paris.", "the newcastle mary jones visited london and berlin today"]
    typed = run_cli("predict", str(exported), *[a for t in texts for a in ("--text", t)])
    assert typed.returncode == 0, typed.stderr
    toolkit = shown_entities(typed.stdout)
    assert len(toolkit) == len(texts)
    for strategy in ("simple", "first"):
        pipe = pipeline("token-classification", model=str(exported), aggregation_strategy=strategy)
        for text, expected in zip(texts, toolkit):
            found = [(e["entity_group"], e["start"], e["end"]) for e in pipe(text)]
            if strategy == "simple" and "newcastle" in text:
                continue  # "simple" tags subwords one by one: equal only when every word is one token
            assert found == expected, (strategy, text)


@pytest.mark.parametrize("decoder", ["tiny_gpt2", "tiny_llama"])
def test_decoders_train_for_token_classification(decoder, request, tmp_path):
    model = request.getfixturevalue(decoder)
    from conftest import WORDS

    rng = random.Random(0)
    rows = []
    for _ in range(60):
        words = rng.choices(WORDS, k=rng.randint(3, 8))
        rows.append((words, ["B-POS" if w in ("good", "great", "fine") else "O" for w in words]))
    data = {"train": write_conll(tmp_path / "train.conll", rows[:48]), "dev": write_conll(tmp_path / "dev.conll", rows[48:]),
            "test": write_conll(tmp_path / "test.conll", rows[48:])}
    result = run_cli("train", "wnut17", *ner_args(data, model, tmp_path / "runs", train__lr="1e-2", train__epochs="8"))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "runs" / "ner" / "metrics.json").read_text())["metrics"]
    assert metrics["f1"] >= 0.9


# -- bad input: exit status 2, the file and line named --------------------------------------------
@pytest.mark.parametrize("damage, expected", [
    ("columns", r"dev\.conll, line 4: 3 columns"),
    ("unknown tag", r"dev\.conll, line 2: tag 'B-ORG' is not among the labels"),
    ("malformed tag", r"dev\.conll, line 3: .*'PERSON'"),
    ("empty", r"dev\.conll: the file is empty"),
])
def test_bad_ner_files_exit_2_naming_file_and_line(damage, expected, ner_bert, ner_data, tmp_path):
    import re

    dev = tmp_path / "dev.conll"
    text = {"columns": "john\tB-PER\nmet\tO\n\nparis\tB-LOC\tx\n",
            "unknown tag": "john\tB-PER\nacme\tB-ORG\n",
            "malformed tag": "john\tB-PER\n\nmary\tPERSON\n",
            "empty": ""}[damage]
    dev.write_text(text, encoding="utf-8")
    result = run_cli("train", "wnut17", *ner_args(ner_data, ner_bert, tmp_path / "runs", data__validation=dev))
    assert result.returncode == 2, result.stderr
    assert re.search(expected, result.stderr), result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()  # nothing started


def test_jsonl_rows_and_hub_class_ids_are_read_and_checked(tmp_path):
    from datasets import ClassLabel, Features, Sequence, Value

    from finetune.config.schema import DataConfig
    from finetune.data.splits import read_file
    from finetune.errors import InputError

    path = tmp_path / "train.jsonl"
    path.write_text('{"tokens": ["john", "smith"], "tags": ["B-PER", "I-PER"]}\n\n'
                    '{"tokens": ["in", "paris"], "tags": ["O", "B-LOC"]}\n', encoding="utf-8")
    dataset, lines = read_file(DataConfig(), str(path), "train")
    adapter = NerAdapter(load_config("wnut17", ["tag_scheme=auto"]))
    adapter.setup_labels({"train": RawSplit("train", dataset, "file", str(path), lines)})
    assert adapter.labels == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    # The hub stores ner_tags as class ids with their names in the features.
    features = Features({"tokens": Sequence(Value("string")),
                         "tags": Sequence(ClassLabel(names=["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]))})
    hub = Dataset.from_dict({"tokens": [["mary", "in", "berlin"]], "tags": [[1, 0, 3]]}, features=features)
    split = RawSplit("validation", hub, "hub", "eriktks/conll2003:validation")
    adapter.setup_labels({"validation": split})
    assert split.dataset["tags"] == [["B-PER", "O", "B-LOC"]]
    path.write_text('{"tokens": ["john"], "tags": ["B-PER"]}\n{"tokens": ["a", "b"], "tags": ["O"]}\n', encoding="utf-8")
    dataset, lines = read_file(DataConfig(), str(path), "train")
    with pytest.raises(InputError, match=r"train\.jsonl, line 2: 2 tokens but 1 tags"):
        adapter.setup_labels({"train": RawSplit("train", dataset, "file", str(path), lines)})
