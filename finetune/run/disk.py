"""How much a run folder holds: said before training from the model's size, measured at the end.

A step checkpoint is accelerate's state: the weights (safetensors, each shared tensor once), AdamW's
two fp32 moments for every trained parameter (twice the weights of a fully trained fp32 model), the
scheduler, the RNG states and the tokenizer. checkpoints/best holds the weights and the tokenizer.
A new checkpoint is written whole before the oldest kept one goes, so for a moment the folder holds
one more than train.keep_last."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SMALL_FILES = 64 * 1024  # RNG states, scheduler, training state, config and metrics files
HEADER_PER_TENSOR = 100  # safetensors' JSON header: name, dtype, shape and offsets of each tensor
PICKLE_PER_PARAMETER = 700  # torch.save's records of a parameter's state (two moments and a step)
MB = 1e6


@dataclass
class Plan:
    weights: int  # model.safetensors
    optimizer: int  # optimizer.bin: the AdamW moments
    tokenizer: int  # the tokenizer's files, in every checkpoint and in best/
    # peft: a checkpoint's model.safetensors holds the trained parameters only (best/ the merged model)
    checkpoint_weights: int | None = None

    @property
    def checkpoint(self) -> int:
        weights = self.weights if self.checkpoint_weights is None else self.checkpoint_weights
        return weights + self.optimizer + self.tokenizer + SMALL_FILES

    @property
    def best(self) -> int:
        return self.weights + self.tokenizer + SMALL_FILES

    def peak(self, keep_last: int) -> int:
        return self.best + (max(keep_last, 1) + 1) * self.checkpoint

    def final(self, keep_last: int) -> int:
        return self.best + keep_last * self.checkpoint


def plan(model: Any, tokenizer: Any) -> Plan:
    """The sizes of what a checkpoint of `model` holds."""
    seen, weights = set(), 0
    for tensor in model.state_dict().values():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tensor.shape)
        if key not in seen:  # tied weights (GPT-2's embeddings and head) are stored once
            seen.add(key)
            weights += tensor.numel() * tensor.element_size() + HEADER_PER_TENSOR
    optimizer = sum(2 * 4 * p.numel() + PICKLE_PER_PARAMETER for p in model.parameters() if p.requires_grad)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        tokenizer_bytes = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    return Plan(weights, optimizer, tokenizer_bytes)


def trained_only(plan: Plan, model: Any) -> Plan:
    """The plan of a peft run: `plan` was made from the plain model (the merged best/ is that size);
    checkpoints and the optimizer hold the trained parameters of `model` only."""
    trained = [p for p in model.parameters() if p.requires_grad]
    weights = sum(p.numel() * p.element_size() + HEADER_PER_TENSOR for p in trained)
    optimizer = sum(2 * 4 * p.numel() + PICKLE_PER_PARAMETER for p in trained)
    return Plan(plan.weights, optimizer, plan.tokenizer, checkpoint_weights=weights)


def announce(plan: Plan, keep_last: int) -> str:
    """The line a run prints before training."""
    kept = (f"the last {keep_last} (train.keep_last)" if keep_last else
            "one while training, none once finished (train.keep_last=0)")
    weights = plan.weights if plan.checkpoint_weights is None else plan.checkpoint_weights
    line = (f"Disk: a checkpoint is about {_mb(plan.checkpoint)} (weights {_mb(weights)}, optimizer state "
            f"{_mb(plan.optimizer)}), checkpoints/best {_mb(plan.best)}; keeping {kept}, the run folder holds up to "
            f"{_mb(plan.peak(keep_last))} while a checkpoint is written and about {_mb(plan.final(keep_last))} at "
            f"the end")
    return line + (f" ({_mb(plan.final(0))} with train.keep_last=0)." if keep_last else ".")


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _mb(size: int) -> str:
    return f"{size / MB:,.0f} MB" if size >= 10 * MB else f"{size / MB:.1f} MB"
