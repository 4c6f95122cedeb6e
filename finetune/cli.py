"""`python -m finetune COMMAND ...`: the parser, made from finetune/commands/, and the exit status.

Exit status: 0 success, 2 bad input or config (one paragraph naming the file, line or key and the
fix; no traceback), 1 a run stopped on purpose (NaN loss, failed write; the message says what is
kept) or anything else, 130 / 143 SIGINT / SIGTERM (a checkpoint was saved; resume=auto continues).
"""

from __future__ import annotations

import argparse
import sys

from finetune.commands import bench, evaluate, export, glue, keys, predict, score, sweep, train
from finetune.engine import allocator
from finetune.console import quiet_libraries
from finetune.errors import InputError, RunStopped

COMMANDS = [train, evaluate, predict, export, glue, bench, score, sweep, keys]


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m finetune", description="Fine-tune, evaluate and export transformers models.")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    quiet_libraries()
    try:
        allocator.tune()  # evaluate and predict too: long dev sets vary their shapes as much as training
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
