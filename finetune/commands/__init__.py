"""One module per `python -m finetune COMMAND`; each has `add(subparsers)` and a `run(args)`.
A new command is a module here and its name in finetune/cli.py's COMMANDS."""
