"""Where a training step's time goes: forward, backward, optimizer, data, and the rest.

Wall time around each part of the toolkit's own step, after the warm-up steps: the model's
forward (a pre- and a post-hook), accelerator.backward, optimizer.step, and the time between one
step's end and the next step's start (drawing and collating the next batches). What is left of
the step (the loss, gradient clipping, the scheduler, zeroing gradients) is `other`. bf16
autocast's casts happen inside forward and backward and are counted there. On CUDA every
boundary synchronises, which costs a little of the speed it measures; on CPU the kernels are
synchronous already.
"""

from __future__ import annotations

import time

import torch

PHASES = ("forward", "backward", "optimizer", "data", "other")


def _now() -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter()


class PhaseTimer:
    def __init__(self, model: torch.nn.Module, accelerator, optimizer, warmup_steps: int):
        self.warmup_steps, self.steps = warmup_steps, 0
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self._forward_start = self._step_start = self._last_end = None
        self._hooks = [model.register_forward_pre_hook(self._pre), model.register_forward_hook(self._post)]
        self._wrap(accelerator, "backward", "backward")
        self._wrap(optimizer, "step", "optimizer")

    @property
    def timing(self) -> bool:
        return self.steps >= self.warmup_steps

    def _pre(self, module, args):
        if module.training:
            self._forward_start = _now()

    def _post(self, module, args, output):
        if module.training and self._forward_start is not None and self.timing:
            self.seconds["forward"] += _now() - self._forward_start

    def _wrap(self, owner, name: str, phase: str) -> None:
        inner = getattr(owner, name)

        def timed(*args, **kwargs):
            start = _now()
            result = inner(*args, **kwargs)
            if self.timing:
                self.seconds[phase] += _now() - start
            return result

        setattr(owner, name, timed)

    def _parts(self) -> float:
        return self.seconds["forward"] + self.seconds["backward"] + self.seconds["optimizer"]

    def step_started(self) -> None:
        self._step_start, self._parts_at_start = _now(), self._parts()
        if self.timing and self._last_end is not None:
            self.seconds["data"] += self._step_start - self._last_end

    def step_done(self) -> None:
        end = _now()
        if self.timing:  # the step's time not inside a timed part
            self.seconds["other"] += (end - self._step_start) - (self._parts() - self._parts_at_start)
        self.steps += 1
        self._last_end = end

    def result(self) -> dict:
        for hook in self._hooks:
            hook.remove()
        total = sum(self.seconds.values())
        return {"phase_seconds": {k: round(v, 4) for k, v in self.seconds.items()},
                "phase_fractions": {k: v / total if total else 0.0 for k, v in self.seconds.items()}}
