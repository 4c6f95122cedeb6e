"""`python -m finetune sweep CONFIG_OR_TASK [key=value ...] [--workers N]`."""

from finetune.commands.common import add_overrides


def add(sub) -> None:
    p = sub.add_parser("sweep", help="a hyperparameter study with Optuna: each trial a run folder; trials.csv, "
                                     "best.yaml, plots", description="The search space is the config's sweep: section "
                                     "(sweep.params, sweep.trials, sweep.metric, sweep.pruner, ...; see "
                                     "`python -m finetune keys TASK`). Run the same command again to continue a killed "
                                     "sweep; the same command on other machines, with sweep.storage on shared storage "
                                     "or an RDB URL, joins the study.")
    p.add_argument("config", metavar="CONFIG_OR_TASK", help="a YAML path, or a task name (sst2 = configs/sst2.yaml)")
    add_overrides(p)
    p.add_argument("--workers", type=int, default=1, help="worker processes on this machine, one study (default 1)")
    p.set_defaults(func=run)


def run(args) -> int:
    from finetune.apps.sweep.sweep import main

    return main(args.config, args.overrides, args.workers)
