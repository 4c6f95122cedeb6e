"""The model card (README.md) of an exported folder, in the Hub's conventions: YAML metadata
(license, base_model, datasets, language, pipeline_tag, tags, and a model-index block with the dev
and, where scored, test results, which the Hub renders as the evaluation widget), then what was
trained on what, and code that uses the folder with plain transformers.

A card is published: it names no path of the machine that trained the model (a local base model
or data file appears by its name only)."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from finetune.models.backbones import HUB_IDS, PIP_NAMES
from finetune.models import prompt_tuning
from finetune.run.folder import RUN_CONFIG_NAME
from tasks import registry
from tasks.roles import ModelCard

# The packaged models' licences, as their hub pages give them.
LICENSES = {"minilm": "apache-2.0", "smollm2": "apache-2.0"}
# Hub task types of the model-index block, by pipeline tag
TASK_NAMES = {"text-classification": "Text Classification", "token-classification": "Token Classification",
              "question-answering": "Question Answering", "multiple-choice": "Multiple Choice",
              "text-generation": "Text Generation"}


def front_matter(path: Path) -> dict:
    """The YAML metadata of a model folder's README.md ({} when there is none)."""
    readme = path / "README.md"
    if not readme.is_file():
        return {}
    text = readme.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---\n") or "\n---" not in text[4:]:
        return {}
    try:
        found = yaml.safe_load(text[4:text.index("\n---", 4)])
    except yaml.YAMLError:
        return {}
    return found if isinstance(found, dict) else {}


def base_model(base: str) -> tuple[str, str | None, str | None]:
    """(how the text names the base model, its hub id for base_model, its licence), never a local path."""
    if base in HUB_IDS:
        return f"`{base}` ({HUB_IDS[base]}, packaged as `{PIP_NAMES[base]}`)", HUB_IDS[base], LICENSES.get(base)
    path = Path(base).expanduser()
    if path.exists():
        meta = front_matter(path)  # a local copy of a hub model often keeps its card
        hub_id = meta.get("base_model") if isinstance(meta.get("base_model"), str) else None
        return f"a local model folder `{path.resolve().name}`", hub_id, meta.get("license")
    return f"`{base}`", base, None  # a hub id


def data_location(config: dict, split: str, record: dict) -> str:
    """Where a split came from, as the config names it (a relative file, a hub split) or by file name."""
    if record.get("origin") == "hub":
        return record["location"]
    data = config.get("data", {})
    given = data.get(split) or data.get("extra_validation", {}).get(split) or data.get("extra_test", {}).get(split)
    if given and not Path(given).is_absolute():
        return given
    return Path(record["location"]).name


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def model_index(name: str, config: dict, summary: dict, test: dict | None, tag: str | None, shown: list[str]) -> list:
    data = config.get("data", {})
    dataset = {"name": config.get("task"), "type": data.get("hub") or config.get("task")}
    if data.get("hub_config"):
        dataset["config"] = data["hub_config"]
    results = []
    for split, metrics in (("validation", summary.get("metrics") or {}), ("test", (test or {}).get("metrics") or {})):
        values = [{"type": key, "value": _number(metrics[key]), "name": f"{split} {key}"}
                  for key in shown if _number(metrics.get(key)) is not None]
        if values:
            result = {"dataset": {**dataset, "split": split}, "metrics": values}
            if tag:
                result["task"] = {"type": tag, "name": TASK_NAMES.get(tag, tag)}
            results.append(result)
    return [{"name": name, "results": results}] if results else []


def header(config: dict, summary: dict, adapter, name: str, test: dict | None) -> dict:
    serving = adapter if isinstance(adapter, ModelCard) else ModelCard()
    _, hub_id, license_ = base_model(config.get("model", ""))
    meta: dict = {}
    if license_:
        meta["license"] = license_
    meta["library_name"] = "transformers"
    if hub_id:
        meta["base_model"] = hub_id
    if config.get("data", {}).get("hub"):
        meta["datasets"] = [config["data"]["hub"]]
    if config.get("language"):
        meta["language"] = [config["language"]]
    tag = serving.hub_tag or serving.pipeline_task
    if tag:
        meta["pipeline_tag"] = tag
    meta["tags"] = ["finetune", config.get("task", "")]
    metrics = summary.get("metrics") or {}
    shown = [m for m in (adapter.headline_metrics or list(metrics)) if m != "loss"]
    index = model_index(name, config, summary, test, tag, shown)
    if index:
        meta["model-index"] = index
    return meta


def _threshold_line(config: dict) -> str:
    if not config.get("version_2"):
        return ""
    return (f"\n\nUnanswerable questions: the answer is \"\" when the null score (start + end logit at token 0) "
            f"exceeds the best span's score by more than **{config.get('null_threshold')}**, the threshold that scored "
            f"best on dev (stored in `{RUN_CONFIG_NAME}` as `null_threshold`).")


def _context_line(config: dict) -> str:
    asked = (config.get("asked_for") or {}).get("document_context")
    if asked:  # the card says what the model read, and why it is not what the config asked
        return (f"\n\nEach sentence was read alone: the config asked for {asked} tokens of document context "
                f"(`document_context`), but the training data marks no documents (no `-DOCSTART-` lines), so the "
                f"run trained without it (`document_context: 0` in `{RUN_CONFIG_NAME}`).")
    if not config.get("document_context"):
        return ""
    return (f"\n\nEach sentence was read with up to {config['document_context']} subword tokens of the sentences around it "
            f"in its document (`document_context`, FLERT), as context only. `python -m finetune predict` gives the "
            f"sentences of a CoNLL file the same context; the code below tags a text alone, as a sentence with no "
            f"document.")


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
    if Path(source or "").is_absolute():
        source = Path(source).name
    return f"""

## Vocabulary

`vocab.add_tokens={source}`: **{record['added']} tokens added** to the base tokenizer ({sizes}), e.g. {examples};
their embedding rows started as {init} and trained with the rest. Share of the text (non-space characters)
inside the unknown token, before -> after: {shares}. The tokenizer in this folder holds the added tokens:
`AutoTokenizer.from_pretrained` loads it as it is.
"""


def _test_section(config: dict, test: dict | None, shown: list[str]) -> str:
    if not test:
        return ""
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in test["metrics"].items() if k in shown and _number(v) is not None)
    return (f"\n\n## Test metrics\n\n{test['examples']} examples of `{data_location(config, 'test', test)}`, scored by "
            f"`predict`.\n\n| metric | value |\n|---|---|\n{rows}")


def usage(config: dict, adapter, folder: Path, name: str) -> str:
    serving = adapter if isinstance(adapter, ModelCard) else ModelCard()
    code = serving.card_usage(folder, name)
    if code:
        return code
    if serving.pipeline_task:
        extra = "".join(f", {k}={v!r}" for k, v in serving.pipeline_kwargs.items()).replace("'", '"')
        return f'from transformers import pipeline\npipe = pipeline("{serving.pipeline_task}", model="{name}"{extra})'
    cls = adapter.model_class.__name__
    return (f'from transformers import AutoTokenizer, {cls}\ntokenizer = AutoTokenizer.from_pretrained("{name}")\n'
            f'model = {cls}.from_pretrained("{name}")')


def model_card(config: dict, summary: dict, adapter, folder: Path, name: str, test: dict | None = None) -> str:
    """README.md of an exported folder `folder`, published as `name`; `test`: {location, examples,
    metrics} of the config's test split where `predict` scored it."""
    metrics = summary.get("metrics", {})
    train = config.get("train", {})
    base_text, _, _ = base_model(config.get("model", ""))
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in metrics.items() if _number(v) is not None) or "| (no dev set) | |"
    data_rows = "\n".join(
        f"| {split} | {d['rows']} | {data_location(config, split, d)}"
        f"{' (sample shipped with finetune: its scores mean nothing)' if d.get('origin') == 'sample' else ''} |"
        for split, d in summary.get("data", {}).items())
    hyper = ", ".join(f"{k}={train[k]}" for k in ("epochs", "max_steps", "batch_size", "lr", "weight_decay", "warmup_ratio",
                                                   "scheduler", "grad_accum", "max_grad_norm", "precision") if k in train)
    # rates other than train.lr, only where a run had them
    hyper += "".join(f", {k}={train[k]}" for k in ("embedding_lr", "layer_lr_decay") if train.get(k) is not None)
    flags = " ".join(f'{flag.name} "..."' for flag in registry.task(config.get("adapter", "")).predict_flags) or "--input FILE"
    shown = [m for m in (adapter.headline_metrics or list(metrics)) if m != "loss"]
    head = header(config, summary, adapter, name, test)
    if prompt_tuning.is_adapter_folder(folder):
        head["library_name"] = "peft"  # an adapter folder: peft's AutoPeftModelFor* loads it
    meta = yaml.safe_dump(head, sort_keys=False, allow_unicode=True).strip()
    return f"""---
{meta}
---

# {name}

Fine-tuned with `finetune` on **{config.get('task')}** from base model {base_text}.

## Dev metrics

Best checkpoint (step {summary.get('best_step')} of {summary.get('steps')}); primary metric: `{summary.get('primary')}`.

| metric | value |
|---|---|
{rows}{_test_section(config, test, shown)}

## Data

| split | examples | source |
|---|---|---|
{data_rows}

## Training

{hyper}; seed={config.get('seed')}; max_seq_length={config.get('data', {}).get('max_seq_length')};
training took {summary.get('train_seconds')} s. The full resolved config is in `{RUN_CONFIG_NAME}`.{_threshold_line(config)}{_context_line(config)}{_vocabulary_section(config, summary)}

## Use

```python
{usage(config, adapter, folder, name)}
```

or `python -m finetune evaluate {name}` / `python -m finetune predict {name} {flags}`.
"""
