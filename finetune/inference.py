"""evaluate, predict and score: using a trained run, an exported folder or a predictions file."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from accelerate import Accelerator

from finetune import batching, devices
from finetune import data as data_io
from finetune.build import RUN_CONFIG_NAME, build
from finetune.config import RunConfig, load_config
from finetune.errors import InputError
from finetune.evaluation import run_split
from finetune.loop import eval_batch_size, prediction_name
from tasks import registry


def resolve_target(target: str, overrides: list[str]) -> tuple[RunConfig, str | None]:
    """(config, model folder) of a run folder, an exported folder, or a task / config (its model)."""
    path = Path(target)
    if (path / "config.yaml").is_file() and (path / "checkpoints").is_dir():
        best = path / "checkpoints" / "best"
        if not (best / RUN_CONFIG_NAME).is_file():
            raise InputError(f"{path}: the run has no best checkpoint yet (checkpoints/best). Train it to the end first.")
        return load_config(path / "config.yaml", overrides), str(best)
    if (path / RUN_CONFIG_NAME).is_file():
        return load_config(path / RUN_CONFIG_NAME, overrides), str(path)
    return load_config(target, overrides), None


def _accelerator(config: RunConfig) -> Accelerator:
    precision = devices.resolve_precision(config.train.precision, devices.device())
    return Accelerator(mixed_precision=precision if precision != "fp16" else "no", dataloader_config=devices.global_batches())


def run_splits(config: RunConfig, model_path: str | None, split_names: list[str], given: dict | None = None):
    """Predictions (and metrics, where labelled) of every split, on every process."""
    accelerator = _accelerator(config)
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
    metrics = {}
    for name, result in results.items():
        prefix = "" if name == "validation" else f"{name}_"
        metrics.update({prefix + k: v for k, v in result.metrics.items()})
    summary = {"task": config.task, "primary": built.adapter.primary_metric, "metrics": metrics,
               "model": model_path or config.model,
               "data": {n: {"location": s.location, "rows": len(s.dataset)} for n, s in built.splits.items()}}
    if accelerator.is_main_process:
        if out:
            folder = Path(out)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "metrics.json").write_text(json.dumps(summary, indent=1))
            for name, result in results.items():
                built.adapter.write_predictions(folder, prediction_name(name), built.splits[name].dataset, result.predictions)
        for split in built.splits.values():
            print(data_io.describe(split))
        print(json.dumps(summary["metrics"], indent=1))
    return summary


def predict(target: str, overrides: list[str], input_file: str | None = None, flags: dict[str, list[str]] | None = None,
            out: str | None = None) -> None:
    """Predictions for texts typed on the command line (task flags), a file, or the config's test split."""
    config, model_path = resolve_target(target, overrides)
    typed_examples = registry.get(config).examples_from_flags(flags or {})
    given = None
    if typed_examples is not None:
        given = {"test": data_io.RawSplit("test", typed_examples, "file", "command line")}
    elif input_file:
        config.data.test = str(Path(input_file).resolve())
        config.data.source = "files"
    accelerator, built, results = run_splits(config, model_path, ["test"], given)
    if not accelerator.is_main_process:
        return
    result, examples = results["test"], built.splits["test"].dataset
    if typed_examples is not None and not out:
        print("\n".join(built.adapter.show(examples, result.predictions)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        written = built.adapter.write_predictions(Path(tmp), "predictions", examples, result.predictions)
        if not out:
            for path in written[:1]:  # the main file; companions (n-best) only with --out
                sys.stdout.write(path.read_text())
            _print_scores(result.metrics, built.adapter, sys.stderr)  # stdout holds the predictions
            return
        target = Path(out)  # exactly the name given: a.test.tsv stays a.test.tsv
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(written[0]), target)
        for companion in written[1:]:
            shutil.move(str(companion), target.with_name(companion.name))
    print(f"Predictions for {len(examples)} examples: {target}")
    _print_scores(result.metrics, built.adapter, sys.stdout)


def _print_scores(metrics: dict[str, float], adapter, stream) -> None:
    """A test file with gold labels (CoNLL-2003's, WNUT-17's) is scored as well."""
    if metrics:
        print(f"Scores against the file's own labels: {adapter.headline(metrics)}", file=stream)


def score_file(task: str, predictions: str, references: str | None, overrides: list[str], null_odds: str | None = None) -> str:
    """The task's official metrics of a predictions file against a reference file, with no model;
    prints (and returns) what the task's official evaluation script prints."""
    config = load_config(task, overrides)
    adapter = registry.get(config)
    for label, path in (("--predictions", predictions), ("--references", references), ("--null-odds", null_odds)):
        if path is not None and not Path(path).is_file():
            raise InputError(f"{label} {path}: no such file.")
    if references is None and not adapter.gold_in_predictions:
        raise InputError(f"{config.task}: give the gold file with --references.")
    text = adapter.score_files(Path(predictions), Path(references) if references else None,
                               Path(null_odds) if null_odds else None)
    print(text)
    return text
