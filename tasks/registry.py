"""Adapters by name: a plain table, so what exists is visible in one place."""

from __future__ import annotations

import importlib

from finetune import typed
from finetune.errors import InputError

# adapter name -> "module:Class"; imported on demand so one task's dependencies never slow another.
ADAPTERS = {
    "classification": "tasks.classification:ClassificationAdapter",
    "squad": "tasks.squad:SquadAdapter",
    "ner": "tasks.ner:NerAdapter",
    "multiple_choice": "tasks.multiple_choice:MultipleChoiceAdapter",
    "generative_qa": "tasks.generative_qa:GenerativeQAAdapter",
}


def adapter_class(name: str) -> type:
    if name not in ADAPTERS:
        raise InputError(
            f"config key 'adapter': unknown adapter '{name}'{typed.closest(name, list(ADAPTERS))}. "
            f"Adapters: {', '.join(ADAPTERS)}."
        )
    module_name, class_name = ADAPTERS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def options_class(name: str) -> type:
    return adapter_class(name).Options


def get(config):
    """The adapter instance for a run config."""
    return adapter_class(config.adapter)(config)
