"""train.auto_batch_size: the largest micro-batch that fits, found before training starts.

The optimizer still steps on train.batch_size examples: the loop accumulates batch_size / micro
micro-batches a step, and the loss is divided by the items of the whole window, so the update is
the one the full batch gives (up to float rounding and dropout masks)."""

from __future__ import annotations

import torch
from accelerate.utils import find_executable_batch_size

from finetune.config.schema import TrainConfig
from finetune.engine import devices, optim
from finetune.engine.evaluation import model_inputs
from finetune.errors import RunStopped


def smaller_divisor(n: int, current: int) -> int:
    """The largest divisor of n at most half of current (0 when there is none): micro-batches must
    split every batch evenly, and halving finds the limit in a few tries."""
    return next((d for d in range(current // 2, 0, -1) if n % d == 0), 0)


def _try(micro: int, model, adapter, features, collate, device, train: TrainConfig, fused: bool, autocast) -> None:
    """One training step's memory at this micro-batch: Adam's state held (as it will be), then a
    forward and backward pass on the longest examples. The weights do not change."""
    lengths = features["length"]
    longest = sorted(range(len(lengths)), key=lengths.__getitem__, reverse=True)[:micro]
    batch = {k: v.to(device) for k, v in collate([features[i] for i in longest]).items()}
    scratch = optim.optimizer(model, train, train.lr, fused)
    try:
        for group in scratch.param_groups:
            group["lr"] = 0.0  # allocates the moments, moves nothing
        for param in model.parameters():
            if param.requires_grad:
                param.grad = torch.zeros_like(param)
        scratch.step()
        model.zero_grad(set_to_none=True)
        with autocast():
            loss = adapter.loss(model(**model_inputs(batch, adapter)), batch)
        loss.backward()
    finally:
        model.zero_grad(set_to_none=True)
        del scratch


def fitting_micro_batch(per_process: int, model, adapter, features, collate, device, train: TrainConfig,
                        fused: bool, autocast) -> int:
    """The largest divisor of the per-process batch whose step fits in memory."""
    size = per_process

    def reduce() -> int:
        nonlocal size
        size = smaller_divisor(per_process, size)
        print(f"auto_batch_size: out of memory; trying micro-batches of {size}.")
        return size

    @find_executable_batch_size(starting_batch_size=per_process, reduce_batch_size_fn=reduce)
    def probe(micro: int) -> int:
        _try(micro, model, adapter, features, collate, device, train, fused, autocast)
        return micro

    was_training = model.training
    model.train()
    try:
        return probe()
    except RuntimeError as exc:
        if "No executable batch size" not in str(exc):
            raise
        raise RunStopped("train.auto_batch_size: even one example a step does not fit in memory. Lower "
                         "data.max_seq_length, use train.precision=bf16, or peft.method=lora.") from exc
    finally:
        model.train(was_training)


def micro_batch_size(accelerator, train: TrainConfig, model, adapter, features, collate) -> int:
    """The global micro-batch for train.batch_size: each process probes its share, and all take
    the smallest that fit."""
    per_process = fitting_micro_batch(train.batch_size // accelerator.num_processes, model.to(accelerator.device),
                                      adapter, features, collate, accelerator.device, train,
                                      devices.fused_adamw(accelerator.device), accelerator.autocast)
    if accelerator.num_processes > 1:
        per_process = int(accelerator.gather(torch.tensor([per_process], device=accelerator.device)).min())
    micro = per_process * accelerator.num_processes
    if accelerator.is_main_process:
        print(f"auto_batch_size: micro-batches of {micro}, {train.batch_size // micro} a batch of {train.batch_size}.")
    return micro
