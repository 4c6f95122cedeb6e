"""`python -m finetune train CONFIG_OR_TASK [key=value ...]`."""

from finetune.commands.common import add_overrides


def add(sub) -> None:
    p = sub.add_parser("train", help="fine-tune a model; prints the run folder at the end",
                       description="seeds=N (or seeds=[1,2,3]) trains the config once per seed and reports mean, "
                                   "std and median of every dev metric (finetune/apps/seeds.py).")
    p.add_argument("config", metavar="CONFIG_OR_TASK", help="a YAML path, or a task name (sst2 = configs/sst2.yaml)")
    add_overrides(p)
    p.set_defaults(func=run)


def run(args) -> None:
    from finetune.apps.seeds import seed_list, train_seeds
    from finetune.engine.loop import train
    from tasks.registry import load_config

    config = load_config(args.config, args.overrides)
    if seed_list(config) is None:
        train(config)
    else:
        train_seeds(config)
