"""Fault injection for the tests: the only product code that exists for them. Each point is a
no-op unless its environment variable is set, so that tests can kill a real run at an exact moment.

FINETUNE_TEST_KILL_AT_STEP=N[:TERM|:INT][@RANK]
    after optimizer step N (before that step's checkpoint): SIGKILL, as `kill -9` would mid-run,
    or a stop request (TERM / INT); @RANK: only the process of that rank (the others must stop at
    the same step).
FINETUNE_TEST_KILL_DURING_SAVE=<checkpoint name>:<point>
    SIGKILL while writing a checkpoint, as a power cut would. Points: "files" (model, optimizer and
    RNG files written, the state not yet) and "rename" (the folder written and flushed, an older
    one of the same name (best/) moved aside, the new one not yet renamed into place).
"""

from __future__ import annotations

import os
import signal

_STEP, _, _SIGNAL = os.environ.get("FINETUNE_TEST_KILL_AT_STEP", "0").partition(":")
_SIGNAL, _, _RANK = _SIGNAL.partition("@")
_KILL_AT_STEP = int(_STEP) if _RANK in ("", os.environ.get("RANK", "0")) else 0
_KILL_DURING_SAVE = os.environ.get("FINETUNE_TEST_KILL_DURING_SAVE", "")


def after_step(step: int) -> None:
    if step == _KILL_AT_STEP:
        os.kill(os.getpid(), signal.Signals[f"SIG{_SIGNAL or 'KILL'}"])


def during_save(name: str, point: str) -> None:
    if _KILL_DURING_SAVE == f"{name}:{point}":
        os.kill(os.getpid(), signal.SIGKILL)
