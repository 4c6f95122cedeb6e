"""The Accelerator of a run (training, or evaluation alone) and the batch sizes it implies."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from accelerate import Accelerator
from accelerate.state import AcceleratorState

from finetune.config.schema import RunConfig
from finetune.engine import devices
from finetune.errors import InputError
from finetune.run import trackers


def make_accelerator(config: RunConfig, project_dir: Path | None = None, training: bool = True) -> Accelerator:
    """The run's Accelerator. Evaluation alone (training=False) runs fp16 runs in full precision: no
    loss scaler is needed to score, and fp16 needs CUDA."""
    precision = devices.resolve_precision(config.train.precision, devices.device())
    if not training and precision == "fp16":
        precision = "no"
    log_with = trackers.names(config.train.report_to) if training else []
    release_other_precision(precision)
    accelerator = Accelerator(
        mixed_precision=precision,
        dataloader_config=devices.global_batches(),  # train.batch_size is the global batch, whatever the process count
        log_with=log_with or None,
        project_dir=str(project_dir) if project_dir else None,
    )
    if accelerator.num_processes == 1:
        warn_dropped_processes()
    if precision == "fp16" and accelerator.device.type != "cuda":
        raise InputError("train.precision=fp16 needs a CUDA GPU; use bf16 or no on this device.")
    if training and config.train.batch_size % accelerator.num_processes:
        raise InputError(f"train.batch_size={config.train.batch_size} is the global batch; make it a multiple of the "
                         f"{accelerator.num_processes} processes.")
    return accelerator


def release_other_precision(precision: str) -> None:
    """accelerate keeps one AcceleratorState a process and refuses a second precision ("cannot be changed,
    restart your runtime"). One command can hold runs of two: a GLUE batch or a sweep whose runs differ in
    train.precision, evaluation alone after an fp16 run. So a state of another precision is dropped before the
    next run's Accelerator; the process group (accelerate's PartialState) stays."""
    shared = AcceleratorState._shared_state
    if shared and shared.get("_mixed_precision") != precision:
        AcceleratorState._reset_state(reset_partial_state=False)


@functools.cache  # once a command: a GLUE batch makes an Accelerator per task
def warn_dropped_processes() -> None:
    warning = devices.dropped_processes()
    if warning:
        print(warning, file=sys.stderr, flush=True)


def eval_batch_size(config: RunConfig, processes: int) -> int:
    size = config.train.eval_batch_size or 2 * config.train.batch_size
    return -(-size // processes) * processes
