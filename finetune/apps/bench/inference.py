"""`python -m finetune bench inference`: dev-set inference speed of one fine-tuned model four ways.

PyTorch fp32, PyTorch bf16 (autocast, where the CPU has bf16 in hardware), ONNX Runtime fp32 and
dynamic int8, at batch 1 and batch 32, on SST-2 dev sentences and SQuAD dev windows, in one
process and one run: samples (sentences, windows) a second of the forward pass, the dev metric
each variant gets through the toolkit's own decoding and scorer, and MFU against this machine's
matmul peak measured in the same run (flops.py). The models are exported folders with their ONNX
files (export --onnx --quantize int8); without one, the bench fine-tunes and exports a small one
first (MODEL_RECIPES) so that the metrics mean something.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from finetune.apps.bench import flops
from finetune.apps.bench.bench import machine
from finetune.apps.bench.bench import peaks as bench_peaks
from finetune.config import typed
from finetune.errors import InputError
from finetune.run.folder import RUN_CONFIG_NAME, RunDir
from finetune.serve.onnx.runtime import FOLDER, FP32_NAME, INT8_NAME
from tasks.registry import load_config

Variant = Literal["pytorch_fp32", "pytorch_bf16", "onnx_fp32", "onnx_int8"]
VARIANTS: tuple[str, ...] = ("pytorch_fp32", "pytorch_bf16", "onnx_fp32", "onnx_int8")
# A small model a workload is fine-tuned to when none is given: SST-2's 2,000-sentence recipe
# (dev accuracy about 0.79), SQuAD on the first 2,000 training questions.
MODEL_RECIPES = {
    "sst2": ["sst2", "data.max_train_samples=2000", "train.epochs=1", "data.test=null"],
    "squad": ["squad", "data.train=squad/train-v1.1.json", "data.max_train_samples=2000", "train.epochs=1",
              "train.lr=1e-4", "train.batch_size=16", "data.max_eval_samples=200", "data.test=null"],
}


@dataclass
class InferenceBenchConfig:
    workloads: list[Literal["sst2", "squad"]] = field(default_factory=lambda: ["sst2", "squad"])
    variants: list[Variant] = field(default_factory=lambda: list(VARIANTS))
    batch_sizes: list[int] = field(default_factory=lambda: [1, 32])
    models: dict[str, str] = field(default_factory=dict)  # workload -> an exported folder with onnx/, or a run folder
    sst2_examples: int | None = None  # SST-2 dev sentences (null: all 872)
    squad_questions: int = 300  # SQuAD dev questions (their windows are what is counted)
    repeats: int = 2  # passes over the data a row; the fastest counts (the others met a busier moment)
    out: str = "bench/inference"


class _Bf16(torch.nn.Module):
    """The fp32 model run under CPU bf16 autocast, as train.precision=bf16 evaluates."""

    def __init__(self, model):
        super().__init__()
        self.model, self.config = model, model.config

    def forward(self, **inputs):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.model(**inputs)


def model_folder(workload: str, config: InferenceBenchConfig, out: Path) -> Path:
    """An exported folder with both ONNX files: given, exported from a given run, or made here."""
    from finetune.serve.export import export
    from finetune.serve.onnx.export import OnnxOptions

    given = config.models.get(workload)
    onnx = OnnxOptions("int8", max_metric_drop=100.0, max_samples=200)  # the bench measures the drop; it refuses nothing
    if given and (Path(given) / FOLDER / INT8_NAME).is_file():
        return Path(given)
    run = Path(given) if given else out / "models" / workload
    if given and not RunDir.is_run(run):
        raise InputError(f"models.{workload}={given}: neither a run folder nor an export with {FOLDER}/{INT8_NAME}. "
                         f"Give a run, or export it with --onnx --quantize int8.")
    if not given and not RunDir(run).has_best():
        print(f"bench inference: fine-tuning a {workload} model first: python -m finetune train "
              f"{' '.join(MODEL_RECIPES[workload])}", flush=True)
        done = subprocess.run([sys.executable, "-m", "finetune", "train", *MODEL_RECIPES[workload],
                               f"output_dir={run.parent}", f"run_name={workload}"], stdout=subprocess.DEVNULL)
        if done.returncode:
            raise InputError(f"bench inference: fine-tuning the {workload} model failed (exit {done.returncode}).")
    target = out / "exports" / workload
    if not (target / FOLDER / INT8_NAME).is_file():
        export(str(run), str(target), onnx=onnx)
    return target


def measure(workload: str, folder: Path, config: InferenceBenchConfig, peaks: dict[str, float]) -> dict:
    from finetune.serve.onnx.parity import Parity
    from finetune.serve.onnx.runtime import OnnxModel

    cap = config.sst2_examples if workload == "sst2" else config.squad_questions
    run_config = load_config(folder / RUN_CONFIG_NAME, [f"data.max_eval_samples={cap or 'null'}"])
    parity = Parity(run_config, folder)
    model = parity.built.model.eval()
    dims = flops.shape(model)
    work = flops.forward_flops(parity.features["length"], dims)
    builders = {"pytorch_fp32": lambda: model, "pytorch_bf16": lambda: _Bf16(model),
                "onnx_fp32": lambda: OnnxModel(folder / FOLDER / FP32_NAME, model.config),
                "onnx_int8": lambda: OnnxModel(folder / FOLDER / INT8_NAME, model.config)}
    peak_of = {"pytorch_fp32": "fp32", "pytorch_bf16": "bf16", "onnx_fp32": "fp32", "onnx_int8": "int8"}
    rows = {}
    for batch in config.batch_sizes:
        parity.use_batch_size(batch)
        for variant in config.variants:
            if peak_of[variant] not in peaks:
                continue  # bf16 without hardware support: emulated, not worth a row
            print(f"bench inference: {workload} {variant} batch {batch} ...", flush=True)
            variant_model = builders[variant]()
            passes = [parity.run(variant_model, warm_up=True) for _ in range(max(1, config.repeats))]
            result = max(passes, key=lambda p: p.features_per_s)
            seconds = len(parity.features) / result.features_per_s
            rows[f"{variant}@{batch}"] = {
                "variant": variant, "batch_size": batch, "samples": len(parity.features),
                "examples": len(parity.split.dataset), "samples_per_s": result.features_per_s,
                "metrics": result.metrics, "mfu": work / seconds / peaks[peak_of[variant]], "peak": peak_of[variant]}
    return {"model": str(folder), "primary_metric": parity.built.adapter.primary_metric,
            "metrics_in_percent": parity.built.adapter.metrics_in_percent, "dims": dims, "rows": rows}


def markdown(results: dict) -> str:
    m, peaks = results["machine"], results["peaks"]
    lines = ["# finetune bench inference", "",
             f"`{results['command']}` on {m['device']} ({m['cpu_cores']} cores, {m['torch_threads']} torch threads), "
             f"torch {m['torch']}, onnxruntime {results['onnxruntime']}.",
             "", "Matmul peaks measured in this run (2048 x 2048): " + ", ".join(
                 f"{k} {v / 1e9:.0f} G{'OP' if k == 'int8' else 'FLOP'}/s" for k, v in peaks.items()) + ".", ""]
    for name, record in results["workloads"].items():
        unit = "windows" if name == "squad" else "sentences"
        metric = record["primary_metric"]
        base = {r["batch_size"]: r["samples_per_s"] for r in record["rows"].values() if r["variant"] == "pytorch_fp32"}
        lines += [f"### {name}: {record['model']}", "",
                  f"| variant | batch | {unit}/s | x PyTorch fp32 | dev {metric} | MFU (of the {'/'.join(peaks)} peak) |",
                  "|---|---|---|---|---|---|"]
        for row in record["rows"].values():
            ratio = row["samples_per_s"] / base[row["batch_size"]] if row["batch_size"] in base else None
            value = row["metrics"][metric] * (1 if record["metrics_in_percent"] else 100)
            lines.append(f"| {row['variant']} | {row['batch_size']} | {row['samples_per_s']:.1f} | "
                         f"{f'{ratio:.2f}x' if ratio else '-'} | {value:.2f} | {100 * row['mfu']:.1f}% ({row['peak']}) |")
        lines += ["", f"{record['rows'][next(iter(record['rows']))]['samples']} {unit} of "
                      f"{record['rows'][next(iter(record['rows']))]['examples']} dev examples; forward pass only, longest "
                      f"first (the toolkit's evaluation order); one untimed warm-up batch, then the fastest of "
                      f"{results['settings']['repeats']} passes.", ""]
    return "\n".join(lines)


def parse(items: list[str]) -> InferenceBenchConfig:
    values = {}
    fields = typed.field_types(InferenceBenchConfig)
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in fields:
            raise InputError(f"bench inference: '{item}': keys are {', '.join(fields)} (e.g. batch_sizes=[1,32] "
                             f"models={{sst2: exports/NAME}}).")
        values[key.strip()] = typed.parse_cli_value(value, fields[key.strip()])
    return typed.build(InferenceBenchConfig, values, "command line")


def main(items: list[str], command: str) -> int:
    import onnxruntime

    config = parse(items)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    peaks = {**bench_peaks(), "int8": flops.int8_peak()}
    results = {"command": command, "machine": machine(), "onnxruntime": onnxruntime.__version__, "peaks": peaks,
               "settings": typed.to_dict(config), "workloads": {}}
    for workload in config.workloads:
        results["workloads"][workload] = measure(workload, model_folder(workload, config, out), config, peaks)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    table = markdown(results)
    (out / "results.md").write_text(table)
    print(table)
    print(f"Written: {out / 'results.json'}, {out / 'results.md'}")
    return 0
