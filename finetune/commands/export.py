"""`python -m finetune export RUN [--out DIR]`."""


def add(sub) -> None:
    p = sub.add_parser("export", help="a plain Hugging Face folder from a run")
    p.add_argument("run", metavar="RUN", help="a run folder (its best checkpoint is exported), or a seeds study folder "
                                             "(its best-dev seed)")
    p.add_argument("--out", help="the folder to write (default: exports/<run name>)")
    p.set_defaults(func=run)


def run(args) -> None:
    from finetune.serve.export import export

    export(args.run, args.out)
