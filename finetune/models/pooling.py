"""What a sequence classifier or multiple-choice scorer pools (the `pooling` key of classification and
multiple-choice tasks), and their loader.

pooling=auto follows the backbone: a sentence-transformers folder (modules.json naming a Pooling
module whose config mean-pools, as all-MiniLM-L6-v2's does) gets pooling=mean; any other backbone
keeps its architecture's own head (BERT: the pooler on [CLS]; GPT-2 / Llama: the last token).
"""

from __future__ import annotations

import json
from typing import Any

import transformers
from transformers import AutoModelForSequenceClassification
from transformers.utils import cached_file

from finetune.errors import InputError
from finetune.models.mean_pooling import HEADS, MODEL_TYPE, SEQUENCE, load_config, mean_pooled_class
from finetune.models.prompt_tuning import METHODS as PROMPT_METHODS


def _read_json(path: str, name: str) -> Any:
    """A file of a model folder or a hub id's cache; None when it has none (or is offline)."""
    try:
        found = cached_file(path, name, _raise_exceptions_for_missing_entries=False,
                            _raise_exceptions_for_connection_errors=False)
    except (OSError, ValueError):
        return None
    if found is None:
        return None
    with open(found, encoding="utf-8") as f:
        return json.load(f)


def sentence_transformers_pooling(path: str) -> str | None:
    """The pooling a sentence-transformers backbone was trained with: mean, cls, max, ...; None if not one."""
    modules = _read_json(path, "modules.json")
    if not isinstance(modules, list):
        return None
    for module in modules:
        if str(module.get("type", "")).endswith(".Pooling"):
            settings = _read_json(path, f"{module.get('path', '1_Pooling')}/config.json") or {}
            modes = [k.removeprefix("pooling_mode_").removesuffix("_tokens").removesuffix("_token")
                     for k, on in settings.items() if k.startswith("pooling_mode_") and on]
            return "+".join(modes) or None
    return None


def resolve(pooling: str, path: str, peft_method: str) -> tuple[str, str]:
    """(model or mean, why) for a new head on the backbone at `path`."""
    if pooling != "auto":
        return pooling, f"pooling={pooling}"
    trained_with = sentence_transformers_pooling(path)
    if trained_with != "mean":
        why = f"it was trained with {trained_with} pooling" if trained_with else "not a sentence-transformers model"
        return "model", f"pooling=auto: {why}"
    if peft_method in PROMPT_METHODS:
        return "model", (f"pooling=auto: the backbone mean-pools, but peft.method={peft_method}'s adapter folder "
                         f"loads on transformers' own head")
    return "mean", "pooling=auto: the backbone is a sentence-transformers model trained with mean pooling"


def card_remote_code(folder) -> tuple[str, str]:
    """(from_pretrained / pipeline argument, comment line) of a model card's code for a saved folder.
    The argument goes to AutoTokenizer as well: it reads config.json, and without it transformers
    stops to ask whether to run the code that config's auto_map names."""
    if (_read_json(str(folder), "config.json") or {}).get("model_type") != MODEL_TYPE:
        return "", ""
    return ", trust_remote_code=True", ("# The head reads the mean of the token vectors: mean_pooling.py in "
                                        "the folder (trust_remote_code)\n")


def describe(pooling: str, why: str) -> str:
    what = "the mean of the last hidden states" if pooling == "mean" else "the architecture's own head"
    return f"Pooling: {what} ({why})"


def load(path: str, pooling: str, head: str, trust_remote_code: bool = False, **kwargs) -> Any:
    """transformers' auto class of the head, or its mean-pooled variant when asked (pooling="mean" for
    a new head) or when the folder's config.json is mean_pooling.py's (its model_type)."""
    config = load_config(path, trust_remote_code=trust_remote_code)
    if pooling != "mean" and config.model_type != MODEL_TYPE:
        auto_class = getattr(transformers, HEADS[head][0])  # the head's own auto class
        return auto_class.from_pretrained(path, trust_remote_code=trust_remote_code, **kwargs)
    try:
        model = mean_pooled_class(config, head).from_pretrained(path, **kwargs)
        model.check_head()
    except ValueError as exc:
        raise InputError(f"pooling=mean on {path} ({type(config).__name__}): {exc} Set pooling=model.") from exc
    return model


class SequenceClassifier:
    """Classification's model_class (pooling: load's)."""

    # what loads the folders in plain transformers (trust_remote_code=True for a mean-pooled one)
    plain_class = AutoModelForSequenceClassification

    @staticmethod
    def from_pretrained(path: str, pooling: str = "model", trust_remote_code: bool = False, **kwargs) -> Any:
        return load(path, pooling, SEQUENCE, trust_remote_code, **kwargs)
