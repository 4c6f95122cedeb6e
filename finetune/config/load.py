"""YAML file + `key=value` overrides -> RunConfig, checked before anything runs.

The config package knows no task: the dataclass of a task's own keys (its adapter's `Options`) comes
from the caller (tasks.registry.load_config), so config never imports the tasks.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path
from typing import Any, Callable

import yaml

from finetune.config import typed
from finetune.config.schema import CONFIG_DIR, PEFT_LR, RunConfig
from finetune.errors import InputError

_BASE_FIELDS = [f.name for f in dataclasses.fields(RunConfig) if f.name != "options"]


def find_config(config_or_task: str) -> Path:
    """A YAML path, or a task name meaning configs/<task>.yaml."""
    path = Path(config_or_task)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise InputError(f"{config_or_task}: no such config file. Give a YAML path or a task name.")
        return path
    candidate = CONFIG_DIR / f"{config_or_task}.yaml"
    if candidate.is_file():
        return candidate
    names = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    raise InputError(
        f"'{config_or_task}' is neither a config file nor a task name{typed.closest(config_or_task, names)}. "
        f"Tasks: {', '.join(names)}."
    )


def _yaml_error(path: Path, exc: yaml.YAMLError) -> InputError:
    """Where the mistake starts: for an unclosed bracket or quote, PyYAML's problem mark is where it
    gave up (often the next line); its context mark is where the bracket or quote opened."""
    problem, context = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
    what = getattr(exc, "problem", None) or str(exc)
    if context is not None and problem is not None and (context.line, context.column) != (problem.line, problem.column):
        opened = getattr(exc, "context", "") or "while parsing"
        return InputError(f"{path}, line {context.line + 1}: not valid YAML: {opened} that starts at line "
                          f"{context.line + 1}, column {context.column + 1}, {what} at line {problem.line + 1}, "
                          f"column {problem.column + 1}. Close the bracket or quote opened on line {context.line + 1}.")
    line = f", line {problem.line + 1}" if problem is not None else ""
    return InputError(f"{path}{line}: not valid YAML ({what}). Fix the syntax.")


def read_yaml(path: Path) -> dict:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise InputError(f"{path}, line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}). Save it as UTF-8.") from exc
    try:
        data = yaml.load(text, Loader=typed.Yaml12Loader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise _yaml_error(path, exc) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: a config must be a mapping of keys to values, got {type(data).__name__}.")
    return data


def _set_dotted(data: dict, key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise InputError(f"command line: '{key}' goes into '{part}', which is not a section.")
    node[leaf] = value


# Names users bring from the transformers Trainer and the example scripts -> our keys.
ALIASES = {
    "learning_rate": "train.lr", "lr": "train.lr", "num_train_epochs": "train.epochs", "epochs": "train.epochs",
    "per_device_train_batch_size": "train.batch_size", "batch_size": "train.batch_size",
    "gradient_accumulation_steps": "train.grad_accum", "max_seq_length": "data.max_seq_length",
    "max_length": "data.max_seq_length", "warmup_steps": "train.warmup_steps", "warmup_ratio": "train.warmup_ratio",
    "weight_decay": "train.weight_decay", "max_steps": "train.max_steps", "model_name_or_path": "model",
    "output_dir": "output_dir", "train_file": "data.train", "validation_file": "data.validation",
}


def _override_type(key: str, options_cls: type | None) -> Any:
    """The annotation of a dotted key, or raise with the closest valid key."""
    schema = typed.field_types(RunConfig)
    valid = [k for k in typed.all_keys(RunConfig) if k != "options"]
    if options_cls is not None:
        schema = {**schema, **typed.field_types(options_cls)}
        valid += typed.all_keys(options_cls)
    schema.pop("options", None)
    node: Any = schema
    tp: Any = None
    value_type: Any = None  # the item type of the mapping field the previous part named
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            tp = node[part]
        elif node == "mapping":  # data.extra_validation.mismatched: a key of a mapping field
            tp = value_type
        else:
            raise InputError(f"command line: unknown config key '{key}'{typed.closest(key, valid, ALIASES)}.")
        if dataclasses.is_dataclass(tp):
            node = typed.field_types(tp)
        elif typing.get_origin(tp) is dict:
            node, value_type = "mapping", typing.get_args(tp)[1]
        else:
            node = None
    return tp


def load_config(config_or_task: str | Path, overrides: list[str] | None, *,
                options_class: Callable[[str], type | None]) -> RunConfig:
    """YAML + overrides -> RunConfig. `options_class(adapter name)` gives the dataclass of the task's
    own keys (tasks.registry.options_class): the caller passes it, so the config knows no task."""
    path = find_config(str(config_or_task))
    data = read_yaml(path)
    where = str(path)
    data.setdefault("task", path.stem)

    parsed: list[tuple[str, str]] = []
    for item in overrides or []:
        if "=" not in item:
            raise InputError(f"command line: '{item}' is not key=value. Write e.g. train.epochs=2.")
        key, raw = item.split("=", 1)
        parsed.append((key.strip(), raw))
    adapter_name = next((raw for key, raw in parsed if key == "adapter"), data.get("adapter", "classification"))
    options_cls = options_class(str(adapter_name))

    for key, raw in parsed:
        tp = _override_type(key, options_cls)
        _set_dotted(data, key, typed.parse_cli_value(raw, tp))
        where = f"{path} with command-line overrides"

    base = {k: v for k, v in data.items() if k in _BASE_FIELDS}
    rest = {k: v for k, v in data.items() if k not in _BASE_FIELDS}
    option_keys = list(typed.field_types(options_cls)) if options_cls else []
    for key in rest:
        if key not in option_keys:
            valid = [k for k in typed.all_keys(RunConfig) if k != "options"] + option_keys
            raise InputError(f"{where}: unknown config key '{key}'{typed.closest(key, valid, ALIASES)}.")
    config = typed.build(RunConfig, base, where, aliases=ALIASES)
    config.options = typed.build(options_cls, rest, where, aliases=ALIASES) if options_cls else None
    for key in config.asked_for:  # a run's record: only the task's own keys are ever settled
        if key not in option_keys:
            raise InputError(f"{where}: asked_for.{key}: asked_for records task keys a run settled from its data "
                             f"({', '.join(option_keys)}); it is written by a run. Remove the entry.")
    validate(config, where)
    if config.peft_method != "none" and config.peft.lr is None:
        config.peft.lr = PEFT_LR[config.peft_method]  # recorded in config.yaml as the rate that ran
    return config


def validate(config: RunConfig, where: str) -> None:
    """Checks that a type cannot express: ranges, and values that only break hours later."""
    t = config.train
    at_least_one = [("train.batch_size", t.batch_size), ("train.grad_accum", t.grad_accum), ("train.log_every", t.log_every),
                    ("data.max_seq_length", config.data.max_seq_length),
                    ("train.max_steps", t.max_steps), ("train.eval_every", t.eval_every), ("train.save_every", t.save_every),
                    ("train.patience", t.patience), ("lora.r", config.lora.r), ("peft.virtual_tokens", config.peft.virtual_tokens), ("train.eval_batch_size", t.eval_batch_size),
                    ("data.max_train_samples", config.data.max_train_samples), ("data.max_eval_samples", config.data.max_eval_samples),
                    ("data.max_predict_samples", config.data.max_predict_samples)]
    for key, value in at_least_one:
        if value is not None and value < 1:
            raise InputError(f"{where}: {key} must be at least 1, got {value}.")
    if t.keep_last < 0:
        raise InputError(f"{where}: train.keep_last must be 0 or more, got {t.keep_last}.")
    for key, value in [("train.lr", t.lr), ("train.epochs", t.epochs), ("train.weight_decay", t.weight_decay),
                       ("train.warmup_ratio", t.warmup_ratio), ("train.max_grad_norm", t.max_grad_norm),
                       ("train.embedding_lr", t.embedding_lr)]:
        if value is not None and not math.isfinite(value):
            raise InputError(f"{where}: {key} must be a finite number, got {value}.")
    # These become file and folder names in the run folder: they must not lead out of it.
    names = [("run_name", config.run_name), ("task", config.task)] + [
        (f"data.{group}.{name}", name) for group in ("extra_validation", "extra_test")
        for name in getattr(config.data, group)]
    for key, name in names:
        if name is not None and (name in ("", ".", "..") or any(c in name for c in "/\\\0")):
            raise InputError(f"{where}: {key}={name!r} must be a plain name (no '/', '\\' or '..'): it names a folder "
                             f"or file inside the run folder, and a run writes nowhere else.")
    if config.lora.enabled and config.peft.method not in ("none", "lora"):
        raise InputError(f"{where}: lora.enabled=true asks for LoRA and peft.method={config.peft.method} for another "
                         f"method; set one of them (peft.method=lora is the same as lora.enabled=true).")
    if config.peft.lr is not None and (config.peft_method == "none" or config.peft.lr <= 0):
        raise InputError(f"{where}: peft.lr={config.peft.lr} " + ("must be positive." if config.peft_method != "none" else
                         "is the learning rate of a peft method, and peft.method=none; set train.lr, or a peft.method."))
    if not 0 <= config.lora.dropout < 1:
        raise InputError(f"{where}: lora.dropout must be in [0, 1), got {config.lora.dropout}.")
    if t.lr <= 0:
        raise InputError(f"{where}: train.lr must be positive, got {t.lr}.")
    if t.embedding_lr is not None and t.embedding_lr <= 0:
        raise InputError(f"{where}: train.embedding_lr must be a positive number (or null for train.lr), got {t.embedding_lr}.")
    if t.layer_lr_decay is not None and not 0 < t.layer_lr_decay <= 1:
        raise InputError(f"{where}: train.layer_lr_decay must be in (0, 1] (0.8 to 0.95 is usual), or null for one rate "
                         f"throughout; got {t.layer_lr_decay}.")
    if t.weight_decay < 0:
        raise InputError(f"{where}: train.weight_decay must not be negative, got {t.weight_decay}.")
    if t.max_grad_norm is not None and t.max_grad_norm <= 0:
        raise InputError(f"{where}: train.max_grad_norm must be positive (or null to turn clipping off), got {t.max_grad_norm}.")
    if not 0 <= t.warmup_ratio < 1:
        raise InputError(f"{where}: train.warmup_ratio must be in [0, 1), got {t.warmup_ratio}.")
    if t.warmup_steps is not None and t.warmup_steps < 0:
        raise InputError(f"{where}: train.warmup_steps must not be negative, got {t.warmup_steps}.")
    if t.epochs <= 0 and not t.max_steps:
        raise InputError(f"{where}: train.epochs must be positive (or set train.max_steps).")
    if config.resume not in ("auto", "never") and not Path(config.resume).exists():
        raise InputError(f"{where}: resume={config.resume}: no such run or checkpoint folder. Use auto, never or a path.")
