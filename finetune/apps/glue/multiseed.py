"""`python -m finetune glue seeds=N`: each task trained once per seed, runs/<task>-seed<S>/, reported
as the median (and mean ± std) of its GLUE score over the seeds. A batch killed and run again skips
the seeds that finished; the best seed on dev predicts the test sets."""

from __future__ import annotations

import gc
from pathlib import Path

from finetune.apps.glue.scores import seed_scores, task_score
from finetune.apps.seeds import for_seed, run_name, seed_list
from finetune.config.schema import RunConfig
from finetune.run.folder import RunDir


def train_task(runner, task: str, config: RunConfig, record: dict) -> str | None:
    """Every seed of one task (runner: the batch's Runner); fills the task's record and returns the
    best seed's model folder."""
    seeds = seed_list(config)
    runs = []
    for number, seed in enumerate(seeds, start=1):
        one = for_seed(config, seed, run_name(task, seed))
        folder = Path(one.output_dir) / one.run_name
        if runner.main:
            done = " finished in an earlier run, skipped" if RunDir(folder).finished() else ""
            print(f"-- {task} seed {seed} ({number}/{len(seeds)}){done}", flush=True)
        summary = runner.train_run(one)
        gc.collect()  # this seed's model and optimizer go before the next one's arrive
        runs.append({"seed": seed, "run": f"runs/{one.run_name}", "metrics": summary["metrics"],
                     "score": task_score(task, summary["metrics"]), "best_step": summary.get("best_step"),
                     "train_seconds": summary["train_seconds"]})
    result = seed_scores(task, runs)
    record.update(how="fine-tuned", seeds=runs, train_examples=summary["train_examples"],
                  train_seconds=round(sum(r["train_seconds"] or 0 for r in runs), 1),
                  dev_examples=summary["data"].get("validation", {}).get("rows"), **result)
    best = result["best_seed"]
    return str(RunDir(runner.batch.out / best["run"]).best) if best else None
