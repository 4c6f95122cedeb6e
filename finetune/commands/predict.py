"""`python -m finetune predict RUN_OR_MODEL [--input FILE | task flags] [--out FILE]`.

The task flags (--text, --question, ...) come from the registry: each task declares its own.
"""

from finetune.commands.common import INFERENCE_OVERRIDES_HELP, add_overrides
from tasks import registry


def add(sub) -> None:
    p = sub.add_parser("predict", help="predictions of a run or exported model for a file or texts")
    p.add_argument("target", metavar="RUN_OR_MODEL",
                   help="a run folder (its best checkpoint), a folder `export` wrote, or CONFIG_OR_TASK with model=...")
    add_overrides(p, INFERENCE_OVERRIDES_HELP)
    p.add_argument("--input", help="a data file in the task's format (default: the config's data.test)")
    flags: dict[str, list[tuple[str, str]]] = {}
    for task in registry.TASKS:
        for flag in task.predict_flags:
            flags.setdefault(flag.name, []).append((task.name, flag.help))
    for name, uses in flags.items():
        helps = sorted({help for _, help in uses})
        tasks = ", ".join(task for task, _ in uses)
        p.add_argument(name, action="append", help=f"{tasks}: {'; '.join(helps)}; repeatable")
    p.add_argument("--out", help="write the predictions here instead of printing them")
    p.set_defaults(func=run)


def run(args) -> None:
    from finetune.serve.inference import predict

    flags = {flag.key: getattr(args, flag.key) for task in registry.TASKS for flag in task.predict_flags}
    predict(args.target, args.overrides, input_file=args.input, flags={k: v for k, v in flags.items() if v},
            out=args.out)
