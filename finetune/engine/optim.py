"""AdamW without weight decay on biases and norm weights, layer-wise rates, and the learning-rate schedule."""

from __future__ import annotations

import math
import re

import torch
from torch import nn
from transformers import get_scheduler
from transformers.trainer_pt_utils import get_parameter_names

from finetune.config.schema import TrainConfig
from finetune.errors import InputError

# The Trainer's own rule (LayerNorm layers, and names of biases and LayerNorm / RMSNorm weights).
NO_DECAY_PATTERNS = [r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)"]

# The blocks a backbone stacks, by parameter name: BERT's encoder.layer.N, GPT-2's h.N, Llama's
# layers.N, T5's block.N (also under peft's base_model.model. prefix).
LAYER = re.compile(r"(?:^|\.)(?:layer|layers|h|block)\.(\d+)\.")
# What sits below the first block: BERT's embeddings.*, GPT-2's wte / wpe, Llama's embed_tokens.
EMBEDDING = re.compile(r"(?:^|\.)(?:embeddings|embed_tokens|embed_positions|wte|wpe)(?:\.|$)")


def optimizer(model: nn.Module, train: TrainConfig, lr: float, fused: bool) -> torch.optim.AdamW:
    """AdamW at `lr` (the config's learning_rate: train.lr, or peft.lr with a method), scaled per
    layer by train.layer_lr_decay; train.embedding_lr sets the input embedding matrix's rate."""
    decay = set(get_parameter_names(model, [nn.LayerNorm], NO_DECAY_PATTERNS))
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    scales = layer_scales(model, train.layer_lr_decay) if train.layer_lr_decay is not None else {}
    # train.embedding_lr: the input embedding matrix at a rate of its own (by identity: a tied
    # output matrix is the same tensor and goes with it); it overrides the layer-wise scale.
    # (Under a peft method the matrix is frozen, so it is not among params; prompt tuning's model has
    # no get_input_embeddings.)
    embeddings = model.get_input_embeddings() if train.embedding_lr is not None and hasattr(model, "get_input_embeddings") else None
    special = id(embeddings.weight) if embeddings is not None else None
    # (rate, decayed) -> parameters; the two plain groups always exist, as checkpoints expect them.
    groups: dict[tuple[float, bool], list[nn.Parameter]] = {(lr, True): [], (lr, False): []}
    for n, p in params:
        rate = train.embedding_lr if id(p) == special else lr * scales.get(n, 1.0)
        groups.setdefault((rate, n in decay), []).append(p)
    # The full rate's groups first: the log's lr (the first group's) is then train.lr's schedule.
    order = sorted(groups, key=lambda key: (key[0] != lr, -key[0], not key[1]))
    return torch.optim.AdamW([{"params": groups[key], "lr": key[0], "weight_decay": train.weight_decay if key[1] else 0.0}
                              for key in order], lr=lr, fused=fused)


def layer_scales(model: nn.Module, decay: float) -> dict[str, float]:
    """Layer-wise learning-rate decay (Zhang et al. 2021, "Revisiting few-sample BERT fine-tuning";
    ELECTRA's fine-tuning): the top block and everything above it (pooler, head, final norm) at 1,
    each block below at `decay` times the one above, the embeddings at decay ** layers. Lower
    layers hold the general features pretraining learnt; the top ones are the task's to change."""
    names = [n for n, _ in model.named_parameters()]
    depth = {n: int(m.group(1)) for n in names if (m := LAYER.search(n))}
    if not depth:
        raise InputError(f"train.layer_lr_decay={decay}: no stacked layers found among {type(model).__name__}'s "
                         f"parameters (named like encoder.layer.N, h.N or layers.N); set train.layer_lr_decay=null.")
    layers = max(depth.values()) + 1
    return {n: decay ** (layers - 1 - depth[n]) if n in depth else decay ** layers if EMBEDDING.search(n) else 1.0
            for n in names}


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
