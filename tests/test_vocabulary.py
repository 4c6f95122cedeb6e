"""Vocabulary extension (vocab.add_tokens): characters a tokenizer maps to [UNK] become tokens of
their own, offsets stay exact, the new rows train, and the tokenizer travels with every save."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from safetensors.torch import load_file

from finetune.config.schema import VocabConfig
from finetune.errors import InputError
from finetune.models import vocabulary
from tasks import registry
from tasks.registry import load_config
from tests.conftest import make_bert, run_cli

BASE = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "苏", "是", "人", "，", "。", "？", "the", "a"]
# Chinese NER where the base vocabulary knows none of the characters that matter: surnames and
# given names (PER), cities (LOC) and filler (O) are all [UNK] to it, so without new tokens the
# tags cannot be told apart.
SURNAMES, GIVEN, CITIES = "王李张刘陈", "伟芳娜敏静", "京沪津渝"
FILLER = "去过在和的了说今天"


def _tokenizer(words: list[str] = BASE):
    from transformers import BertTokenizerFast

    return BertTokenizerFast(vocab={t: i for i, t in enumerate(words)}, do_lower_case=True)


def _chinese_ner_rows(n: int, seed: int) -> list[tuple[list[str], list[str]]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        chars, tags = [], []
        for _ in range(rng.randint(2, 4)):
            if rng.random() < 0.5:
                name = rng.choice(SURNAMES) + rng.choice(GIVEN)
                chars += list(name)
                tags += ["B-PER", "I-PER"]
            else:
                chars.append(rng.choice(CITIES))
                tags.append("B-LOC")
            chars.append(rng.choice(FILLER))
            tags.append("O")
        rows.append((chars, tags))
    return rows


def _write_conll(path: Path, rows) -> Path:
    path.write_text("".join("".join(f"{c}\t{t}\n" for c, t in zip(chars, tags)) + "\n" for chars, tags in rows),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def zh_bert(tmp_path_factory) -> Path:
    return make_bert(tmp_path_factory.mktemp("models") / "zh-bert", dropout=0.0, vocab=BASE)


@pytest.fixture(scope="module")
def zh_ner(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("zh-ner")
    return {"train": _write_conll(folder / "train.bio", _chinese_ner_rows(120, 1)),
            "dev": _write_conll(folder / "dev.bio", _chinese_ner_rows(30, 2)),
            "test": _write_conll(folder / "test.bio", _chinese_ner_rows(10, 3))}


def _args(data, model, out, **extra) -> list[str]:
    args = {"model": str(model), "output_dir": str(out), "data.train": str(data["train"]),
            "data.validation": str(data["dev"]), "data.test": str(data["test"]), "train.epochs": "6",
            "train.batch_size": "16", "train.lr": "1e-2", "train.warmup_ratio": "0", "run_name": "zh",
            "data.max_seq_length": "32", "train.log_every": "8", "tag_scheme": "bio", "vocab.add_tokens": "auto",
            # the plain tagger (resume_ner.yaml has the CRF): the export is compared with transformers'
            # pipeline, which tags by each token's argmax (the CRF's export: test_ner_crf.py)
            "crf": "false"}
    args.update({k.replace("__", "."): str(v) for k, v in extra.items()})
    return [f"{k}={v}" for k, v in args.items()]


# -- the scan ---------------------------------------------------------------------------------------
def test_coverage_counts_the_characters_inside_unknown_tokens():
    text = "苏轼是北宋人，the cat。"  # 轼 北 宋 unknown, and "cat" is one [UNK] word of 3 characters
    found = vocabulary.coverage(_tokenizer(), [text])
    assert (found.characters, found.unknown, found.distinct_unknown) == (14, 6, 6)
    assert found.share == pytest.approx(6 / 14)


def test_unknown_characters_keep_those_seen_min_count_times_most_frequent_first():
    texts = ["苏轼是眉州眉山人。", "眉山的山", "轼"]
    found = vocabulary.unknown_characters(_tokenizer(), texts, min_count=2)
    # 山 3, 眉 3, 轼 2 (ties in code point order); 州 and 的 once; known characters never
    assert found == [("山", 3), ("眉", 3), ("轼", 2)]
    assert vocabulary.unknown_characters(_tokenizer(), texts, min_count=1)[-2:] == [("州", 1), ("的", 1)]


def test_uppercase_unknown_letters_are_added_in_the_form_the_normalizer_leaves():
    """An uncased tokenizer lower-cases before matching: the added token is the lower-case form,
    and both cases then map to it."""
    tokenizer = _tokenizer()
    extension = vocabulary.extend(VocabConfig(add_tokens="auto", min_count=1), tokenizer, {"train": ["Ωmega ω"]})
    assert "ω" in extension.added and "Ω" not in extension.added
    assert tokenizer.tokenize("Ω")[0].strip() == tokenizer.tokenize("ω")[0].strip() == "ω"


def test_extension_records_before_and_after_and_the_tokens_in_id_order():
    tokenizer = _tokenizer()
    texts = {"train": ["苏轼是眉州眉山人。"] * 2, "validation": ["眉山人，黄州人。"]}
    extension = vocabulary.extend(VocabConfig(add_tokens="auto", min_count=2), tokenizer, texts)
    assert extension.added == ["眉", "山", "州", "轼"]  # 眉 4 times first; the others twice, in code point order
    assert [tokenizer.convert_tokens_to_ids(t) for t in extension.added] == list(range(len(BASE), len(BASE) + 4))
    record = extension.record()
    assert record["added"] == 4 and record["vocabulary_before"] == len(BASE) and record["vocabulary_after"] == len(BASE) + 4
    assert record["unknown_before"]["train"]["unknown"] == 10 and record["unknown_after"]["train"]["unknown"] == 0
    # 黄 is not in train: still unknown on dev afterwards
    assert record["unknown_after"]["validation"]["unknown"] == 1 and record["unknown_before"]["validation"]["unknown"] == 4
    assert "4 tokens added" in extension.describe()


def test_offsets_stay_exact_slices_of_chinese_text():
    tokenizer = _tokenizer()
    text = "苏轼是北宋著名的文学家，眉州眉山人。Su Shi？"
    vocabulary.extend(VocabConfig(add_tokens="auto", min_count=1), tokenizer, {"train": [text]})
    encoded = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    assert tokenizer.unk_token_id not in encoded["input_ids"][:17]
    pieces = [text[s:e] for s, e in encoded["offset_mapping"]]
    assert "".join(pieces) == text.replace(" ", "")  # every character once, in order, nothing shifted
    for token_id, piece in zip(encoded["input_ids"], pieces):
        if token_id >= len(BASE):
            assert tokenizer.convert_ids_to_tokens(token_id) == piece.lower()  # uncased: "S" finds "s"


def test_span_qa_targets_and_answers_stay_exact_after_extension():
    """The answer's target tokens, mapped back by their offsets, are the answer: exact slices."""
    adapter = registry.get(load_config("cmrc2018", ["data.max_seq_length=40", "doc_stride=8"]))
    tokenizer = adapter.prepare_tokenizer(_tokenizer())
    context, question, answer = "苏轼是北宋著名的文学家与政治家，眉州眉山人。", "苏轼是哪里人？", "眉州眉山"
    examples = Dataset.from_dict({"id": ["q"], "question": [question], "context": [context],
                                  "answers": [{"text": [answer], "answer_start": [context.index(answer)]}]})
    vocabulary.extend(VocabConfig(add_tokens="auto", min_count=1), tokenizer, {"train": adapter.texts(examples)})
    targets = adapter.encode(examples[:], [0], tokenizer, "train")
    windows = adapter.encode(examples[:], [0], tokenizer, "validation")  # the same windows, with their offsets
    assert targets["input_ids"] == windows["input_ids"]
    spans = [(offsets[s][0], offsets[e][1]) for offsets, s, e in
             zip(windows["offset_mapping"], targets["start_positions"], targets["end_positions"]) if s]
    assert spans and all(context[a:b] == answer for a, b in spans)


def test_byte_level_tokenizers_have_no_unknown_text_and_auto_says_so():
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    backend = ByteLevelBPETokenizer()
    backend.train_from_iterator(["the cat sat on the mat"] * 10, vocab_size=300, min_frequency=1)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend._tokenizer, unk_token="<|endoftext|>")
    tokenizer.add_special_tokens({"unk_token": "<|endoftext|>"})  # named, as SmolLM2's, never produced
    size = len(tokenizer)
    extension = vocabulary.extend(VocabConfig(add_tokens="auto", min_count=1), tokenizer, {"train": ["苏轼是眉州人"] * 3})
    assert extension.added == [] and len(tokenizer) == size
    assert "byte" in extension.note and extension.before["train"].unknown == 0
    assert extension.before["train"].tokens > extension.before["train"].characters  # bytes: several tokens a character


# -- token files ------------------------------------------------------------------------------------
def test_a_token_file_adds_its_tokens_once_and_skips_known_ones(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_text("轼\n\n苏\n眉山\n轼\n", encoding="utf-8")
    tokenizer = _tokenizer()
    extension = vocabulary.extend(VocabConfig(add_tokens=str(path)), tokenizer, {"train": ["眉山"]})
    assert extension.added == ["轼", "眉山"]  # 苏 is known; the repeated 轼 once
    assert tokenizer.tokenize("眉山")[0].strip() == "眉山"


@pytest.mark.parametrize("content, expected", [
    (b"\xe8\xbd\xbc\n\xff\xfe\n", r"tokens\.txt, line 2: not UTF-8"),
    ("轼\n眉 山\n".encode(), r"tokens\.txt, line 2: .*whitespace"),
    (b"\n\n", r"tokens\.txt: no tokens"),
])
def test_bad_token_files_name_the_line(tmp_path, content, expected):
    path = tmp_path / "tokens.txt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=expected):
        vocabulary.read_token_file(str(path))


def test_a_bad_token_file_exits_2_before_training(zh_bert, zh_ner, tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_bytes(b"\xe8\xbd\xbc\n\xff\n")
    result = run_cli("train", "resume_ner", *_args(zh_ner, zh_bert, tmp_path, vocab__add_tokens=path))
    assert result.returncode == 2, result.stderr[-2000:]
    assert "tokens.txt, line 2: not UTF-8" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "zh").exists()


# -- end to end -------------------------------------------------------------------------------------
def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


@pytest.fixture(scope="module")
def zh_runs(zh_bert, zh_ner, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("zh-runs")
    runs = {}
    for mode in ("auto", "off"):
        result = run_cli("train", "resume_ner", *_args(zh_ner, zh_bert, out / mode, vocab__add_tokens=mode))
        assert result.returncode == 0, result.stderr[-3000:]
        runs[mode] = out / mode / "zh"
        runs[f"{mode}-stdout"] = result.stdout
    return runs


def test_new_tokens_make_unknown_characters_learnable(zh_runs):
    """Without new tokens every name, city and filler character is [UNK]: the tags cannot be told
    apart. With them the same recipe learns the entities."""
    on, off = _metrics(zh_runs["auto"]), _metrics(zh_runs["off"])
    assert on["metrics"]["f1"] > 0.9 and off["metrics"]["f1"] < 0.5
    record = on["vocabulary"]
    assert record["added"] == len(SURNAMES + GIVEN + CITIES + FILLER) and record["source"] == "auto"
    assert record["unknown_before"]["train"]["unknown_share"] == 1.0 and record["unknown_after"]["train"]["unknown"] == 0
    assert "vocabulary" not in off
    assert "tokens added" in zh_runs["auto-stdout"]


def test_new_rows_start_as_the_unknown_row_and_train_apart(zh_runs, zh_bert):
    from transformers import AutoModelForTokenClassification

    base = load_file(zh_bert / "model.safetensors")["embeddings.word_embeddings.weight"]
    trained = AutoModelForTokenClassification.from_pretrained(zh_runs["auto"] / "checkpoints" / "best")
    rows = trained.get_input_embeddings().weight.detach()
    assert rows.shape[0] == len(BASE) + 23
    new = rows[len(BASE):]
    assert (new - base[1]).abs().max() > 1e-2  # moved away from the [UNK] row they were copied from
    assert torch.cdist(new, new).fill_diagonal_(1.0).min() > 1e-3  # and apart from each other


def test_the_export_loads_with_plain_transformers_and_tags_like_the_toolkit(zh_runs, tmp_path):
    from transformers import pipeline

    exported = run_cli("export", str(zh_runs["auto"]), "--out", str(tmp_path / "export"))
    assert exported.returncode == 0, exported.stderr[-2000:]
    card = (tmp_path / "export" / "README.md").read_text()
    assert "23 tokens added" in card and "vocab.add_tokens" in card
    text = "王伟去过京，李芳在沪"
    shown = run_cli("predict", str(tmp_path / "export"), "--text", text)
    assert shown.returncode == 0, shown.stderr[-2000:]
    ours = [(kind, int(span.split("-")[0]), int(span.split("-")[1]))
            for kind, span, _ in (line.strip().split("\t") for line in shown.stdout.splitlines()[1:])]
    tagger = pipeline("token-classification", model=str(tmp_path / "export"), aggregation_strategy="first")
    theirs = [(e["entity_group"], e["start"], e["end"]) for e in tagger(text)]
    assert ours == theirs and ("PER", 0, 2) in ours and ("LOC", 4, 5) in ours


def test_resume_after_a_kill_keeps_the_vocabulary_and_equals_a_whole_run(zh_runs, zh_bert, zh_ner, tmp_path):
    args = _args(zh_ner, zh_bert, tmp_path, train__save_every=5, train__keep_last=3)
    killed = run_cli("train", "resume_ner", *args, env={"FINETUNE_TEST_KILL_AT_STEP": "12"})
    assert killed.returncode == -9
    run = tmp_path / "zh"
    saved = vocabulary.tokens_in(run / "checkpoints" / "step-10", len(BASE))
    assert saved == vocabulary.tokens_in(zh_runs["auto"] / "checkpoints" / "best", len(BASE)) and len(saved) == 23
    resumed = run_cli("train", "resume_ner", *args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "as in step-10" in resumed.stdout
    whole = load_file(zh_runs["auto"] / "checkpoints" / "best" / "model.safetensors")
    again = load_file(run / "checkpoints" / "best" / "model.safetensors")
    for key in whole:
        torch.testing.assert_close(whole[key], again[key], rtol=0, atol=1e-6, msg=key)


def test_lora_with_new_tokens_is_refused(zh_bert, zh_ner, tmp_path):
    result = run_cli("train", "resume_ner", *_args(zh_ner, zh_bert, tmp_path, lora__enabled="true"))
    assert result.returncode == 2 and "(peft.method=none)" in result.stderr and "Traceback" not in result.stderr


# -- initialisation and learning rate of the new rows --------------------------------------------------
@pytest.mark.parametrize("init", ["unk", "mean", "random"])
def test_new_rows_are_initialised_as_asked(init, zh_bert):
    from transformers import AutoModelForTokenClassification

    tokenizer = _tokenizer()
    model = AutoModelForTokenClassification.from_pretrained(zh_bert, num_labels=3)
    old = model.get_input_embeddings().weight.detach().clone()
    torch.manual_seed(0)
    extension = vocabulary.extend(VocabConfig(add_tokens="auto", min_count=1, init=init), tokenizer, {"train": ["王伟京沪"]})
    vocabulary.resize(model, extension, tokenizer)
    rows = model.get_input_embeddings().weight.detach()
    assert rows.shape == (len(BASE) + 4, old.shape[1]) and torch.equal(rows[:len(BASE)], old)
    new = rows[len(BASE):]
    if init == "unk":
        assert torch.equal(new, old[1].expand_as(new))
    elif init == "mean":  # transformers' mean_resizing: all near the mean of the old rows
        assert (new - old.mean(0)).abs().max() < 1e-3
    else:  # drawn like the old rows: apart from each other, as far from the mean as old rows are
        assert torch.cdist(new, new).fill_diagonal_(1.0).min() > 0.1
        spread = (old - old.mean(0)).norm(dim=1).mean()
        assert 0.3 * spread < (new - old.mean(0)).norm(dim=1).mean() < 3 * spread


def test_embedding_lr_gives_the_embedding_matrix_its_own_rate(zh_bert):
    from transformers import AutoModelForTokenClassification

    from finetune.config.schema import TrainConfig
    from finetune.engine import optim

    model = AutoModelForTokenClassification.from_pretrained(zh_bert, num_labels=3)
    embeddings = model.get_input_embeddings().weight
    plain = optim.optimizer(model, TrainConfig(lr=1e-4), 1e-4, fused=False)
    assert [g["lr"] for g in plain.param_groups] == [1e-4, 1e-4]
    split = optim.optimizer(model, TrainConfig(lr=1e-4, embedding_lr=1e-2), 1e-4, fused=False)
    rates = {id(p): g["lr"] for g in split.param_groups for p in g["params"]}
    assert len(rates) == sum(1 for p in model.parameters() if p.requires_grad)  # each parameter in one group
    assert rates.pop(id(embeddings)) == 1e-2 and set(rates.values()) == {1e-4}
    assert optim.schedule(split, TrainConfig(lr=1e-4, embedding_lr=1e-2, warmup_steps=0), 10).get_last_lr()[-1] == 1e-2
