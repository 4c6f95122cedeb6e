"""`python -m finetune keys CONFIG_OR_TASK`: every config key with its type, value and help."""


def add(sub) -> None:
    p = sub.add_parser("keys", help="every config key of a task: type, default (the config's value) and help")
    p.add_argument("config", metavar="CONFIG_OR_TASK", help="a YAML path, or a task name (sst2 = configs/sst2.yaml)")
    p.set_defaults(func=run)


def run(args) -> None:
    import os
    from pathlib import Path

    from finetune.config import keys
    from finetune.config.load import find_config, read_yaml
    from tasks.registry import load_config, options_class

    path = find_config(args.config)  # an unknown task or file: InputError, exit status 2
    config = load_config(path)
    options_cls = options_class(config.adapter)
    # `task` counts as set: without it in the YAML, the file's name is the task's.
    given = keys.keys_set_in(read_yaml(path), options_cls) | {"task"}
    shown = os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd()) else path
    print(f"{config.task} ({shown}): every key it understands, with the config's value where it sets one.\n")
    print("Keys every task understands:")
    print(keys.plain_text(keys.base_rows(config, given)))
    own = keys.rows(options_cls, config.options, set_keys=given)
    if own:
        print(f"Keys of the {config.adapter} adapter (top level in the YAML):")
        print(keys.plain_text(own))
    print(f"Override any key on the command line: python -m finetune train {args.config} train.lr=3e-5 ... "
          "docs/configuration.md has the same tables.")
