"""export --onnx: the graph beside the plain transformers folder, proven equal on real data.

The folder's own PyTorch model and its ONNX graph run the same dev batches (the run's dev set,
or --parity-data); the export fails (exit 2) when an output differs by more than the tolerance,
naming the output, the difference and the example, or when the task metrics differ. With
--quantize int8 the quantized graph is scored the same way and refused when it loses more than
--max-metric-drop points of the primary metric. What was measured goes to export.json and the
model card.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from finetune.errors import InputError
from finetune.run.folder import RUN_CONFIG_NAME
from finetune.serve.onnx import quantize as int8
from finetune.serve.onnx.graph import OPSET, export_graph
from finetune.serve.onnx.parity import Parity, Pass, metrics_that_differ
from finetune.serve.onnx.runtime import FOLDER, FP32_NAME, INT8_NAME, require
from tasks import registry
from tasks.registry import load_config

TOLERANCE = 1e-4  # the largest |PyTorch - ONNX| of any fp32 output


@dataclass
class OnnxOptions:
    quantize: str | None = None  # "int8"
    max_metric_drop: float = 1.0  # points (percentage points) of the primary metric int8 may lose
    parity_data: str | None = None  # a labelled file instead of the run's dev set
    max_samples: int | None = None  # the first N dev examples only


def check_exportable(config) -> None:
    adapter = registry.get(config)
    if "generated" in adapter.output_keys:
        raise InputError(f"{config.task}: generative QA writes its answers token by token (generate with a KV "
                         f"cache), which this export does not put in a graph. Export without --onnx; serve it "
                         f"with transformers' pipeline('text-generation').")
    if getattr(config.options, "zero_shot", False):
        raise InputError(f"{config.task}: zero_shot=true scores endings with the language model's likelihood, "
                         f"not a trained head; there is nothing task-specific to export to ONNX.")


def export_onnx(folder: Path, options: OnnxOptions) -> dict:
    """Writes FOLDER/onnx/model.onnx (and model_quantized.onnx); returns what export.json records."""
    require("onnx", "onnxruntime", "onnxscript")
    if options.quantize not in (None, "int8"):
        raise InputError(f"--quantize {options.quantize}: the only quantization is int8 (dynamic).")
    overrides = []
    if options.parity_data:
        if not Path(options.parity_data).is_file():
            raise InputError(f"--parity-data {options.parity_data}: no such file.")
        overrides += [f"data.validation={Path(options.parity_data).resolve()}", "data.source=files"]
    if options.max_samples:
        overrides.append(f"data.max_eval_samples={options.max_samples}")
    config = load_config(folder / RUN_CONFIG_NAME, overrides)
    check_exportable(config)
    parity = Parity(config, folder)
    fp32 = folder / FOLDER / FP32_NAME
    start = time.perf_counter()
    example = parity.first_inputs()
    export_graph(parity.built.model, example, parity.names, fp32)
    print(f"ONNX graph: {FOLDER}/{FP32_NAME} ({fp32.stat().st_size / 2**20:.1f} MB, {time.perf_counter() - start:.0f} s); "
          f"parity on {len(parity.split.dataset)} examples of {parity.split.location} ...")
    torch_pass, onnx_pass = parity.pytorch(), parity.onnx(fp32)
    differences = parity.differences(torch_pass, onnx_pass)
    worst = max(differences, key=lambda d: (math.isnan(d.max_abs), d.max_abs))
    if math.isnan(worst.max_abs) or worst.max_abs > TOLERANCE:
        raise InputError(f"ONNX export failed its parity check: {worst.output} differs from PyTorch by "
                         f"{worst.max_abs:.3g} (limit {TOLERANCE:g}) at {parity.describe(worst.feature)}. "
                         f"Nothing was exported.")
    differ = metrics_that_differ(torch_pass.metrics, onnx_pass.metrics)
    if differ:
        raise InputError(f"ONNX export failed its parity check: the metrics differ ({_pair(differ, torch_pass, onnx_pass)}) "
                         f"although the outputs agree to {worst.max_abs:.2g}. Nothing was exported.")
    adapter = parity.built.adapter
    record = {
        "exporter": f"torch.onnx.export (dynamo), opset {OPSET}",
        "inputs": list(example),
        "outputs": list(parity.names),
        # The data's file name only: the card carries no local paths.
        "parity": {"data": Path(parity.split.location).name, "examples": len(parity.split.dataset),
                   "features": len(parity.features), "tolerance": TOLERANCE,
                   "max_abs_diff": {d.output: d.max_abs for d in differences}},
        "primary_metric": adapter.primary_metric,
        "metrics_in_percent": adapter.metrics_in_percent,
        "pytorch": torch_pass.record(),
        "onnx": {"file": f"{FOLDER}/{FP32_NAME}", **onnx_pass.record()},
    }
    print(f"ONNX parity: max |difference| {worst.max_abs:.2g} ({worst.output}); {adapter.primary_metric} "
          f"{torch_pass.metrics[adapter.primary_metric]:.4f} in both.")
    if options.quantize:
        record["int8"] = quantized(folder, parity, torch_pass, options, adapter)
    return record


def quantized(folder: Path, parity: Parity, torch_pass: Pass, options: OnnxOptions, adapter) -> dict:
    chosen = int8.settings()
    path = folder / FOLDER / INT8_NAME
    int8.quantize(folder / FOLDER / FP32_NAME, path, chosen)
    onnx_fp32 = parity.onnx(folder / FOLDER / FP32_NAME)  # timed again beside int8, after the first warm-up
    q = parity.onnx(path)
    name = adapter.primary_metric
    scale = 1 if adapter.metrics_in_percent else 100
    drop = (torch_pass.metrics[name] - q.metrics[name]) * scale
    record = {"file": f"{FOLDER}/{INT8_NAME}", "quantizer": chosen, **q.record(),
              "metric_drop_points": round(drop, 3), "max_metric_drop": options.max_metric_drop,
              "speedup_vs_onnx_fp32": round(q.features_per_s / onnx_fp32.features_per_s, 2),
              "speedup_vs_pytorch": round(q.features_per_s / torch_pass.features_per_s, 2)}
    print(f"ONNX int8: {name} {q.metrics[name]:.4f} (PyTorch {torch_pass.metrics[name]:.4f}: {drop:+.2f} points "
          f"lost), {record['speedup_vs_pytorch']}x PyTorch's speed, {record['speedup_vs_onnx_fp32']}x ONNX fp32's.")
    if drop > options.max_metric_drop:
        path.unlink()
        raise InputError(f"int8 quantization refused: {name} {q.metrics[name]:.4f} against PyTorch's "
                         f"{torch_pass.metrics[name]:.4f} loses {drop:.2f} points, more than --max-metric-drop "
                         f"{options.max_metric_drop:g}. Nothing was exported: export without --quantize, or allow more with "
                         f"--max-metric-drop.")
    return record


def _pair(names: list[str], a: Pass, b: Pass) -> str:
    return ", ".join(f"{n}: PyTorch {a.metrics[n]:.6g}, ONNX {b.metrics[n]:.6g}" for n in names)
