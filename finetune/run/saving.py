"""Writing a run's checkpoints and best model, and reading a checkpoint back.

A write is whole or absent (checkpoint.publish); a failed one (disk full, permission) stops the run
naming what is kept, and every process learns of it, so none waits for a process that gave up.
Reading refuses any pickle that would run code (torch.load with weights_only=True).
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import torch

from finetune.config.schema import RunConfig
from finetune.errors import InputError
from finetune.models import peft_methods
from finetune.run import checkpoint, fault_injection, faults
from finetune.run.folder import EVAL_METRICS_NAME, RUN_CONFIG_NAME, RunDir
from tasks.roles import PredictionFiles


class RunSaver:
    def __init__(self, accelerator: Any, run: RunDir, config: RunConfig, tokenizer: Any):
        self.accelerator = accelerator
        self.run = run
        self.config = config
        self.tokenizer = tokenizer
        self.main = accelerator.is_main_process
        # peft: a checkpoint holds what trains (the method's parameters and the head); the frozen
        # weights are the pretrained ones, which the resumed run loads again before the checkpoint.
        self.trained_only = peft_methods.method(config) != "none"
        if self.trained_only:
            accelerator.register_save_state_pre_hook(_keep_trained)

    def kept(self) -> str:
        """What a failed write leaves the user, said in its message."""
        latest = checkpoint.latest(self.run.checkpoints)
        best = self.run.has_best()
        if latest:
            return f"The last complete checkpoint, {latest}, is intact{', and so is checkpoints/best' if best else ''}."
        return f"No checkpoint was complete yet{' (checkpoints/best is intact)' if best else ''}."

    def _any_process(self, flag: bool) -> bool:
        """Whether any process raised the flag (a collective: every process calls it)."""
        if self.accelerator.num_processes == 1:
            return flag
        return bool(self.accelerator.reduce(torch.tensor(float(flag), device=self.accelerator.device), "sum") > 0)

    def best(self, model: Any, eval_metrics: dict) -> None:
        """checkpoints/best: the model as transformers saves it, its tokenizer and run config, and the
        dev metrics that chose it."""
        acc = self.accelerator
        state_dict = acc.get_state_dict(model)  # a collective under FSDP / DeepSpeed: every process
        tmp = checkpoint.tmp_dir(self.run.checkpoints, "best")
        with faults.writing("the best model (checkpoints/best)", tmp, self.kept):
            error = None
            if self.main:
                try:
                    shutil.rmtree(tmp, ignore_errors=True)
                    peft_methods.save_pretrained(acc.unwrap_model(model), tmp, state_dict=state_dict)
                    self.tokenizer.save_pretrained(tmp)
                    self.config.save(tmp / RUN_CONFIG_NAME)
                    (tmp / EVAL_METRICS_NAME).write_text(json.dumps(eval_metrics, indent=1))
                    checkpoint.publish(tmp, self.run.best)
                except OSError as exc:
                    error = exc
            if self._any_process(error is not None):  # the others must not wait for a process that gave up
                raise error or OSError("the main process could not write it")

    def checkpoint(self, step: int, state: dict) -> None:
        """checkpoints/step-N: accelerate's state (model, optimizer, scheduler, RNG), then the
        training position `state`, written last."""
        acc = self.accelerator
        name = f"{checkpoint.PREFIX}{step}"
        tmp = checkpoint.tmp_dir(self.run.checkpoints, name)
        if self.main:
            shutil.rmtree(tmp, ignore_errors=True)
        acc.wait_for_everyone()
        with faults.writing(f"checkpoint {name}", tmp, self.kept):
            error = None
            try:
                acc.save_state(str(tmp))
            except OSError as exc:
                error = exc
            written = not self._any_process(error is not None)
            if self.main and written:
                try:
                    # The tokenizer too: vocab.add_tokens may have extended it, and a resume must get the same one.
                    self.tokenizer.save_pretrained(tmp)
                    fault_injection.during_save(name, "files")
                    # Last: a folder without the state (or whose files differ from its list) is not a checkpoint.
                    checkpoint.write_state(tmp, state)
                    checkpoint.publish(tmp, self.run.checkpoints / name)
                    checkpoint.rotate(self.run.checkpoints, max(self.config.train.keep_last, 1))
                except OSError as exc:
                    error = exc
            if self._any_process(error is not None):
                raise error or OSError("another process could not write its part")

    def predictions(self, adapter: Any, name: str, examples: Any, predictions: list) -> None:
        """The adapter's prediction files, written into a temporary folder first and then renamed
        into the run folder: never half a file (main process only). Tasks without a file format
        (no PredictionFiles role) write none."""
        if not isinstance(adapter, PredictionFiles):
            return
        tmp = self.run.root / ".tmp-predictions"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for path in adapter.write_predictions(tmp, name, examples, predictions):
            path.replace(self.run.root / path.name)
        shutil.rmtree(tmp, ignore_errors=True)

    def removed_at_finish(self) -> list[Path]:
        """What finish() removes: with train.keep_last=0, every step checkpoint (best/ stays)."""
        return checkpoint.complete(self.run.checkpoints) if self.config.train.keep_last == 0 else []

    def finish(self) -> None:
        if self.main:
            for folder in self.removed_at_finish():
                shutil.rmtree(folder, ignore_errors=True)

    def load(self, folder: Path) -> None:
        """Model (safetensors) and optimizer, scheduler and RNG states (torch.load with weights_only=True:
        a pickle that would run code is refused, not executed)."""
        try:
            self.accelerator.load_state(str(folder), strict=not self.trained_only)
        except pickle.UnpicklingError as exc:
            raise InputError(f"{folder}: a checkpoint file holds objects other than tensors and numbers, which are "
                             f"not loaded (weights_only=True): {str(exc).splitlines()[0]} Resume from a checkpoint "
                             f"this toolkit wrote, or resume=never.") from exc


def _keep_trained(models: list, weights: list[dict], output_dir: str) -> None:
    """accelerate's save-state hook: each model's state dict cut down to its trained parameters."""
    for model, state in zip(models, weights):
        keep = peft_methods.trained_names(model)
        for key in [k for k in state if k not in keep]:
            del state[key]

