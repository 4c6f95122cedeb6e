"""What the device a run lands on does fast: native bf16, fused optimizer kernels, torch.compile."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from accelerate import PartialState
from accelerate.utils import DataLoaderConfiguration
from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

from finetune.errors import InputError


def state() -> PartialState:
    """The processes of this run; every module asks here, so the first call decides for all.

    Started by torchrun or `accelerate launch --multi_gpu` on a machine without a GPU, the
    processes train together on CPU (gloo); accelerate does that only when told cpu=True, and
    otherwise runs each process alone, every one training the whole run."""
    return PartialState(cpu=not torch.accelerator.is_available())


def processes_asked(launcher_args: list[str]) -> int | None:
    """The --num_processes of an `accelerate launch` command line, None for any other command."""
    names = [Path(arg).name for arg in launcher_args]
    launcher = any(name in ("accelerate-launch", "accelerate.commands.launch")  # its script; python -m
                   or (name.startswith("accelerate") and names[i + 1:i + 2] == ["launch"])
                   for i, name in enumerate(names))
    if not launcher:
        return None
    for i, arg in enumerate(launcher_args):
        value = arg.split("=", 1)[1] if arg.startswith("--num_processes=") else (
            launcher_args[i + 1] if arg == "--num_processes" and i + 1 < len(launcher_args) else None)
        if value is not None:
            return int(value) if value.isdigit() else None
    return None


def dropped_processes() -> str | None:
    """A warning when `accelerate launch --num_processes N` started this one process alone. Without
    --multi_gpu (or a GPU per process) accelerate runs one process whatever N is, and tells it
    nothing of N: only the launcher's own command line (Linux /proc) still says what was asked."""
    if "WORLD_SIZE" in os.environ:
        return None  # launched as one of several
    try:
        raw = Path(f"/proc/{os.getppid()}/cmdline").read_bytes()
    except OSError:
        return None
    asked = processes_asked([part.decode(errors="replace") for part in raw.split(b"\0") if part])
    if not asked or asked < 2:
        return None
    return (f"warning: accelerate launch asked for {asked} processes, but it started this one alone (it starts "
            f"several only with --multi_gpu): the run trains in 1 process. For {asked} processes add --multi_gpu "
            f"(on a machine without a GPU they train together on CPU), or use torchrun --standalone "
            f"--nproc_per_node {asked} -m finetune ...")


def global_batches() -> DataLoaderConfiguration:
    """Batch sizes are global: a batch is split across the processes (and the scheduler steps once a
    step). accelerate 1.15 ignores Accelerator(split_batches=True); only this form takes effect."""
    return DataLoaderConfiguration(split_batches=True)


def device() -> torch.device:
    """The device this process trains on (CUDA under `accelerate launch` or when present, else CPU),
    known before the Accelerator is made: mixed precision has to be chosen first."""
    return state().device


def native_bf16(device: torch.device) -> bool:
    """bf16 matmuls in hardware: CUDA from Ampere on; CPUs with AVX512-BF16 or AMX (oneDNN runs
    bf16 there at about twice the fp32 rate). Elsewhere bf16 is emulated and slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        cpu = torch.cpu
        return bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
                    or getattr(cpu, "_is_amx_tile_supported", lambda: False)())
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """train.precision=auto: bf16 autocast where the hardware has it, fp32 otherwise."""
    if precision != "auto":
        return precision
    return "bf16" if native_bf16(device) else "no"


def describe_precision(setting: str, resolved: str) -> str:
    """The run header's line: what the step computes in, and why when train.precision=auto chose it."""
    shown = {"bf16": "bf16 autocast", "fp16": "fp16 autocast with loss scaling", "no": "fp32"}[resolved]
    if setting != "auto":
        return f"Precision: {shown} (train.precision={setting})"
    if resolved == "no":
        return f"Precision: {shown} (train.precision=auto: no native bf16 on this hardware)"
    return f"Precision: {shown} (train.precision=auto: the hardware runs bf16 natively; train.precision=no for fp32)"


def fused_adamw(device: torch.device) -> bool:
    """torch's fused AdamW (one kernel for all parameters) where it exists for the device: on a
    MiniLM step on CPU it takes 14 ms where the default for-each implementation takes 72."""
    return device.type in _get_fused_kernels_supported_devices()


def check_compile_backend(backend: str | None) -> None:
    if backend is None:
        return
    import torch._dynamo

    backends = torch._dynamo.list_backends(exclude_tags=())
    if backend not in backends:
        raise InputError(f"train.compile={backend}: not a torch.compile backend. Use one of {', '.join(backends)}, "
                         f"or train.compile=null.")


def compile_model(model: torch.nn.Module, backend: str) -> None:
    """In place (Module.compile): state-dict keys stay as they are, so checkpoints, resume and export
    do not depend on whether the run was compiled."""
    model.compile(backend=backend, dynamic=True)
