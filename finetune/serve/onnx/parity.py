"""The parity check of an ONNX export: the same dev batches through PyTorch and ONNX Runtime.

Both models go through the toolkit's own evaluation (run_split): same features, batches, decoding
and official scorer. A recorder around each model keeps its raw outputs, batch by batch, and the
time spent in the forward pass alone, so the report gives the largest absolute difference of
every output (and the feature it occurs at), both models' metrics, and their speed on this data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from finetune.config.schema import RunConfig
from finetune.engine import batching
from finetune.engine.accelerator import eval_batch_size, make_accelerator
from finetune.engine.build import build
from finetune.engine.evaluation import model_inputs, run_split
from finetune.errors import InputError
from finetune.serve.onnx.runtime import OnnxModel


class _Recorder(torch.nn.Module):
    """Passes calls to `model` and keeps what each returned (numpy, by output name) and how long."""

    def __init__(self, model, names: tuple[str, ...]):
        super().__init__()
        self.model, self.names = model, names
        self.batches: list[dict[str, np.ndarray]] = []
        self.seconds = 0.0
        self.config = getattr(model, "config", None)

    def forward(self, **inputs):
        start = time.perf_counter()
        out = self.model(**inputs)
        self.seconds += time.perf_counter() - start
        self.batches.append({name: out[name].detach().float().cpu().numpy() for name in self.names})
        return out


@dataclass
class Pass:
    """One model over the split."""

    metrics: dict[str, float]
    features_per_s: float
    batches: list[dict[str, np.ndarray]] = field(repr=False)

    def record(self) -> dict:
        return {"metrics": self.metrics, "features_per_s": round(self.features_per_s, 2)}


@dataclass
class Difference:
    output: str
    max_abs: float
    feature: int  # the row of the features (a window, for SQuAD) where it is largest


class Parity:
    """The split, its features, and the PyTorch model of an exported folder, ready to compare."""

    def __init__(self, config: RunConfig, folder: Path):
        self.accelerator = make_accelerator(config, training=False)
        if self.accelerator.num_processes > 1:
            raise InputError("export --onnx runs its parity check in one process: run it without accelerate launch.")
        self.built = build(config, ["validation"], self.accelerator, str(folder))
        if "validation" not in self.built.splits:
            raise InputError(f"{config.task}: the parity check needs labelled data: set data.validation in "
                             f"{folder}/finetune.yaml or give --parity-data FILE.")
        self.split = self.built.splits["validation"]
        self.features = self.built.features["validation"]
        self.names = tuple(self.built.adapter.output_keys)
        self.use_batch_size(eval_batch_size(config, 1))

    def use_batch_size(self, size: int) -> None:
        """Batches of `size` features from now on (the data, its features and the model stay)."""
        collate = batching.collator(self.built.tokenizer, False, self.built.adapter.collator_class)
        self.loader = batching.eval_loader(self.features, size, collate, self.built.adapter.decode_columns)
        self.rows = list(self.loader.dataset["row"])  # feature index of each batched row, in batch order

    def first_inputs(self) -> dict[str, torch.Tensor]:
        """The model inputs of the first batch (the longest features)."""
        return model_inputs(next(iter(self.loader)), self.built.adapter)

    def run(self, model, warm_up: bool = False) -> Pass:
        """`warm_up`: one untimed batch first (first calls allocate, pick kernels, build caches)."""
        recorder = _Recorder(model, self.names)
        if warm_up:
            with torch.no_grad():
                model(**self.first_inputs())
        result = run_split(recorder, self.loader, self.built.adapter, self.accelerator, self.split.dataset,
                           self.features, "validation")
        if not result.metrics:
            raise InputError(f"{self.split.location}: no labels to score, so parity cannot compare metrics. "
                             f"Give a labelled file: --parity-data FILE.")
        speed = len(self.features) / recorder.seconds if recorder.seconds else float("inf")
        return Pass(result.metrics, speed, recorder.batches)

    def pytorch(self) -> Pass:
        return self.run(self.built.model.eval())

    def onnx(self, path: Path) -> Pass:
        return self.run(OnnxModel(path, self.built.model.config))

    def differences(self, a: Pass, b: Pass) -> list[Difference]:
        """The largest |a - b| of each output over every batch."""
        found = []
        for name in self.names:
            worst, where, offset = -1.0, 0, 0
            for x, y in zip(a.batches, b.batches):
                if x[name].shape != y[name].shape:
                    raise InputError(f"ONNX output {name!r} has shape {y[name].shape} where PyTorch gives "
                                     f"{x[name].shape} (batch at feature {self.rows[offset]}): the graph is broken.")
                diff = np.abs(x[name] - y[name]).reshape(len(x[name]), -1).max(axis=1)
                i = int(diff.argmax())
                if diff[i] > worst or np.isnan(diff[i]):
                    worst, where = float(diff[i]), self.rows[offset + i]
                offset += len(x[name])
            found.append(Difference(name, worst, where))
        return found

    def describe(self, feature: int) -> str:
        """Where a feature comes from: its example's index (and id, where the split has one)."""
        example = int(self.features[feature].get("example_index", feature))
        record = self.split.dataset[example]
        label = next((f" (id {record[key]})" for key in ("id", "idx", "index") if key in record), "")
        return f"feature {feature}, example {example}{label} of {self.split.location}"


def metrics_that_differ(a: dict[str, float], b: dict[str, float]) -> list[str]:
    """The metrics (the loss aside) on which two passes differ: none when both predicted the same."""
    return [k for k in a if k != "loss" and k in b and abs(a[k] - b[k]) > 1e-9]
