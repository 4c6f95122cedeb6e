"""Experiment trackers (train.report_to): every tracker accelerate supports, through accelerate's
own tracker classes. A run logs to them what it writes to log.jsonl: its config once, the training
loss, learning rate and throughput every train.log_every steps, the dev metrics at every
evaluation, and the run's summary (best dev metrics, steps, training time) at the end."""

from __future__ import annotations

from finetune.errors import InputError

# tracker -> the pip package that provides it (accelerate checks for the import)
PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow", "comet_ml": "comet_ml", "aim": "aim",
            "clearml": "clearml", "dvclive": "dvclive", "swanlab": "swanlab", "trackio": "trackio"}


def names(report_to: str) -> list[str]:
    """The trackers train.report_to asks for ("none": none; several comma-separated), checked."""
    from accelerate.tracking import get_available_trackers

    asked = [] if report_to.strip() in ("", "none") else [n.strip() for n in report_to.split(",") if n.strip()]
    unknown = [n for n in asked if n not in PACKAGES]
    if unknown:
        raise InputError(f"train.report_to={report_to}: unknown tracker {', '.join(unknown)}. Trackers: "
                         f"{', '.join(PACKAGES)} (several: comma-separated), or none.")
    available = {str(t) for t in get_available_trackers()}
    missing = [n for n in asked if n not in available]
    if missing:
        hint = " ".join(PACKAGES[n] for n in missing)
        extra = " (or pip install 'finetune[tensorboard]')" if missing == ["tensorboard"] else ""
        raise InputError(f"train.report_to={report_to}: {', '.join(missing)} is not installed. Fix: pip install "
                         f"{hint}{extra}, or set train.report_to=none.")
    return list(dict.fromkeys(asked))


def numbers(values: dict, prefix: str) -> dict[str, float]:
    """The numeric values of a record, keys prefixed (train/loss, eval/accuracy, summary/...)."""
    return {f"{prefix}/{key}": value for key, value in values.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}


def start(accelerator, project: str, run_name: str, flat_config: dict) -> None:
    """init_trackers with the run's config as hyperparameters (scalars only: trackers differ on the rest)."""
    hyper = {k: v for k, v in flat_config.items() if isinstance(v, (int, float, str, bool))}
    # project: the task (wandb's project, mlflow's experiment); the run folder's name names the run
    accelerator.init_trackers(project, config=hyper, init_kwargs={"wandb": {"name": run_name},
                                                                  "mlflow": {"run_name": run_name}})
