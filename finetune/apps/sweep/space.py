"""The search space of a sweep: `sweep.params` checked up front (exit 2 naming the key), and each
trial's values as the `key=value` overrides an ordinary run takes."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable

from finetune.config import typed
from finetune.config.schema import RunConfig
from finetune.errors import InputError

RANGE_KEYS = ("low", "high", "log", "step")


@dataclass(frozen=True)
class Param:
    key: str  # a config key, e.g. train.lr
    kind: str  # "float", "int" or "choice"
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()  # as the config takes them (a choice may be a list: it is kept as JSON text for optuna)

    def suggest(self, trial: Any) -> Any:
        if self.kind == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return json.loads(trial.suggest_categorical(self.key, [json.dumps(c) for c in self.choices]))


def override(key: str, value: Any) -> str:
    """`key=value` as the command line writes it (lists and mappings as inline YAML / JSON)."""
    return f"{key}={value if isinstance(value, str) else json.dumps(value)}"


def _number(value: Any, where: str) -> float:
    try:  # YAML reads 1e-5 (no dot) as text
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise InputError(f"{where}: expects a number, got {value!r}.")
    return number


def parse(params: dict[str, Any], check: Callable[[list[str]], RunConfig], where: str) -> list[Param]:
    """The `sweep.params` mapping as Params. `check(overrides)` loads the task's config with
    overrides, so every key and value is checked as a run would check it."""
    if not params:
        raise InputError(f"{where}: sweep.params is empty. Give at least one config key to search, e.g. "
                         f"sweep.params={{train.lr: {{low: 1.0e-5, high: 3.0e-4, log: true}}}}.")
    parsed = []
    method = check([]).peft_method
    for key, spec in params.items():
        name = f"{where}: sweep.params.{key}"
        if key == "train.lr" and method != "none":
            raise InputError(f"{name}: with peft.method={method} the optimizer runs at peft.lr, not train.lr; "
                             f"search peft.lr instead.")
        if isinstance(spec, list):
            if not spec:
                raise InputError(f"{name}: an empty list of choices. Give at least one value.")
            for choice in spec:  # each must be a value the key takes
                check([override(key, choice)])
            parsed.append(Param(key, "choice", choices=tuple(spec)))
            continue
        if not isinstance(spec, dict):
            raise InputError(f"{name}: give a range {{low, high, log}} or a list of choices, got {spec!r}.")
        unknown = [k for k in spec if k not in RANGE_KEYS]
        if unknown:
            raise InputError(f"{name}.{unknown[0]}: unknown{typed.closest(str(unknown[0]), list(RANGE_KEYS))}. "
                             f"A range takes {', '.join(RANGE_KEYS)}.")
        if "low" not in spec or "high" not in spec:
            raise InputError(f"{name}: a range needs both low and high.")
        low, high = _number(spec["low"], f"{name}.low"), _number(spec["high"], f"{name}.high")
        log, step = spec.get("log", False), spec.get("step")
        if not isinstance(log, bool):
            raise InputError(f"{name}.log: expects true or false, got {log!r}.")
        if low >= high:
            raise InputError(f"{name}: low ({spec['low']}) must be below high ({spec['high']}).")
        if log and low <= 0:
            raise InputError(f"{name}: a log range needs low > 0, got {spec['low']}.")
        if step is not None and (log or _number(step, f"{name}.step") <= 0):
            raise InputError(f"{name}.step: a positive step, and not with log: true.")
        config = check([override(key, spec["low"])])  # the key exists and takes a number
        check([override(key, spec["high"])])
        current = typed.flatten(config.to_dict()).get(key)
        is_int = isinstance(current, int) and not isinstance(current, bool) and float(low).is_integer() \
            and float(high).is_integer() and (step is None or float(step).is_integer())
        parsed.append(Param(key, "int" if is_int else "float", low, high, log, float(step) if step else None))
    return parsed
