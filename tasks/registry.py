"""Every task the toolkit knows, as a plain list: what the CLI, the docs and the tests iterate over.

A new task is one adapter module, one YAML in configs/, and one entry here. An entry names its
adapter (imported on demand, so one task's dependencies never slow another), the configs it runs
and the flags `predict` takes for it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from finetune.config import load as config_load
from finetune.config import typed
from finetune.config.schema import RunConfig
from finetune.errors import InputError


@dataclass(frozen=True)
class Flag:
    """A `predict` option for examples typed on the command line (repeatable)."""

    name: str  # the option, e.g. "--text"; its values reach the adapter under "text"
    help: str

    @property
    def key(self) -> str:
        return self.name.lstrip("-").replace("-", "_")


TEXT = Flag("--text", "a text to classify, or to tag (NER: entities with character spans)")
TEXT_PAIR = Flag("--text-pair", "the second text of a pair (one per --text)")
QUESTION = Flag("--question", "a question (one --context each)")
CONTEXT = Flag("--context", "the passage that holds the answer (span QA, generative QA: optional), or the context "
                            "the endings continue (multiple choice)")
CHOICE = Flag("--choice", "an ending to choose from, one --choice per ending")


@dataclass(frozen=True)
class Task:
    name: str  # the config's `adapter:` value
    adapter: str  # "module:Class"
    configs: tuple[str, ...]  # configs/<name>.yaml that run this adapter
    predict_flags: tuple[Flag, ...] = ()
    decoder_only: bool = False  # the task needs a decoder (causal LM) backbone

    def adapter_class(self) -> type:
        module_name, class_name = self.adapter.split(":")
        return getattr(importlib.import_module(module_name), class_name)


GLUE = ("cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli")
TASKS = [
    Task("classification", "tasks.classification:ClassificationAdapter", GLUE, (TEXT, TEXT_PAIR)),
    Task("squad", "tasks.squad:SquadAdapter", ("squad", "squad_v2", "cmrc2018"), (QUESTION, CONTEXT)),
    Task("ner", "tasks.ner:NerAdapter", ("conll2003", "wnut17", "resume_ner"), (TEXT,)),
    Task("multiple_choice", "tasks.multiple_choice:MultipleChoiceAdapter", ("swag", "codah"), (CONTEXT, CHOICE)),
    Task("generative_qa", "tasks.generative_qa:GenerativeQAAdapter", ("squad_generative", "cmrc2018_generative"), (QUESTION, CONTEXT),
         decoder_only=True),
]
BY_NAME = {task.name: task for task in TASKS}


def task(name: str) -> Task:
    if name not in BY_NAME:
        raise InputError(f"config key 'adapter': unknown adapter '{name}'{typed.closest(name, list(BY_NAME))}. "
                         f"Adapters: {', '.join(BY_NAME)}.")
    return BY_NAME[name]


def adapter_class(name: str) -> type:
    return task(name).adapter_class()


def options_class(name: str) -> type:
    return adapter_class(name).Options


def load_config(config_or_task: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """A task's YAML (or a task name) with `key=value` overrides, the task's own keys typed too."""
    return config_load.load_config(config_or_task, overrides, options_class=options_class)


def get(config: RunConfig):
    """The adapter instance for a run config."""
    return adapter_class(config.adapter)(config)
