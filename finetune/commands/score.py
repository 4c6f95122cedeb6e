"""`python -m finetune score TASK --predictions FILE [--references FILE]`."""

from finetune.commands.common import add_overrides


def add(sub) -> None:
    p = sub.add_parser("score", help="official metrics of a predictions file, without a model")
    p.add_argument("task", metavar="TASK", help="a task name or config")
    p.add_argument("--predictions", required=True)
    p.add_argument("--references", help="the gold file (NER: optional when the predictions file holds gold and "
                                        "predicted columns, as conlleval reads it)")
    p.add_argument("--null-odds", help="SQuAD v2: the null_odds.json that goes with the predictions (--na-prob-file)")
    add_overrides(p, "key=value overrides of the task's config, e.g. labels=[neg,pos] (classification) or "
                     "tag_scheme=bioes (NER)")
    p.set_defaults(func=run)


def run(args) -> None:
    from finetune.serve.inference import score_file

    score_file(args.task, args.predictions, args.references, args.overrides, null_odds=args.null_odds)
