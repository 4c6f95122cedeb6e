"""The sweep command: check the config and its search space, run this machine's workers, report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from finetune.apps.sweep import report, space, study
from finetune.errors import InputError
from tasks import registry

WORKER_ENV = "FINETUNE_SWEEP_WORKER"  # set in the extra worker processes that --workers starts


def main(config_or_task: str, overrides: list[str], workers: int = 1) -> int:
    if workers < 1:
        raise InputError(f"--workers {workers}: give at least 1.")
    config = registry.load_config(config_or_task, overrides)
    sweep = config.sweep
    where = f"{config_or_task}{' with command-line overrides' if overrides else ''}"
    if sweep.trials < 1:
        raise InputError(f"{where}: sweep.trials must be at least 1, got {sweep.trials}.")
    if not 0 <= sweep.prune_after < 1:
        raise InputError(f"{where}: sweep.prune_after is a fraction of a trial's steps in [0, 1), got {sweep.prune_after}.")
    if not config.data.validation:
        raise InputError(f"{where}: a sweep scores trials on the dev set; set data.validation.")
    params = space.parse(sweep.params, lambda extra: registry.load_config(config_or_task, [*overrides, *extra]), where)
    metric = sweep.metric or registry.get(config).primary_metric
    name = sweep.study or config.task
    folder = Path(sweep.dir or Path(config.output_dir) / f"sweep-{name}")
    folder.mkdir(parents=True, exist_ok=True)
    worker = int(os.environ.get(WORKER_ENV, "0"))

    def log(line: str) -> None:
        print(f"[worker {worker}] {line}" if workers > 1 or worker else line, flush=True)

    children = []
    if worker == 0:
        print(f"Sweep '{name}' in {folder}: {sweep.trials} trials of {', '.join(p.key for p in params)}, "
              f"{sweep.direction} dev {metric}; sampler {sweep.sampler}, pruner {sweep.pruner}.", flush=True)
        command = [sys.executable, "-m", "finetune", "sweep", config_or_task, *overrides]
        children = [subprocess.Popen(command, env={**os.environ, WORKER_ENV: str(k)}) for k in range(1, workers)]
    try:
        study.run_trials(config, overrides, params, folder, name, metric, worker,
                         lambda extra: registry.load_config(config_or_task, [*overrides, *extra]), log)
    finally:
        for child in children:
            child.wait()
    if worker:
        return 0
    finished = study.open_study(config, folder, name, worker)
    print(report.write_all(finished, folder, metric))
    print(f"Sweep folder: {folder}")
    return 1 if any(child.returncode for child in children) else 0
