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
from finetune.models.backbones import HUB_IDS, PIP_NAMES
from finetune.run.checkpoint import publish
from finetune.run.folder import EVAL_METRICS_NAME, RUN_CONFIG_NAME, SUMMARY_NAME, RunDir
from tasks import registry
from tasks.registry import load_config
from tasks.roles import ModelCard


def _threshold_line(config: dict) -> str:
    if not config.get("version_2"):
        return ""
    return (f"\n\nUnanswerable questions: the answer is \"\" when the null score (start + end logit at token 0) "
            f"exceeds the best span's score by more than **{config.get('null_threshold')}**, the threshold that scored "
            f"best on dev (stored in `{RUN_CONFIG_NAME}` as `null_threshold`).")


def _vocabulary_section(config: dict, summary: dict) -> str:
    """What vocab.add_tokens did, from the run's metrics.json (absent: the tokenizer is the base model's)."""
    record = summary.get("vocabulary")
    if not record:
        return ""
    shares = ", ".join(f"{name} {before['unknown_share']:.1%} -> {record['unknown_after'][name]['unknown_share']:.1%}"
                       for name, before in record["unknown_before"].items())
    source = config.get("vocab", {}).get("add_tokens")
    if not record["added"]:
        return f"\n\n## Vocabulary\n\n`vocab.add_tokens={source}` added no token: {record.get('note', '')}\n"
    init = {"unk": "a copy of the unknown token's row", "mean": "transformers' mean resizing",
            "random": "draws from the distribution of the old rows"}[record["init"]]
    first = record["first_added"]
    examples = first if isinstance(first, str) else " ".join(first)
    sizes = f"{record['vocabulary_before']} -> {record['vocabulary_after']}"
    return f"""

## Vocabulary

`vocab.add_tokens={source}`: **{record['added']} tokens added** to the base tokenizer ({sizes}), e.g. {examples};
their embedding rows started as {init} and trained with the rest. Share of the text (non-space characters)
inside the unknown token, before -> after: {shares}. The tokenizer in this folder holds the added tokens:
`AutoTokenizer.from_pretrained` loads it as it is.
"""


def _card(config: dict, summary: dict, adapter, folder: Path, folder_name: str) -> str:
    serving = adapter if isinstance(adapter, ModelCard) else ModelCard()
    pipeline_task = serving.pipeline_task
    metrics = summary.get("metrics", {})
    train = config.get("train", {})
    base = config.get("model", "")
    header = {"library_name": "transformers", "tags": ["finetune", config.get("task", "")]}
    if serving.hub_tag or pipeline_task:
        header["pipeline_tag"] = serving.hub_tag or pipeline_task
    hub_id = HUB_IDS.get(base) or (base if "/" in base and not Path(base).exists() else None)
    if hub_id:
        header["base_model"] = hub_id  # local paths are only named in the text
    base_text = f"`{base}`" + (f" ({HUB_IDS[base]}, packaged as `{PIP_NAMES[base]}`)" if base in HUB_IDS else "")
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in metrics.items()) or "| (no dev set) | |"
    data_rows = "\n".join(
        f"| {name} | {d['rows']} | {d['location']}{' (sample shipped with finetune)' if d.get('origin') == 'sample' else ''} |"
        for name, d in summary.get("data", {}).items())
    hyper = ", ".join(f"{k}={train[k]}" for k in ("epochs", "max_steps", "batch_size", "lr", "weight_decay", "warmup_ratio",
                                                   "scheduler", "grad_accum", "max_grad_norm", "precision") if k in train)
    model_class = adapter.model_class.__name__
    extra = "".join(f", {k}={v!r}" for k, v in serving.pipeline_kwargs.items()).replace("'", '"')
    flags = " ".join(f'{flag.name} "..."' for flag in registry.task(config.get("adapter", "")).predict_flags) or "--input FILE"
    usage = serving.card_usage(folder, folder_name) or (f'from transformers import pipeline\npipe = pipeline("{pipeline_task}", model="{folder_name}"{extra})' if pipeline_task else
             f'from transformers import AutoTokenizer, {model_class}\ntokenizer = AutoTokenizer.from_pretrained("{folder_name}")\n'
             f'model = {model_class}.from_pretrained("{folder_name}")')
    return f"""---
{yaml.safe_dump(header, sort_keys=False).strip()}
---

# {folder_name}

Fine-tuned with `finetune` on **{config.get('task')}** from base model {base_text}.

## Dev metrics

Best checkpoint (step {summary.get('best_step')} of {summary.get('steps')}); primary metric: `{summary.get('primary')}`.

| metric | value |
|---|---|
{rows}

## Data

| split | examples | source |
|---|---|---|
{data_rows}

## Training

{hyper}; seed={config.get('seed')}; max_seq_length={config.get('data', {}).get('max_seq_length')};
training took {summary.get('train_seconds')} s. The full resolved config is in `{RUN_CONFIG_NAME}`.{_threshold_line(config)}{_vocabulary_section(config, summary)}

## Use

```python
{usage}
```

or `python -m finetune evaluate {folder_name}` / `python -m finetune predict {folder_name} {flags}`.
"""


def export(run: str, out: str | None = None) -> Path:
    from finetune.apps.seeds import best_run

    study = best_run(run)  # a seeds=N folder: its best seed is the model
    if study is not None:
        print(f"{run} is a study over seeds: exporting its model, seed {study[1]['seed']} ({study[0]}): "
              f"{study[1]['why']}.")
        run = str(study[0])
    run_dir = RunDir(Path(run))
    best = run_dir.best
    if not run_dir.has_best():
        raise InputError(f"{run}: not a finished run folder (no checkpoints/best). Give runs/<name> of a trained run.")
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
    (tmp / "README.md").write_text(_card(config, summary, adapter, tmp, target.name))
    publish(tmp, target)
    print(f"Exported {run_dir.root} -> {target}")
    return target
