"""AdamW without weight decay on biases and norm weights, and the learning-rate schedule."""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import get_scheduler
from transformers.trainer_pt_utils import get_parameter_names

from finetune.config.schema import TrainConfig

# The Trainer's own rule (LayerNorm layers, and names of biases and LayerNorm / RMSNorm weights).
NO_DECAY_PATTERNS = [r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)"]


def optimizer(model: nn.Module, train: TrainConfig, lr: float, fused: bool) -> torch.optim.AdamW:
    """AdamW at `lr` (the config's learning_rate: train.lr, or peft.lr with a method)."""
    decay = set(get_parameter_names(model, [nn.LayerNorm], NO_DECAY_PATTERNS))
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    # train.embedding_lr: the input embedding matrix in groups of its own (by identity: a tied
    # output matrix is the same tensor and goes with it).
    # (Under a peft method the matrix is frozen, so it is not among params; prompt tuning's model has
    # no get_input_embeddings.)
    embeddings = model.get_input_embeddings() if train.embedding_lr is not None and hasattr(model, "get_input_embeddings") else None
    special = {id(embeddings.weight)} if embeddings is not None else set()
    rest = [(n, p) for n, p in params if id(p) not in special]
    groups = [
        {"params": [p for n, p in rest if n in decay], "weight_decay": train.weight_decay},
        {"params": [p for n, p in rest if n not in decay], "weight_decay": 0.0},
    ]
    for n, p in params:
        if id(p) in special:
            groups.append({"params": [p], "weight_decay": train.weight_decay if n in decay else 0.0,
                           "lr": train.embedding_lr})
    return torch.optim.AdamW(groups, lr=lr, fused=fused)


def schedule(optim: torch.optim.Optimizer, train: TrainConfig, total_steps: int):
    warmup = train.warmup_steps if train.warmup_steps is not None else math.ceil(train.warmup_ratio * total_steps)
    name = "constant_with_warmup" if train.scheduler == "constant" else train.scheduler
    return get_scheduler(name, optim, num_warmup_steps=warmup, num_training_steps=total_steps)


def total_steps(train: TrainConfig, batches_per_epoch: int, window: int | None = None) -> tuple[int, int]:
    """(optimizer steps per epoch, optimizer steps in all): the one place this arithmetic lives.
    window: loader batches a step (default train.grad_accum; more with auto_batch_size's micro-batches)."""
    per_epoch = max(1, math.ceil(batches_per_epoch / (window or train.grad_accum)))
    if train.max_steps:
        return per_epoch, train.max_steps
    return per_epoch, max(1, math.ceil(train.epochs * per_epoch))
