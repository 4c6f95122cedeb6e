"""What the loop does when something goes wrong mid-run: a signal, a NaN, a failed write.

None of these may cost the user the hours already trained: a signal stops at the next step
boundary after a checkpoint; a non-finite loss stops before the optimizer step (so the weights
are still good and are saved) and names the batch's examples; a failed write keeps the previous
checkpoint and says so.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Callable

import torch

from finetune.engine.evaluation import model_inputs
from finetune.errors import RunStopped

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SignalStop:
    """While active, SIGINT / SIGTERM only ask the loop to stop at the next step boundary. A second
    Ctrl-C while that checkpoint is being written quits at once (the previous ones are intact)."""

    def __init__(self):
        self.signum = 0
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "SignalStop":
        if threading.current_thread() is threading.main_thread():  # Python handles signals there only
            self._previous = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum, frame) -> None:
        if self.signum == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = self.signum or signum
        print(f"\n{signal.Signals(signum).name}: stopping after this step with a checkpoint "
              f"(Ctrl-C again quits at once; earlier checkpoints stay whole).", file=sys.stderr, flush=True)


def where_examples(split, indices: list[int], limit: int = 8) -> str:
    """'train.tsv, lines 4, 9, 12 (+20 more)' for example indices of a split."""
    indices = sorted(set(indices))
    shown = [split.where(i).rsplit(", ", 1)[-1] for i in indices[:limit]]
    more = f" (+{len(indices) - limit} more)" if len(indices) > limit else ""
    return f"{split.location}, {', '.join(shown)}{more}"


def lone_nonfinite(model, adapter, window: list[dict]) -> list[int]:
    """Example indices whose loss is non-finite on its own (a forward pass each, no gradients):
    tells a bad row from diverged weights."""
    bad: list[int] = []
    with torch.no_grad():
        for batch in window:
            for row in range(batch["example_index"].shape[0]):
                one = {k: v[row:row + 1] for k, v in batch.items()}
                loss = adapter.loss(model(**model_inputs(one, adapter)), one)
                if not torch.isfinite(loss).all():
                    bad.append(int(one["example_index"][0]))
    return bad


def nonfinite_message(step: int, split, examples: list[int], culprits: list[int]) -> str:
    what = f"step {step}: the loss or the gradient norm is not finite (NaN or inf). The batch's {len(set(examples))} examples: " \
           f"{where_examples(split, examples)}."
    if culprits:
        return what + f" Alone, these give a non-finite loss: {where_examples(split, culprits)}; check those rows."
    return what + (" Each gives a finite loss alone, so the weights diverged: try a lower train.lr, "
                   "train.max_grad_norm=1.0, or train.precision=no.")


@contextlib.contextmanager
def writing(what: str, tmp: Path | None, kept: Callable[[], str], inside: Path | None = None):
    """A failed write (disk full, permission) stops the run naming what failed and what is kept
    (`kept()`: asked only then, as the answer changes while the run goes on). inside: only errors
    on files in that folder are writes of ours; others (reading data, say) pass through as they are."""
    try:
        yield
    except OSError as exc:
        if inside is not None and not (exc.filename and Path(exc.filename).resolve().is_relative_to(inside.resolve())):
            raise
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)  # frees the space the half-written copy took
        reason = exc.strerror or str(exc)
        target = f" ({exc.filename})" if exc.filename else ""
        raise RunStopped(f"could not write {what}{target}: {reason}. {kept()} Free disk space or fix the folder's "
                         f"permissions, then run the same command again (resume=auto continues from there).") from exc
