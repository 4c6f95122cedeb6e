"""The run folder: its name, its layout, and which checkpoint a run resumes from. No module
outside finetune/run/ spells the layout; they ask RunDir.

    runs/<name>/config.yaml  metrics.json  log.jsonl  predictions.*  curves.png  test_metrics.json
                checkpoints/step-N/  checkpoints/best/ (a model folder: see RUN_CONFIG_NAME)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml
from accelerate.utils import broadcast_object_list

from finetune.config import typed
from finetune.config.schema import RunConfig
from finetune.engine import devices
from finetune.errors import InputError
from finetune.run import checkpoint

# Written into every folder the toolkit saves a model to; its presence means "a trained model
# whose config holds the labels", and it carries the run config that produced it.
RUN_CONFIG_NAME = "finetune.yaml"
EVAL_METRICS_NAME = "eval_metrics.json"  # in checkpoints/best: the dev metrics that chose it
SUMMARY_NAME = "metrics.json"  # a run's (and an export's, and evaluate --out's) summary
TEST_METRICS_NAME = "test_metrics.json"  # `predict RUN` scored the config's labelled test split


def is_model_folder(path: str | Path) -> bool:
    """A folder the toolkit saved a trained model to (a run's best/, an export)."""
    return (Path(path) / RUN_CONFIG_NAME).is_file()


def prediction_name(split: str) -> str:
    """The stem of a split's prediction files: predictions.* for the dev set."""
    return "predictions" if split == "validation" else f"predictions_{split}"


def read_summary(folder: str | Path) -> dict:
    """The metrics.json of a run, an export or an evaluation folder; {} when there is none."""
    path = Path(folder) / SUMMARY_NAME
    return json.loads(path.read_text()) if path.is_file() else {}


class RunDir:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.checkpoints = self.root / "checkpoints"
        self.best = self.checkpoints / "best"
        self.config = self.root / "config.yaml"
        self.metrics = self.root / SUMMARY_NAME
        self.test_metrics = self.root / TEST_METRICS_NAME
        self.log = self.root / "log.jsonl"
        self.curves = self.root / "curves.png"

    @staticmethod
    def is_run(path: str | Path) -> bool:
        path = Path(path)
        return (path / "config.yaml").is_file() and (path / "checkpoints").is_dir()

    def has_best(self) -> bool:
        return is_model_folder(self.best)

    def finished(self) -> bool:
        return self.metrics.is_file()

    def summary(self) -> dict:
        return read_summary(self.root)

    def best_metrics(self) -> dict:
        """The dev metrics that chose checkpoints/best ({} without a dev set)."""
        path = self.best / EVAL_METRICS_NAME
        return json.loads(path.read_text())["metrics"] if path.exists() else {}

    def step_checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"{checkpoint.PREFIX}{step}"


ASKED_FOR = "asked_for"  # RunConfig.asked_for: keys a run settled from its data, with the values asked

# Keys a resumed run may change: where the run lives, how it logs, what it keeps and what it predicts
# later. Any other key changes the weights (or which checkpoint is "best"), so a run folder resumed
# with a different value would hold weights no config describes.
RESUMABLE_CHANGES = ("run_name", "output_dir", "resume", "seeds", "sweep.", f"{ASKED_FOR}.", "reference.", "data.test",
                     "data.extra_test.", "data.max_predict_samples", "train.log_every", "train.report_to",
                     "train.keep_last", "train.save_every", "train.eval_batch_size")


def changed_settings(saved: Path, config: RunConfig) -> list[tuple[str, object, object]]:
    """(key, value in saved, value now) for every key that differs and that training depends on.
    Keys the saved file lacks (written by an older version) are not compared."""
    before = typed.flatten(yaml.safe_load(saved.read_text()) or {})
    # through YAML too, so that tuples, ints-as-floats and the like compare as they are stored
    now = typed.flatten(yaml.safe_load(yaml.safe_dump(config.to_dict(), allow_unicode=True)))
    return [(key, before[key], value) for key, value in now.items()
            if key in before and not _same_setting(key, before, now)
            and not any(key == k or (k.endswith(".") and key.startswith(k)) for k in RESUMABLE_CHANGES)]


def _same_setting(key: str, before: dict, now: dict) -> bool:
    """A key a run settled from its data (RunConfig.asked_for) matches both what ran and what was
    asked: the same data settles it the same way again."""
    def values(flat: dict) -> list:
        asked = f"{ASKED_FOR}.{key}"
        return [flat[key]] + ([flat[asked]] if asked in flat else [])
    return any(a == b for a in values(before) for b in values(now))


def refuse_other_settings(folder: Path, config: RunConfig,
                          fix: str = "Start a new run (run_name=<new name>), or leave those keys as they were to "
                                     "continue this one") -> None:
    """A run folder is continued (or, finished, reused) only with the settings that trained it."""
    run = RunDir(folder)
    changed = changed_settings(run.config, config) if run.config.is_file() else []
    if not changed:
        return
    shown = ", ".join(f"{key}: {old!r} there, {new!r} now" for key, old, new in changed)
    raise InputError(
        f"run folder {run.root} was trained with other settings ({shown}); continuing it would train with "
        f"two configs, and its config.yaml would describe weights it did not produce. {fix} (see {run.config}).")


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
        if resume_from is None and run.finished():  # train.keep_last=0 left best/ alone: never train over it
            raise InputError(f"run folder {run.root} has finished and kept no step checkpoint (train.keep_last=0): "
                             f"there is nothing to continue. Evaluate, predict or export it, or start a new run "
                             f"(run_name=<new name>).")
    elif config.resume != "never":
        given = Path(config.resume)
        resume_from = given if checkpoint.read_state(given) else checkpoint.latest(run.checkpoints)
        if resume_from is None:
            raise InputError(f"resume={config.resume}: no complete checkpoint there. Use resume=auto or never.")
    elif checkpoint.complete(run.checkpoints) or run.metrics.exists():
        raise InputError(f"run folder {run.root} exists already. Choose another run_name, or resume=auto to continue it.")
    if resume_from is not None or run.finished():
        refuse_other_settings(run.root, config)
    return run, resume_from
