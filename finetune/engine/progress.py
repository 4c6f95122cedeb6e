"""Where a run stands (saved in every checkpoint) and the training statistics between log lines."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch


@dataclass
class Position:
    """Where training stands; saved with every checkpoint so a resumed run continues exactly."""

    global_step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0  # micro-batches of this epoch already trained on
    best_metric: float | None = None
    best_step: int | None = None
    evals_without_improvement: int = 0
    last_eval_step: int = -1
    train_seconds: float = 0.0
    meter: dict | None = None  # training loss sums since the last log line, so a resumed log matches
    micro_batch_size: int | None = None  # the loader's batch (auto_batch_size); batch_in_epoch counts these
    skipped_steps: int = 0  # steps skipped for a non-finite loss (train.on_nan_loss=skip)


class Meter:
    """Training statistics kept on the device between logging steps: no host sync per step."""

    def __init__(self, device, restored: dict | None = None):
        self.device = device
        self.reset(restored)

    def reset(self, restored: dict | None = None):
        restored = restored or {}
        self.loss = torch.tensor(restored.get("loss", 0.0), device=self.device)
        self.items = torch.tensor(restored.get("items", 0.0), device=self.device)
        self.real_tokens = torch.tensor(restored.get("real_tokens", 0.0), device=self.device)
        self.samples = restored.get("samples", 0)
        self.started = time.perf_counter()

    def totals(self, accelerator) -> dict:
        loss, items, tokens = (float(accelerator.reduce(x.clone(), "sum")) for x in (self.loss, self.items, self.real_tokens))
        return {"loss": loss, "items": items, "real_tokens": tokens, "samples": self.samples}  # per process, as flush counts

    def add(self, loss_sum, items, batch):
        self.loss += loss_sum.float()
        self.items += items
        self.real_tokens += batch["attention_mask"].sum()
        self.samples += batch["input_ids"].shape[0]

    def flush(self, accelerator) -> dict:
        seconds = max(time.perf_counter() - self.started, 1e-9)
        loss, items, tokens = (accelerator.reduce(x, "sum") for x in (self.loss, self.items, self.real_tokens))
        record = {
            "loss": float(loss / items) if float(items) else float("nan"),
            "samples_per_s": round(self.samples * accelerator.num_processes / seconds, 2),  # even batches
            "tokens_per_s": round(float(tokens) / seconds, 1),
        }
        self.reset()
        return record
