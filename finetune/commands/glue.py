"""`python -m finetune glue [--tasks T1,T2] [--out DIR] [--eval-only] [key=value | TASK.key=value ...]`."""

from finetune.apps.glue.scores import TASK_SCORE_METRICS
from finetune.commands.common import add_overrides


def add(sub) -> None:
    p = sub.add_parser("glue", help="fine-tune and score one backbone on every GLUE task: results table, chart, "
                                    "leaderboard files", description="Each task in turn with its own config "
                                    "(configs/TASK.yaml); only real data (FINETUNE_DATA, data.dir, or data.source=hub): "
                                    "tasks without it are named in the table. Run the same command again to continue "
                                    "a killed batch: finished tasks are skipped, a killed task resumes.")
    add_overrides(p, "for every task, e.g. model=PATH train.epochs=1 data.max_train_samples=2000; "
                     "TASK.key=value for one task, e.g. rte.train.epochs=5")
    p.add_argument("--tasks", default=",".join(TASK_SCORE_METRICS), help="comma-separated GLUE tasks (default: all nine)")
    p.add_argument("--out", help="the batch folder (default: runs/glue-<model>)")
    p.add_argument("--eval-only", action="store_true", help="score existing runs or exported folders on the dev sets "
                                                             "(and write test predictions), without training")
    p.add_argument("--models", help="with --eval-only: the folder holding one run or exported folder per task, named "
                                    "TASK or TASK-... (default: the batch folder's runs/)")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from finetune.apps.glue import batch

    tasks = batch.parse_tasks(args.tasks)
    shared, per_task = batch.split_overrides(args.overrides, tasks)
    out = Path(args.out) if args.out else batch.default_out(shared)
    return batch.run(batch.Batch(out=out, tasks=tasks, overrides=shared, task_overrides=per_task,
                                 eval_only=args.eval_only, models=Path(args.models) if args.models else None))
