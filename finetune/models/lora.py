"""LoRA through peft: adapters added for training, merged into plain weights whenever a model is saved.

Checkpoints for resuming hold the peft model's whole state (accelerate's save_state), so a resumed
run continues exactly. Every saved MODEL (checkpoints/best, hence exports) is the base architecture
with each adapter merged into its layer, W + scale * B @ A: it loads with plain transformers and
`pipeline`, with no peft at inference. The merge is computed beside the weights, never in place:
merging and unmerging during training would nudge the frozen weights by rounding at every save.
The merge reads each process's own weights, so LoRA with FSDP (sharded weights) is not supported yet.
"""

from __future__ import annotations

from typing import Any

import torch

from finetune.config.schema import LoraConfig
from finetune.errors import InputError


def task_type(model_class: Any) -> str | None:
    """peft's TaskType for a task's model class; None where LoRA is not supported yet (a new head
    would need peft's modules_to_save)."""
    from transformers import AutoModelForCausalLM

    return {AutoModelForCausalLM: "CAUSAL_LM"}.get(model_class)


def apply(model: Any, settings: LoraConfig, model_class: Any, task: str) -> Any:
    """The model with LoRA adapters on its target modules (only they train)."""
    task_type_name = task_type(model_class)
    if task_type_name is None:
        raise InputError(f"lora.enabled=true: LoRA is not supported for the {task} task yet; set lora.enabled=false.")
    import peft

    config = peft.LoraConfig(task_type=task_type_name, r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                             target_modules=settings.target_modules)
    try:
        return peft.get_peft_model(model, config)
    except ValueError as exc:  # target modules not found, or an architecture peft has no default for
        raise InputError(f"lora.target_modules={settings.target_modules}: {exc}. Name modules of this model "
                         f"(e.g. lora.target_modules=[q_proj,v_proj]).") from exc


def is_lora(model: Any) -> bool:
    # By module name: runs without LoRA never import peft.
    return type(model).__module__.startswith("peft.")


def merged_state_dict(model: Any) -> dict[str, torch.Tensor]:
    """The base model's state dict with every LoRA update merged into its layer's weight."""
    from peft.tuners.lora import LoraLayer

    base = model.get_base_model()
    merged: dict[str, torch.Tensor] = {}
    for module_name, module in base.named_modules():
        if isinstance(module, LoraLayer):
            layer = module.get_base_layer()
            weight = layer.weight.detach()
            for adapter in module.active_adapters:
                weight = weight + module.get_delta_weight(adapter).to(weight.dtype)
            prefix = f"{module_name}." if module_name else ""
            merged[f"{prefix}weight"] = weight
            if getattr(layer, "bias", None) is not None:
                merged[f"{prefix}bias"] = layer.bias.detach()
    for key, value in base.state_dict().items():
        if "lora_" in key or ".base_layer." in key:
            continue  # the adapters, and the unmerged weights they were merged into
        merged.setdefault(key, value)
    return merged


def save_pretrained(model: Any, folder: Any, state_dict: dict | None = None, **kwargs) -> None:
    """model.save_pretrained, with LoRA merged: the folder is a plain model of the base architecture."""
    if is_lora(model):
        model.get_base_model().save_pretrained(folder, state_dict=merged_state_dict(model), **kwargs)
    else:
        model.save_pretrained(folder, state_dict=state_dict, **kwargs)
