"""The toolkit from Python (a notebook, a script): the commands as functions that return what the
command line prints, and raise instead of exiting.

    from finetune import train, evaluate, predict, export
    run = train("sst2", {"train.epochs": 1, "data.max_train_samples": 2000})
    run.metrics["accuracy"], run.folder
    evaluate(run.folder)                              # {"accuracy": ..., "loss": ...}
    predict(run.folder, text=["a gripping film"])     # ["positive"]
    export(run.folder, "exports/sst2")                # Path("exports/sst2")

A config is a YAML path or a task name (configs/<task>.yaml); overrides are a dict of dotted keys
({"train.lr": 1e-4, "labels": ["neg", "pos"]}) or the command line's "key=value" strings. Bad input
raises finetune.InputError (the message the command line prints, exit status 2 there); a run stopped
on purpose (a NaN loss, a failed write) raises finetune.RunStopped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Overrides = dict[str, Any] | list[str] | tuple[str, ...] | None


def as_overrides(overrides: Overrides) -> list[str]:
    """Command-line overrides from a dict (values as YAML reads them: JSON for non-strings) or strings."""
    if overrides is None:
        return []
    if isinstance(overrides, dict):
        return [f"{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in overrides.items()]
    if isinstance(overrides, str):
        raise TypeError("overrides: give a dict {'train.lr': 1e-4} or a list of 'key=value' strings, not one string")
    return list(overrides)


@dataclass(frozen=True)
class Run:
    """A finished training run (or, with seeds=N, the study over seeds)."""
    folder: Path  # the run folder (a study: its summary folder; its model is the best-dev seed's run)
    summary: dict = field(repr=False)  # metrics.json (a study: seeds.json)
    metrics: dict[str, float] = field(default_factory=dict)  # dev metrics of the best checkpoint (a study: medians)


def _quiet() -> None:
    from finetune.console import quiet_libraries

    quiet_libraries()


def train(config: str | Path, overrides: Overrides = None) -> Run:
    """`python -m finetune train CONFIG [key=value ...]`: trains, and returns the run."""
    from finetune.apps.seeds import SUMMARY_NAME as SEEDS_SUMMARY
    from finetune.apps.seeds import seed_list, train_seeds
    from finetune.engine.loop import train as train_run
    from finetune.run.folder import read_summary
    from tasks.registry import load_config

    _quiet()
    resolved = load_config(str(config), as_overrides(overrides))
    if seed_list(resolved) is None:
        folder = Path(train_run(resolved))
        summary = read_summary(folder)
        return Run(folder, summary, dict(summary.get("metrics", {})))
    folder = Path(train_seeds(resolved))
    summary = json.loads((folder / SEEDS_SUMMARY).read_text())
    medians = {name: stats["median"] for name, stats in summary.get("metrics", {}).items()}
    return Run(folder, summary, medians)


def evaluate(target: str | Path, overrides: Overrides = None, out: str | Path | None = None) -> dict[str, float]:
    """`python -m finetune evaluate RUN_OR_MODEL`: the dev metrics of a run, an export or a config's model."""
    from finetune.serve.inference import evaluate as evaluate_target

    _quiet()
    return evaluate_target(str(target), as_overrides(overrides), str(out) if out else None)


def predict(target: str | Path, overrides: Overrides = None, *, input_file: str | Path | None = None,
            out: str | Path | None = None, show: bool = False, **examples: str | list[str]) -> list:
    """`python -m finetune predict RUN_OR_MODEL`: the predictions, one an example, as the task gives
    them (a label with each class's probability, a list of entities, an answer with its n-best). Examples are the task's predict
    flags as keywords: text=[...] (and text_pair=[...]), question=/context=, context=/choice=; or
    input_file=; or nothing, for the config's test split. out= also writes the predictions file."""
    from finetune.serve.inference import predict as predict_target

    _quiet()
    flags = {key: [value] if isinstance(value, str) else list(value) for key, value in examples.items()}
    return predict_target(str(target), as_overrides(overrides), str(input_file) if input_file else None, flags,
                          str(out) if out else None, show=show)


def export(run: str | Path, out: str | Path | None = None, *, push: str | None = None, private: bool = False,
           onnx: bool = False, quantize: str | None = None, max_metric_drop: float = 1.0) -> Path:
    """`python -m finetune export RUN [--out DIR] [--push REPO_ID [--private]] [--onnx [--quantize int8]]`:
    a plain Hugging Face folder (uploaded to the Hub repo `push` as well; with onnx=True an ONNX graph
    checked against PyTorch on the dev set); returns its path."""
    from finetune.errors import InputError
    from finetune.serve.export import export as export_run
    from finetune.serve.onnx.export import OnnxOptions

    if quantize and not onnx:
        raise InputError("quantize is for onnx=True.")
    _quiet()
    options = OnnxOptions(quantize, max_metric_drop) if onnx else None
    return export_run(str(run), str(out) if out else None, push, private, options)
