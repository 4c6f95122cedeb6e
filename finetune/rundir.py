"""The run folder: its name, its layout, and which checkpoint a run resumes from."""

from __future__ import annotations

import time
from pathlib import Path

from accelerate.utils import broadcast_object_list

from finetune import checkpoint, devices
from finetune.config import RunConfig
from finetune.errors import InputError


class RunDir:
    def __init__(self, root: Path):
        self.root = root
        self.checkpoints = root / "checkpoints"
        self.best = self.checkpoints / "best"
        self.config = root / "config.yaml"
        self.metrics = root / "metrics.json"
        self.log = root / "log.jsonl"
        self.curves = root / "curves.png"


def _run_folder_of(path: Path) -> Path:
    """A run folder, given the run folder itself or one of its checkpoints."""
    if path.parent.name == "checkpoints":
        return path.parent.parent
    return path


def open_run(config: RunConfig) -> tuple[RunDir, Path | None]:
    """The run folder (the same name on every process) and the checkpoint to resume from, if any."""
    state = devices.state()
    if config.resume not in ("auto", "never"):
        root = _run_folder_of(Path(config.resume).resolve())
    else:
        name = [config.run_name or f"{config.task}-{time.strftime('%Y%m%d-%H%M%S')}"]
        broadcast_object_list(name)  # processes start seconds apart: agree on one timestamp
        root = Path(config.output_dir) / name[0]
    run = RunDir(root)
    if state.is_main_process:
        checkpoint.clean_partial(run.checkpoints)
    state.wait_for_everyone()

    resume_from: Path | None = None
    if config.resume == "auto":
        resume_from = checkpoint.latest(run.checkpoints)
    elif config.resume != "never":
        given = Path(config.resume)
        resume_from = given if checkpoint.read_state(given) else checkpoint.latest(run.checkpoints)
        if resume_from is None:
            raise InputError(f"resume={config.resume}: no complete checkpoint there. Use resume=auto or never.")
    elif checkpoint.complete(run.checkpoints) or run.metrics.exists():
        raise InputError(f"run folder {run.root} exists already. Choose another run_name, or resume=auto to continue it.")
    return run, resume_from
