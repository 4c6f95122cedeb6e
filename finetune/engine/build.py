"""From a RunConfig to the pieces of a run: adapter, data splits, tokenizer, model and encoded features.

train, evaluate and predict all start here, so they read data and models the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset

from finetune.config.schema import RunConfig
from finetune.data import splits as data_io
from finetune.errors import InputError
from finetune.models import backbones as models
from finetune.models import mean_pooling, vocabulary
from finetune.run.folder import is_model_folder
from finetune.serve.onnx import runtime as onnx_runtime
from tasks import registry
from tasks.base import Adapter


@dataclass
class Built:
    config: RunConfig
    adapter: Adapter
    tokenizer: Any
    model: Any
    model_path: str
    splits: dict[str, data_io.RawSplit]
    features: dict[str, Dataset]
    extension: vocabulary.Extension | None = None  # what vocab.add_tokens added (training only)


def encode(adapter: Adapter, split: data_io.RawSplit, tokenizer: Any, config: RunConfig) -> Dataset:
    """Tokenise once; the cache key names everything the features depend on."""
    key = json.dumps(
        [split.dataset._fingerprint, split.name, tokenizer.name_or_path, len(tokenizer), tokenizer.padding_side,
         sorted(tokenizer.get_added_vocab().items()),  # vocab.add_tokens: which tokens, not only how many
         config.adapter, config.to_dict().get("data", {}).get("max_seq_length"),
         {k: v for k, v in config.to_dict().items() if k not in ("data", "train", "lora", "reference", "sweep", "seeds", "model", "run_name", "seed",
                                                                  "output_dir", "resume", "task")},
         adapter.labels if hasattr(adapter, "labels") else None,
         # The adapter's code too: a toolkit update that changes encoding must not reuse old features.
         hashlib.sha256(inspect.getsource(type(adapter)).encode()).hexdigest()],
        sort_keys=True, default=str,
    )

    def encode_batch(batch, indices):
        features = adapter.encode(batch, indices, tokenizer, split.name)
        if "length" not in features:  # for length-grouped batches (multiple choice gives its own)
            features["length"] = [len(ids) for ids in features["input_ids"]]
        return features

    return split.dataset.map(
        encode_batch,
        batched=True,
        with_indices=True,
        remove_columns=split.dataset.column_names,
        new_fingerprint=hashlib.sha256(key.encode()).hexdigest()[:32],
        desc=f"Tokenising {split.name}",
    )


@dataclass
class Prepared:
    """Everything a run needs before its model: checked splits and their features."""

    adapter: Adapter
    tokenizer: Any
    model_path: str  # a model folder, a hub id, or an ONNX file of an exported folder
    trained: bool  # model_path is a model this toolkit trained (its config holds the labels)
    splits: dict[str, data_io.RawSplit]
    features: dict[str, Dataset]
    extension: vocabulary.Extension | None = None


def drop_bad_rows(splits: dict[str, data_io.RawSplit], show: bool) -> None:
    """data.bad_rows=skip: leave out the rows a check rejected, and say every row left out (stderr:
    one line each, then a count a split), so that no row disappears unseen."""
    for split in splits.values():
        split.drop_rejected()
        if show and split.skipped:
            for message in split.skipped:
                print(f"skipped: {message}", file=sys.stderr)
            print(f"  {split.name}: skipped {len(split.skipped)} malformed row(s) of {split.location} "
                  f"(data.bad_rows=skip); {len(split.dataset)} rows kept.", file=sys.stderr)


def extend_vocabulary(config: RunConfig, adapter: Adapter, tokenizer: Any, splits: dict[str, data_io.RawSplit],
                      resume_from: Path | None, show: bool) -> vocabulary.Extension:
    """vocab.add_tokens before encoding. A resumed run takes the tokens its checkpoint's tokenizer
    holds, so that its embedding matrix fits, whatever the data or the file say now."""
    resumed = None
    if resume_from is not None:
        saved = vocabulary.tokens_in(resume_from, len(tokenizer))
        if saved is not None:
            resumed = (f"{config.vocab.add_tokens}, as in {resume_from.name}", saved)
    texts = {name: adapter.texts(split.dataset) for name, split in splits.items()}
    extension = vocabulary.extend(config.vocab, tokenizer, texts, resumed)
    if show:
        print(extension.describe())
    return extension


def prepare(config: RunConfig, split_names: list[str], accelerator: Any = None, model_path: str | None = None,
            given_splits: dict[str, data_io.RawSplit] | None = None, resume_from: Path | None = None) -> Prepared:
    """Read and check the splits, and encode them: every input error shows up here, before a model loads.
    Training (a train split asked for) extends the vocabulary first when vocab.add_tokens says so."""
    adapter = registry.get(config)
    weights = model_path or models.resolve(config.model)
    # An ONNX file (export --onnx) reads its tokenizer and config from the exported folder around it.
    path = str(onnx_runtime.model_folder(weights)) if onnx_runtime.is_onnx_file(weights) else weights
    first = accelerator.main_process_first() if accelerator is not None else contextlib.nullcontext()
    with first:  # one process fills the datasets cache, the others read it
        splits = dict(given_splits or {})
        for name in split_names:
            if name in splits:
                continue
            split = data_io.load_split(config.data, name)
            if split is not None:
                splits[name] = split
        tokenizer = adapter.prepare_tokenizer(models.load_tokenizer(path, config.trust_remote_code))
        trained = is_model_folder(path)
        trained_config = mean_pooling.load_config(path, trust_remote_code=config.trust_remote_code) if trained else None
        adapter.setup_labels(splits, trained_config)
        show = accelerator is None or accelerator.is_main_process
        drop_bad_rows(splits, show)
        notes = [] if trained else [adapter.backbone_note(path)]
        notes += [adapter.objective_note() if "train" in splits else None]
        for note in notes:
            if note and show:
                print(note)
        extension = None
        if "train" in split_names and "train" in splits and config.vocab.add_tokens != "off":
            extension = extend_vocabulary(config, adapter, tokenizer, splits, resume_from, show)
        features = {name: encode(adapter, split, tokenizer, config) for name, split in splits.items()}
    return Prepared(adapter, tokenizer, weights, trained, splits, features, extension)


def build(config: RunConfig, split_names: list[str], accelerator: Any = None, model_path: str | None = None,
          given_splits: dict[str, data_io.RawSplit] | None = None, resume_from: Path | None = None) -> Built:
    """The pieces of a run; `given_splits` (texts typed on the command line) replace configured ones."""
    data = prepare(config, split_names, accelerator, model_path, given_splits, resume_from)
    adapter, path = data.adapter, data.model_path
    model_class = onnx_runtime.OnnxModel if onnx_runtime.is_onnx_file(path) else adapter.model_class
    model = models.load_model(
        model_class, path, data.tokenizer, config.trust_remote_code, adapter,
        **({} if data.trained else adapter.model_kwargs())
    )
    if data.extension is not None:
        vocabulary.resize(model, data.extension, data.tokenizer)
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions and config.data.max_seq_length > positions:
        raise InputError(f"data.max_seq_length={config.data.max_seq_length} is longer than the {positions} positions "
                         f"{path} knows. Set data.max_seq_length={positions} or less.")
    return Built(config, adapter, data.tokenizer, model, path, data.splits, data.features, data.extension)
