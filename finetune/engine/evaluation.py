"""Run a model over a split on every process, gather the outputs once, decode and score."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from finetune.engine import batching
from tasks.base import Adapter

NOT_MODEL_INPUTS = ("length", "row")


def model_inputs(batch: dict[str, torch.Tensor], adapter: Adapter) -> dict[str, torch.Tensor]:
    """What the model's forward takes; the loss is the adapter's, so labels stay out."""
    skip = {*NOT_MODEL_INPUTS, "example_index", *adapter.label_keys}
    return {k: v for k, v in batch.items() if k not in skip}


@dataclass
class SplitResult:
    predictions: list
    metrics: dict[str, float]  # empty for unlabelled splits


def collect(model: Any, loader: Any, adapter: Adapter, accelerator: Any,
            desc: str = "evaluating") -> tuple[dict[str, list[np.ndarray]], float | None]:
    """Per-feature outputs in feature order, and the mean loss when the split has labels.

    gather_for_metrics drops the samples that even batching duplicated on the last batch, so
    every feature appears exactly once whatever the number of processes. A progress bar with the
    rate (features a second: windows, choices, generated answers) shows on the main process, on
    stderr, and goes when done: generating 500 answers is minutes of otherwise silent work."""
    model.eval()
    bar = tqdm(total=len(loader.dataset) if hasattr(loader, "dataset") else None, desc=desc, unit="feature",
               disable=not accelerator.is_main_process, leave=False, file=sys.stderr, dynamic_ncols=True)
    rows: list[np.ndarray] = []
    outputs: dict[str, list[np.ndarray]] = {key: [] for key in adapter.output_keys}
    loss_sum = torch.zeros((), device=accelerator.device)
    items = torch.zeros((), device=accelerator.device)
    with torch.no_grad():
        for batch in loader:
            result = adapter.predict_step(model, model_inputs(batch, adapter))
            if all(key in batch for key in adapter.label_keys):
                real = batching.real_rows(batch, accelerator)
                if real == len(batch["row"]):
                    loss_sum += adapter.loss(result, batch).float()
                    items += adapter.count_items(batch)
                elif real:  # the last batch, topped up with repeats: the loss of the real rows alone
                    head = {k: v[:real] for k, v in batch.items()}
                    loss_sum += adapter.loss(model(**model_inputs(head, adapter)), head).float()
                    items += adapter.count_items(head)
            tensors = [_padded(result[key], accelerator) for key in adapter.output_keys]
            gathered = accelerator.gather_for_metrics((batch["row"], *tensors))
            rows.append(gathered[0].cpu().numpy())
            for key, tensor in zip(adapter.output_keys, gathered[1:]):
                outputs[key].extend(tensor.cpu().numpy())
            bar.update(len(gathered[0]))
    bar.close()
    order = np.argsort(np.concatenate(rows), kind="stable")
    ordered = {key: [values[i] for i in order] for key, values in outputs.items()}
    loss_sum, items = accelerator.reduce(loss_sum, "sum"), accelerator.reduce(items, "sum")
    mean_loss = float(loss_sum / items) if float(items) > 0 else None
    return ordered, mean_loss


def _padded(tensor: torch.Tensor, accelerator: Any) -> torch.Tensor:
    """Scores as float32; token ids stay integers, padded with -100 (never a token id) to the
    longest row of any process so they can be gathered."""
    if not tensor.is_floating_point():
        return accelerator.pad_across_processes(tensor, dim=1, pad_index=-100) if tensor.dim() > 1 else tensor
    tensor = tensor.float()
    return accelerator.pad_across_processes(tensor, dim=1) if tensor.dim() > 1 else tensor


def run_split(model: Any, loader: Any, adapter: Adapter, accelerator: Any, examples: Any, features: Any,
              split: str) -> SplitResult:
    outputs, loss = collect(model, loader, adapter, accelerator, desc=split)
    predictions = adapter.decode(examples, features, outputs)
    metrics: dict[str, float] = {}
    if adapter.has_gold(examples, split):
        metrics = adapter.score(predictions, examples)
        if loss is not None:
            metrics["loss"] = loss
    return SplitResult(predictions, metrics)
