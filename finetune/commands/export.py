"""`python -m finetune export RUN [--out DIR] [--push REPO_ID [--private]]`."""


def add(sub) -> None:
    p = sub.add_parser("export", help="a plain Hugging Face folder from a run (and, with --push, on the Hub)")
    p.add_argument("run", metavar="RUN", help="a run folder (its best checkpoint is exported), or a seeds study folder "
                                             "(its best-dev seed)")
    p.add_argument("--out", help="the folder to write (default: exports/<run name>)")
    p.add_argument("--push", metavar="REPO_ID", help="also upload the folder to this Hugging Face Hub model repo "
                                                     "(USER/NAME; created when missing). Needs a login: `hf auth "
                                                     "login` or HF_TOKEN")
    p.add_argument("--private", action="store_true", help="with --push: create the repo private")
    p.set_defaults(func=run)


def run(args) -> None:
    from finetune.errors import InputError
    from finetune.serve.export import export

    if args.private and not args.push:
        raise InputError("--private is for --push REPO_ID: give the repo to create, or drop --private.")
    export(args.run, args.out, args.push, args.private)
