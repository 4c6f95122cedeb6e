"""Export a run's best checkpoint as a plain Hugging Face folder with a model card and metrics.json.

The folder loads with `AutoModelFor*.from_pretrained` and `transformers.pipeline` alone; the
toolkit's run config rides along as finetune.yaml so `python -m finetune evaluate FOLDER` works too.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from finetune.errors import InputError
from finetune.models import prompt_tuning
from finetune.run.checkpoint import publish
from finetune.run.folder import EVAL_METRICS_NAME, RUN_CONFIG_NAME, SUMMARY_NAME, RunDir
from finetune.serve.card import model_card
from finetune.serve.onnx.card import onnx_card_section
from finetune.serve.onnx.export import OnnxOptions, export_onnx
from tasks import registry
from tasks.registry import load_config
from tasks.roles import ModelCard

EXPORT_RECORD = "export.json"  # what export --onnx measured (parity, int8, speed)


def export(run: str, out: str | None = None, push_to: str | None = None, private: bool = False,
           onnx: OnnxOptions | None = None) -> Path:
    """The folder (default exports/<run name>); with `push_to`, also uploaded to that Hub repo, and
    the model card's code names the repo rather than the folder. With `onnx`, an ONNX graph (and
    int8) beside the weights, checked against them on the dev set (export.json holds the figures);
    a failed check leaves nothing behind."""
    from finetune.apps.seeds import best_run
    from finetune.serve import push

    if push_to:
        push.check_repo_id(push_to)
    study = best_run(run)  # a seeds=N folder: its best seed is the model
    if study is not None:
        print(f"{run} is a study over seeds: exporting its model, seed {study[1]['seed']} ({study[0]}): "
              f"{study[1]['why']}.")
        run = str(study[0])
    run_dir = RunDir(Path(run))
    best = run_dir.best
    if not run_dir.has_best():
        raise InputError(f"{run}: not a finished run folder (no checkpoints/best). Give runs/<name> of a trained run.")
    if onnx is not None and prompt_tuning.is_adapter_folder(best):
        raise InputError(f"{run}: export --onnx takes a model with plain weights, and this run's is a prompt / prefix "
                         f"tuning adapter folder (virtual tokens on a base model). Export it without --onnx.")
    summary = run_dir.summary()
    config = yaml.safe_load((best / RUN_CONFIG_NAME).read_text())
    target = Path(out) if out else Path("exports") / run_dir.root.resolve().name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".tmp-{target.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(best, tmp, ignore=shutil.ignore_patterns(EVAL_METRICS_NAME))
    (tmp / SUMMARY_NAME).write_text(json.dumps(summary, indent=1))
    # Options the dev set chose (SQuAD v2's null threshold) travel with the model.
    adapter = registry.get(load_config(best / RUN_CONFIG_NAME))
    chosen = adapter.export_options(summary.get("metrics", {})) if isinstance(adapter, ModelCard) else {}
    if chosen:
        config.update(chosen)
        (tmp / RUN_CONFIG_NAME).write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        adapter = registry.get(load_config(tmp / RUN_CONFIG_NAME))  # the card's code uses the chosen options
    test = json.loads(run_dir.test_metrics.read_text()) if run_dir.test_metrics.is_file() else None
    card = model_card(config, summary, adapter, tmp, push_to or target.name, test)
    if onnx is not None:
        try:
            record = export_onnx(tmp, onnx)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        (tmp / EXPORT_RECORD).write_text(json.dumps(record, indent=1))
        card += onnx_card_section(record, push_to or target.name)
    (tmp / "README.md").write_text(card)
    publish(tmp, target)
    print(f"Exported {run_dir.root} -> {target}")
    if push_to:
        print(f"Pushed {target} to the Hub: {push.push(target, push_to, private)}")
    return target
