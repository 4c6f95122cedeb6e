"""`python -m finetune evaluate RUN_OR_MODEL [key=value ...] [--out DIR]`."""

from finetune.commands.common import add_overrides


def add(sub) -> None:
    p = sub.add_parser("evaluate", help="dev metrics of a run, an exported folder, or a task's config")
    p.add_argument("target", metavar="RUN_OR_MODEL", help="a run folder, an exported folder, or CONFIG_OR_TASK")
    add_overrides(p)
    p.add_argument("--out", help="folder for metrics.json and the predictions files")
    p.set_defaults(func=run)


def run(args) -> None:
    from finetune.serve.inference import evaluate

    evaluate(args.target, args.overrides, args.out)
