"""evaluate, predict and score: using a trained run, an exported folder or a predictions file."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from finetune.apps.seeds import best_run
from finetune.config.schema import RunConfig
from finetune.data import splits as data_io
from finetune.engine import batching
from finetune.engine.accelerator import eval_batch_size, make_accelerator
from finetune.engine.build import build
from finetune.engine.evaluation import run_split
from finetune.errors import InputError
from finetune.run import summary as run_summary
from finetune.run.folder import (
    RUN_CONFIG_NAME,
    RunDir,
    is_model_folder,
    prediction_name,
)
from finetune.serve.onnx import runtime as onnx_runtime
from tasks import registry
from tasks.registry import load_config
from tasks.roles import CommandLineInput, PredictionFiles


def resolve_target(target: str, overrides: list[str]) -> tuple[RunConfig, str | None]:
    """(config, model folder) of a run folder, an exported folder, or a task / config (its model)."""
    path = Path(target)
    study = best_run(path)  # a study over seeds (seeds=N): its model is the best-dev seed's run
    if study is not None:
        path = study[0]
        print(f"{target} is a study over seeds: using its model, {path}.", file=sys.stderr)
    if RunDir.is_run(path):
        run = RunDir(path)
        if not run.has_best():
            raise InputError(f"{path}: the run has no best checkpoint yet (checkpoints/best). Train it to the end first.")
        return load_config(run.config, overrides), str(run.best)
    if is_model_folder(path):
        return load_config(path / RUN_CONFIG_NAME, overrides), str(path)
    if onnx_runtime.is_onnx_file(path) and is_model_folder(onnx_runtime.model_folder(path)):
        return load_config(onnx_runtime.model_folder(path) / RUN_CONFIG_NAME, overrides), str(path)
    return load_config(target, overrides), None


def run_splits(config: RunConfig, model_path: str | None, split_names: list[str], given: dict | None = None):
    """Predictions (and metrics, where labelled) of every split, on every process."""
    accelerator = make_accelerator(config, training=False)
    built = build(config, split_names, accelerator, model_path, given_splits=given)
    if not built.splits:
        raise InputError(f"{config.task}: none of the splits {', '.join(split_names)} is configured; set data.validation or --input.")
    model = accelerator.prepare(built.model)
    collate = batching.collator(built.tokenizer, accelerator.device.type == "cuda", built.adapter.collator_class)
    size = eval_batch_size(config, accelerator.num_processes)
    results = {}
    for name, split in built.splits.items():
        loader = accelerator.prepare(batching.eval_loader(built.features[name], size, collate, built.adapter.decode_columns))
        results[name] = run_split(model, loader, built.adapter, accelerator, split.dataset, built.features[name], name)
    return accelerator, built, results


def evaluate(target: str, overrides: list[str], out: str | None = None) -> dict[str, float]:
    config, model_path = resolve_target(target, overrides)
    return evaluate_config(config, model_path, out)["metrics"]


def evaluate_config(config: RunConfig, model_path: str | None, out: str | Path | None = None) -> dict:
    """Dev metrics of a model (a trained folder, or None: the config's backbone with a new head), as
    the summary that `out`/metrics.json holds: {task, primary, metrics, model, data}."""
    accelerator, built, results = run_splits(config, model_path, data_io.eval_split_names(config.data))
    metrics = run_summary.split_metrics({name: result.metrics for name, result in results.items()})
    summary = run_summary.summary(config, built.adapter.primary_metric, metrics, model_path or config.model, built.splits)
    if accelerator.is_main_process:
        if out:
            folder = Path(out)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "metrics.json").write_text(json.dumps(summary, indent=1))
            if isinstance(built.adapter, PredictionFiles):
                for name, result in results.items():
                    built.adapter.write_predictions(folder, prediction_name(name), built.splits[name].dataset,
                                                    result.predictions)
        print(data_io.describe_all(list(built.splits.values()), config.data))
        print(json.dumps(summary["metrics"], indent=1))
    return summary


def predict(target: str, overrides: list[str], input_file: str | None = None, flags: dict[str, list[str]] | None = None,
            out: str | None = None, show: bool = True) -> list:
    """Predictions for texts typed on the command line (task flags), a file, or the config's test
    split: printed (show) or written to `out`, and returned (the adapter's, one an example)."""
    config, model_path = resolve_target(target, overrides)
    typed_examples = examples_from_flags(config, flags or {})
    given = None
    if typed_examples is not None:
        given = {"test": data_io.RawSplit("test", typed_examples, "file", data_io.TYPED)}
    elif input_file:
        config.data.test = str(Path(input_file).resolve())
        config.data.source = "files"
    accelerator, built, results = run_splits(config, model_path, ["test"], given)
    result, examples = results["test"], built.splits["test"].dataset
    if not accelerator.is_main_process:
        return result.predictions
    if result.metrics and given is None and model_path and Path(model_path).parent.name == "checkpoints":
        _record_test_metrics(RunDir(Path(model_path).parent.parent), built.splits["test"], result.metrics)
    if (typed_examples is not None and not out) or not isinstance(built.adapter, PredictionFiles):
        if show:
            print("\n".join(built.adapter.show(examples, result.predictions)))
        return result.predictions
    with tempfile.TemporaryDirectory() as tmp:
        written = built.adapter.write_predictions(Path(tmp), "predictions", examples, result.predictions)
        if not out:
            if show:
                for path in written[:1]:  # the main file; companions (n-best) only with --out
                    sys.stdout.write(path.read_text())
                _print_scores(result.metrics, built.adapter, sys.stderr)  # stdout holds the predictions
            return result.predictions
        target = Path(out)  # exactly the name given: a.test.tsv stays a.test.tsv
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(written[0]), target)
        for companion in written[1:]:
            shutil.move(str(companion), target.with_name(companion.name))
    if show:
        print(f"Predictions for {len(examples)} examples: {target}")
        _print_scores(result.metrics, built.adapter, sys.stdout)
    return result.predictions


def _record_test_metrics(run: RunDir, split, metrics: dict[str, float]) -> None:
    """A run's scores on a labelled test file (CoNLL-2003's), for its model card's test results."""
    record = {"location": split.location, "origin": split.origin, "examples": len(split.dataset), "metrics": metrics}
    run.test_metrics.write_text(json.dumps(record, indent=1))


def examples_from_flags(config: RunConfig, flags: dict[str, list[str]]):
    """Examples typed on the command line; a flag the task does not take is refused, not ignored."""
    task = registry.task(config.adapter)
    taken = {flag.key for flag in task.predict_flags}
    wrong = [key for key in flags if key not in taken]
    if wrong:
        names = ", ".join(f"--{k.replace('_', '-')}" for k in wrong)
        takes = ", ".join(flag.name for flag in task.predict_flags) or "no flags (use --input FILE)"
        raise InputError(f"{config.task} does not take {names}: its predict flags are {takes}.")
    if not flags:
        return None
    adapter = registry.get(config)
    if not isinstance(adapter, CommandLineInput):
        raise InputError(f"{config.task} takes no examples on the command line; use --input FILE.")
    return adapter.examples_from_flags(flags)


def _print_scores(metrics: dict[str, float], adapter, stream) -> None:
    """A test file with gold labels (CoNLL-2003's, WNUT-17's) is scored as well."""
    if metrics:
        print(f"Scores against the file's own labels: {run_summary.headline(metrics, adapter.headline_metrics)}",
              file=stream)


def score_file(task: str, predictions: str, references: str | None, overrides: list[str], null_odds: str | None = None) -> str:
    """The task's official metrics of a predictions file against a reference file, with no model;
    prints (and returns) what the task's official evaluation script prints."""
    config = load_config(task, overrides)
    adapter = registry.get(config)
    for label, path in (("--predictions", predictions), ("--references", references), ("--null-odds", null_odds)):
        if path is not None and not Path(path).is_file():
            raise InputError(f"{label} {path}: no such file.")
    if not isinstance(adapter, PredictionFiles):
        raise InputError(f"{config.task} has no predictions file format to score.")
    text = adapter.score_files(Path(predictions), Path(references) if references else None,
                               Path(null_odds) if null_odds else None)
    print(text)
    return text
