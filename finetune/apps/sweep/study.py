"""A sweep's study and its workers. Each trial is an ordinary run folder (resumable, exportable) in
<sweep folder>/trials/. The study lives in a journal file in the sweep folder unless sweep.storage
names another (a journal file on shared storage, or an RDB URL): every worker that runs the same
command with the same sweep.study joins it, and sweep.trials caps the trials of all of them.

A killed worker's trial stays RUNNING in the study. The next worker on that machine finds it (the
process that ran it is gone), marks it failed, and queues its values again (retry_of: its number) under the
same run folder, so that the re-run resumes from the trial's last checkpoint.
"""

from __future__ import annotations

import gc
import os
import socket
import time
from pathlib import Path
from typing import Any, Callable

from finetune.apps.sweep.space import Param, override
from finetune.config.schema import RunConfig
from finetune.errors import InputError, Interrupted

# A trial's user attributes.
RUN, HOST, PID = "run", "host", "pid"
RETRY_OF = "retry_of"  # on a trial queued again: the number of the trial whose worker stopped
OVER_CAP = "over_cap"  # asked for after the cap was reached by other workers: never run
ERROR, PRUNED_AT, TOTAL_STEPS = "error", "pruned_at_step", "total_steps"


def _optuna():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the sweep prints a line a trial itself
    return optuna


def storage(sweep: Any, folder: Path) -> Any:
    optuna = _optuna()
    url = sweep.storage
    if url and "://" in url:
        return optuna.storages.RDBStorage(url)
    from optuna.storages.journal import JournalFileBackend

    path = Path(url) if url else folder / "study.journal"
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def open_study(config: RunConfig, folder: Path, name: str, worker: int) -> Any:
    optuna = _optuna()
    sweep = config.sweep
    # Workers of one study must not draw the same values: each seeds its sampler differently.
    seed = config.seed + 1000 * worker
    sampler = optuna.samplers.RandomSampler(seed=seed) if sweep.sampler == "random" else \
        optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    pruner = {"median": optuna.pruners.MedianPruner(n_startup_trials=min(5, max(1, sweep.trials // 4))),
              "halving": optuna.pruners.SuccessiveHalvingPruner(),
              "none": optuna.pruners.NopPruner()}[sweep.pruner]
    study = optuna.create_study(study_name=name, storage=storage(sweep, folder), sampler=sampler, pruner=pruner,
                                direction=sweep.direction, load_if_exists=True)
    if study.direction.name.lower() != sweep.direction:
        raise InputError(f"sweep.direction={sweep.direction}, but study '{name}' was made to "
                         f"{study.direction.name.lower()}. Keep the direction, or name a new sweep.study.")
    return study


def counted(study: Any) -> list:
    """The trials of the study proper: not one whose worker stopped (its values were queued again as
    a new trial), not one asked for past the cap."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs[RETRY_OF] for t in trials if RETRY_OF in t.user_attrs}
    return [t for t in trials if t.number not in retried and not t.user_attrs.get(OVER_CAP)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def requeue_dead(study: Any) -> int:
    """Trials left RUNNING by a process of this machine that is gone: failed, and their values
    queued again (retry_of) for the same run folder."""
    optuna = _optuna()
    host, requeued = socket.gethostname(), 0
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        attrs = trial.user_attrs
        if attrs.get(HOST) != host or attrs.get(PID) is None or _alive(attrs[PID]):
            continue
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={RUN: attrs.get(RUN), RETRY_OF: trial.number})
        requeued += 1
    return requeued


def run_trials(config: RunConfig, overrides: list[str], space: list[Param], folder: Path, name: str,
               metric: str, worker: int, load: Callable[[list[str]], RunConfig], log: Callable[[str], None]) -> None:
    """Trials until the study holds sweep.trials of them (across every worker)."""
    optuna = _optuna()
    from optuna.trial import TrialState

    study = open_study(config, folder, name, worker)
    requeued = requeue_dead(study)
    if requeued:
        log(f"{requeued} trial(s) of a stopped worker queued again; they resume from their checkpoints.")
    cap = config.sweep.trials
    while True:
        if len(counted(study)) >= cap:
            return
        trial = study.ask()
        earlier = sum(t.number < trial.number for t in counted(study))
        if earlier >= cap:  # another worker took the last place between the count and the ask
            trial.set_user_attr(OVER_CAP, True)
            study.tell(trial, state=TrialState.FAIL)
            return
        values = {p.key: p.suggest(trial) for p in space}
        run_name = trial.user_attrs.get(RUN) or f"trial-{trial.number:03d}"
        for key, value in ((RUN, run_name), (HOST, socket.gethostname()), (PID, os.getpid())):
            trial.set_user_attr(key, value)
        shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
        started = time.perf_counter()
        try:
            value = _train(trial, load([*overrides, *(override(k, v) for k, v in values.items()),
                                        f"run_name={run_name}", f"output_dir={folder / 'trials'}", "resume=auto"]),
                           metric)
        except optuna.TrialPruned as pruned:
            study.tell(trial, state=TrialState.PRUNED)
            log(f"trial {trial.number} ({shown}): {pruned} ({time.perf_counter() - started:.0f} s)")
        except Interrupted:
            # Ctrl-C / SIGTERM saved a checkpoint: the next start runs these values on from it.
            study.tell(trial, state=TrialState.FAIL)
            study.enqueue_trial(trial.params, user_attrs={RUN: run_name, RETRY_OF: trial.number})
            raise
        except Exception as exc:  # a failed trial (NaN, a bad value) is recorded and the sweep goes on
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            trial.set_user_attr(ERROR, f"{type(exc).__name__}: {reason}"[:500])
            study.tell(trial, state=TrialState.FAIL)
            log(f"trial {trial.number} ({shown}): failed: {reason}")
        else:
            study.tell(trial, value)
            log(f"trial {trial.number} ({shown}): {metric}={value:.4f} ({time.perf_counter() - started:.0f} s)")
        gc.collect()  # the trial's model and optimizer go before the next one's arrive


def _train(trial: Any, config: RunConfig, metric: str) -> float:
    import optuna

    from finetune.engine.loop import Trainer
    from finetune.run.folder import read_summary

    def report(step: int, metrics: dict[str, float]) -> None:
        if metric not in metrics:
            raise InputError(f"sweep.metric={metric}: the dev metrics are {', '.join(metrics)}.")
        trial.report(metrics[metric], step)
        if step >= config.sweep.prune_after * trainer.total_steps and trial.should_prune():
            trial.set_user_attr(PRUNED_AT, step)
            trial.set_user_attr(TOTAL_STEPS, trainer.total_steps)
            raise optuna.TrialPruned(f"pruned at step {step} of {trainer.total_steps}")

    trainer = Trainer(config, on_evaluate=report)
    run = trainer.train()
    metrics = read_summary(run).get("metrics", {})
    if metric not in metrics:
        raise InputError(f"sweep.metric={metric}: the run reported {', '.join(metrics) or 'no dev metrics'}; set "
                         f"data.validation, or a metric it reports.")
    return float(metrics[metric])
