"""document_context (FLERT): the words of the sentences around a sentence in its document, encoded
as context only: where they come from (CoNLL -DOCSTART- sections, a document column, a hub copy's
-DOCSTART- rows), how many tokens fit, the encoded layout, and a tagger that needs them to decide."""

from __future__ import annotations

import json
import random

import pytest
import yaml
from conftest import run_cli
from datasets import Dataset
from test_ner import IGNORED, SPECIAL, _bert_tokenizer, encode, make_adapter, ner_args, ner_bert  # noqa: F401

from finetune.data.conll import read_conll
from finetune.run.folder import RUN_CONFIG_NAME, changed_settings
from finetune.data.splits import RawSplit
from finetune.errors import InputError
from tasks import ner_context
from tasks.ner import NerAdapter
from tasks.registry import load_config


def test_conll_documents_are_the_docstart_sections(tmp_path):
    path = tmp_path / "a.conll"
    path.write_text("-DOCSTART- -X- -X- O\n\na O\n\nb O\n-DOCSTART- -X- -X- O\nc O\n\n")
    assert read_conll(str(path))[0]["document"] == [1, 1, 2]
    path.write_text("a O\n\nb O\n")
    assert "document" not in read_conll(str(path))[0].column_names  # no -DOCSTART-: no documents marked


def test_context_words_stay_inside_the_document_and_take_the_nearest_words():
    tokens = [["a", "b"], ["c"], ["d", "e", "f"], ["g"], ["h", "i"]]
    before, after = ner_context.context_words(tokens, [1, 1, 1, 2, 2], size=2)
    assert before == [[], ["a", "b"], ["b", "c"], [], ["g"]]
    assert after == [["c", "d", "e", "f"][:2], ["d", "e"], [], ["h", "i"], []]
    # a hub copy keeps -DOCSTART- as rows: they are the edges, with no context of their own
    hub = [["-DOCSTART-"], ["a"], ["b"], ["-DOCSTART-"], ["c"]]
    split = RawSplit("train", Dataset.from_dict({"tokens": hub}), "hub", "eriktks/conll2003")
    marks = ner_context.documents(split, hub, "document")
    assert marks == [None, 1, 1, None, 2]
    before, after = ner_context.context_words(hub, marks, size=5)
    assert before == [[], [], ["a"], [], []] and after == [[], ["b"], [], [], []]


def test_fit_keeps_the_nearest_tokens_within_the_room_and_gives_unused_room_to_the_other_side():
    before, after = [1, 2, 3, 4, 5], [6, 7]
    assert ner_context.fit(before, after, free=100, size=4) == ([2, 3, 4, 5], [6, 7])
    assert ner_context.fit(before, after, free=6, size=4) == ([2, 3, 4, 5], [6, 7])
    assert ner_context.fit(before, after, free=3, size=4) == ([4, 5], [6])
    assert ner_context.fit(before, [], free=3, size=4) == ([3, 4, 5], [])  # the other side's share
    assert ner_context.fit(before, after, free=0, size=4) == ([], [])


def test_context_tokens_sit_around_the_sentence_with_no_label_and_no_word(tmp_path):
    tokenizer = _bert_tokenizer(tmp_path)
    adapter = make_adapter(document_context=4)
    batch = {"tokens": [["john", "met"]], "tags": [["B-PER", "O"]],
             ner_context.BEFORE: [["paris", "and", "london", "."]], ner_context.AFTER: [["mary", "said"]]}
    out = adapter.encode(batch, [0], tokenizer, "train")
    assert tokenizer.convert_ids_to_tokens(out["input_ids"][0]) == [
        "[CLS]", "paris", "and", "london", ".", "john", "met", "mary", "said", "[SEP]"]
    assert out["labels"][0] == [IGNORED] * 5 + [adapter.labels.index("B-PER"), 0] + [IGNORED] * 3
    assert out["word_index"][0] == [SPECIAL] * 5 + [0, 1] + [SPECIAL] * 3
    assert out["attention_mask"][0] == [1] * 10 and out["token_type_ids"][0] == [0] * 10
    # the room max_seq_length leaves: 8 tokens less [CLS], [SEP] and the sentence's 2 = 4, split 2 / 2
    short = make_adapter(document_context=4, **{"data.max_seq_length": 8}).encode(batch, [0], tokenizer, "train")
    assert tokenizer.convert_ids_to_tokens(short["input_ids"][0]) == [
        "[CLS]", "london", ".", "john", "met", "mary", "said", "[SEP]"]
    # without the option (or for a sentence cut into windows) nothing is added
    assert encode(make_adapter(), tokenizer, [["john", "met"]])["input_ids"][0] == \
        tokenizer(["john", "met"], is_split_into_words=True)["input_ids"]


def test_a_train_split_without_documents_settles_the_run_to_no_context(capsys):
    adapter = make_adapter(document_context=8)
    rows = Dataset.from_dict({"tokens": [["john"]], "tags": [["B-PER"]]})
    marked = Dataset.from_dict({"tokens": [["john"], ["met"]], "tags": [["B-PER"], ["O"]], "document": [3, 3]})
    # the hub's copy: no documents in train, so the model reads none, on the dev set (marked) too
    splits = {"validation": RawSplit("validation", marked, "file", "dev.conll"),
              "train": RawSplit("train", rows, "hub", "eriktks/conll2003")}
    ner_context.add_to_splits(splits, adapter.config)
    assert all(ner_context.BEFORE not in split.dataset.column_names for split in splits.values())
    assert adapter.options.document_context == 0 and adapter.config.asked_for == {"document_context": 8}
    saved = adapter.config.to_dict()
    assert saved["document_context"] == 0 and saved["asked_for"] == {"document_context": 8}
    assert "document_context=8 -> 0 (recorded in config.yaml)" in capsys.readouterr().err
    assert "asked_for" not in make_adapter(document_context=8).config.to_dict()  # no settling, no record


def test_a_train_split_with_documents_gives_context_and_another_split_is_encoded_alone(capsys):
    adapter = make_adapter(document_context=8)
    rows = Dataset.from_dict({"tokens": [["john"]], "tags": [["B-PER"]]})
    marked = Dataset.from_dict({"tokens": [["john"], ["met"]], "tags": [["B-PER"], ["O"]], "document": [3, 3]})
    splits = {"train": RawSplit("train", marked, "file", "train.conll"), "validation": RawSplit("validation", rows, "file", "dev.conll")}
    ner_context.add_to_splits(splits, adapter.config)
    assert splits["train"].dataset[ner_context.BEFORE] == [[], ["john"]]
    assert ner_context.BEFORE not in splits["validation"].dataset.column_names
    assert adapter.options.document_context == 8 and adapter.config.asked_for == {}
    assert "validation: no documents marked in dev.conll: its sentences are encoded without context" in capsys.readouterr().err


def _documents(n: int, seed: int) -> str:
    """CoNLL documents of two sentences: a cue sentence (two people, or two places) and
    "jones said .", where jones is a person after people and a place after places: the tag of
    jones is decided by the other sentence alone, which comes before or after it."""
    rng = random.Random(seed)
    blocks = []
    for _ in range(n):
        kind = rng.choice(["PER", "LOC"])
        names = rng.sample(["john", "mary", "smith"] if kind == "PER" else ["paris", "london", "berlin"], 2)
        cue = [(names[0], f"B-{kind}"), ("and", "O"), (names[1], f"B-{kind}"), (".", "O")]
        ambiguous = [("jones", f"B-{kind}"), ("said", "O"), (".", "O")]
        sentences = [cue, ambiguous] if rng.random() < 0.5 else [ambiguous, cue]
        blocks.append("-DOCSTART-\tO\n\n" + "\n".join("".join(f"{w}\t{t}\n" for w, t in s) for s in sentences))
    return "\n".join(blocks)


def test_a_tagger_with_document_context_tags_what_the_sentence_alone_cannot_decide(ner_bert, tmp_path):  # noqa: F811
    files = {}
    for name, n, seed in (("train", 120, 1), ("dev", 40, 2), ("test", 10, 3)):
        files[name] = tmp_path / f"{name}.conll"
        files[name].write_text(_documents(n, seed))
    scores = {}
    for size in (0, 8):
        args = ner_args(files, ner_bert, tmp_path, run_name=f"context{size}", document_context=size, train__epochs=8)
        result = run_cli("train", "wnut17", *args)
        assert result.returncode == 0, result.stderr
        scores[size] = json.loads((tmp_path / f"context{size}" / "metrics.json").read_text())["metrics"]["f1"]
    # alone, "jones said ." is a person or a place at random: a sixth of the entities are a coin toss
    assert scores[0] <= 0.93
    assert scores[8] >= 0.98
    predicted = (tmp_path / "context8" / "predictions.conll").read_text().split("\n\n")
    assert len([s for s in predicted if s.strip()]) == 80  # every sentence predicted once, context never tagged
    # predict RUN gives the test file's sentences their documents too; the card says what the model read
    run = tmp_path / "context8"
    assert run_cli("predict", str(run)).returncode == 0
    assert json.loads((run / "test_metrics.json").read_text())["metrics"]["f1"] >= 0.98
    assert run_cli("export", str(run), "--out", str(tmp_path / "export")).returncode == 0
    assert "up to 8 subword tokens of the sentences around it" in (tmp_path / "export" / "README.md").read_text()


def test_a_run_on_a_train_file_without_documents_records_and_predicts_without_context(ner_bert, tmp_path):  # noqa: F811
    files = {name: tmp_path / f"{name}.conll" for name in ("train", "dev", "test")}
    files["train"].write_text(_documents(20, 1).replace("-DOCSTART-\tO\n\n", ""))  # the hub's copy: no documents
    files["dev"].write_text(_documents(6, 2))
    files["test"].write_text(_documents(4, 3))
    args = ner_args(files, ner_bert, tmp_path, run_name="alone", document_context=8, train__epochs=1)
    result = run_cli("train", "wnut17", *args)
    assert result.returncode == 0, result.stderr
    assert "document_context=8 -> 0" in result.stderr
    run = tmp_path / "alone"
    for record in (run / "config.yaml", run / "checkpoints" / "best" / RUN_CONFIG_NAME):
        saved = yaml.safe_load(record.read_text())
        assert saved["document_context"] == 0 and saved["asked_for"] == {"document_context": 8}, record
    # predict RUN reads the run's record: the test file's documents give the model no context it never saw
    assert NerAdapter(load_config(run / "checkpoints" / "best" / RUN_CONFIG_NAME)).options.document_context == 0
    assert run_cli("predict", str(run)).returncode == 0
    assert run_cli("export", str(run), "--out", str(tmp_path / "export")).returncode == 0
    card = (tmp_path / "export" / "README.md").read_text()
    assert "Each sentence was read alone: the config asked for 8 tokens of document context" in card
    assert "subword tokens of the sentences around it" not in card
    # the same command again, or one asking what ran, continues it; another value is refused
    for value, same in ((8, True), (0, True), (4, False)):
        again = load_config("wnut17", ner_args(files, ner_bert, tmp_path, run_name="alone", document_context=value,
                                               train__epochs=1, train__precision="no"))
        assert (changed_settings(run / "config.yaml", again) == []) is same, value
    assert run_cli("train", "wnut17", *args).returncode == 0
    refused = run_cli("train", "wnut17", *[a for a in args if not a.startswith("document_context=")], "document_context=4")
    assert refused.returncode == 2 and "document_context: 0 there, 4 now" in refused.stderr
