"""`python -m finetune train|evaluate|predict|export|glue|bench|score`.

Exit status: 0 success, 2 bad input or config (one paragraph naming the file, line or key and the
fix; no traceback), 1 a run stopped on purpose (NaN loss, failed write; the message says what is
kept) or anything else, 130 / 143 SIGINT / SIGTERM (a checkpoint was saved; resume=auto continues).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from finetune.errors import InputError, RunStopped

USAGE_OVERRIDES = "key=value overrides of any config key, e.g. train.epochs=2 model=PATH_OR_HUB_ID"


def _quiet_libraries() -> None:
    # The toolkit prints what a user needs; the libraries' progress bars and load reports repeat it.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets
    import transformers

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module="pyarrow")


def cmd_train(args) -> None:
    from finetune.config import load_config
    from finetune.loop import train

    train(load_config(args.config, args.overrides))


def cmd_evaluate(args) -> None:
    from finetune.inference import evaluate

    evaluate(args.target, args.overrides, args.out)


def cmd_predict(args) -> None:
    from finetune.inference import predict

    flags = {"text": args.text, "text_pair": args.text_pair, "question": args.question, "context": args.context,
             "choice": args.choice}
    predict(args.target, args.overrides, input_file=args.input, flags={k: v for k, v in flags.items() if v}, out=args.out)


def cmd_export(args) -> None:
    from finetune.export import export

    export(args.run, args.out)


def cmd_glue(args) -> int:
    from pathlib import Path

    from finetune import glue

    tasks = glue.parse_tasks(args.tasks)
    shared, per_task = glue.split_overrides(args.overrides, tasks)
    out = Path(args.out) if args.out else glue.default_out(shared)
    return glue.run(glue.Batch(out=out, tasks=tasks, overrides=shared, task_overrides=per_task, eval_only=args.eval_only,
                               models=Path(args.models) if args.models else None))


def cmd_bench(args) -> int:
    from finetune import bench

    return bench.main(args.overrides)


def cmd_score(args) -> None:
    from finetune.inference import score_file

    score_file(args.task, args.predictions, args.references, args.overrides, null_odds=args.null_odds)


def parser() -> argparse.ArgumentParser:
    from finetune.metrics.glue import TASK_SCORE_METRICS
    top = argparse.ArgumentParser(prog="python -m finetune", description="Fine-tune, evaluate and export transformers models.")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="fine-tune a model; prints the run folder at the end")
    p.add_argument("config", metavar="CONFIG_OR_TASK", help="a YAML path, or a task name (sst2 = configs/sst2.yaml)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help=USAGE_OVERRIDES)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="dev metrics of a run, an exported folder, or a task's config")
    p.add_argument("target", metavar="RUN_OR_MODEL", help="a run folder, an exported folder, or CONFIG_OR_TASK")
    p.add_argument("overrides", nargs="*", metavar="key=value", help=USAGE_OVERRIDES)
    p.add_argument("--out", help="folder for metrics.json and the predictions files")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="predictions of a run or exported model for a file or texts")
    p.add_argument("target", metavar="RUN_OR_MODEL")
    p.add_argument("overrides", nargs="*", metavar="key=value", help=USAGE_OVERRIDES)
    p.add_argument("--input", help="a data file in the task's format (default: the config's data.test)")
    p.add_argument("--text", action="append", help="a text to classify, or to tag (NER: entities with character spans); repeatable")
    p.add_argument("--text-pair", action="append", help="the second text of a pair (one per --text)")
    p.add_argument("--question", action="append", help="span or generative QA: a question (repeatable, one --context "
                                                       "each; generative QA: --context is optional)")
    p.add_argument("--context", action="append", help="span or generative QA: the passage that holds the answer; "
                                                      "multiple choice: the context the endings continue")
    p.add_argument("--choice", action="append", help="multiple choice: an ending to choose from (repeat for each)")
    p.add_argument("--out", help="write the predictions here instead of printing them")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("export", help="a plain Hugging Face folder from a run")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--out", help="the folder to write (default: exports/<run name>)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("glue", help="fine-tune and score one backbone on every GLUE task: results table, chart, "
                                    "leaderboard files", description="Each task in turn with its own config "
                                    "(configs/TASK.yaml); only real data (FINETUNE_DATA, data.dir, or data.source=hub): "
                                    "tasks without it are named in the table. Run the same command again to continue "
                                    "a killed batch: finished tasks are skipped, a killed task resumes.")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="for every task, e.g. model=PATH train.epochs=1 data.max_train_samples=2000; "
                        "TASK.key=value for one task, e.g. rte.train.epochs=5")
    p.add_argument("--tasks", default=",".join(TASK_SCORE_METRICS),
                   help="comma-separated GLUE tasks (default: all nine)")
    p.add_argument("--out", help="the batch folder (default: runs/glue-<model>)")
    p.add_argument("--eval-only", action="store_true", help="score existing runs or exported folders on the dev sets "
                                                             "(and write test predictions), without training")
    p.add_argument("--models", help="with --eval-only: the folder holding one run or exported folder per task, named "
                                    "TASK or TASK-... (default: the batch folder's runs/)")
    p.set_defaults(func=cmd_glue)

    p = sub.add_parser("bench", help="training and prediction throughput beside the transformers Trainer's: table "
                                     "and bench/results.json", description="On SST-2 and SQuAD windows, the same data, "
                                     "model, batch size, learning rate and steps: the Trainer as run_glue sets it up "
                                     "(padding to max length), the Trainer with dynamic padding and group_by_length, the "
                                     "toolkit (train.precision=auto and fp32), and the no-padding bound. Needs real data "
                                     "(FINETUNE_DATA).")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="bench settings (workloads=[sst2] runners=[toolkit,trainer_best] toolkit_precision=bf16 "
                        "trainer_precision=bf16 eval_questions=200 out=DIR isolate=false), per workload "
                        "(sst2.steps=30 sst2.warmup_steps=5 sst2.train_samples=4000), task config keys for every "
                        "workload (model=PATH) or one (sst2.train.batch_size=16)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("score", help="official metrics of a predictions file, without a model")
    p.add_argument("task", metavar="TASK", help="a task name or config")
    p.add_argument("--predictions", required=True)
    p.add_argument("--references", help="the gold file (NER: optional when the predictions file holds gold and "
                                        "predicted columns, as conlleval reads it)")
    p.add_argument("--null-odds", help="SQuAD v2: the null_odds.json that goes with the predictions (--na-prob-file)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help=USAGE_OVERRIDES)
    p.set_defaults(func=cmd_score)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _quiet_libraries()
    try:
        status = args.func(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RunStopped as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return status or 0
