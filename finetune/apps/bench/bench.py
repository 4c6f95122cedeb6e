"""`python -m finetune bench`: the toolkit's training and evaluation throughput beside the transformers
Trainer's, on the same data, model, batch size, learning rate and number of steps.

Per workload (a task config): the Trainer as the example scripts set it up (padding to
max_seq_length), the Trainer at its best (dynamic padding, group_by_length), the toolkit with its
fast settings (train.precision=auto) and in fp32, and the no-padding bound: the toolkit's own step
on a batch without pad tokens at the workload's mean length. Each in a process of its own.
"""

from __future__ import annotations

import difflib
import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from finetune.apps.bench import report as bench_report
from finetune.config import typed
from finetune.errors import InputError
from tasks.registry import load_config

RUNNERS = ("trainer_default", "trainer_best", "toolkit", "toolkit_fp32")
# toolkit_compiled (train.compile=inductor, the toolkit's precision) only when asked for: compiling takes a minute here.
Runner = Literal["trainer_default", "trainer_best", "toolkit", "toolkit_fp32", "toolkit_compiled"]


@dataclass
class WorkloadSettings:
    steps: int  # timed optimizer steps per runner
    warmup_steps: int = 5  # untimed steps first: allocator, kernel selection
    train_samples: int | None = None  # training examples read (null: all); the runners draw their batches from these


@dataclass(frozen=True)
class Workload:
    task: str  # the config in configs/ whose model, batch size, learning rate and lengths are used
    overrides: tuple[str, ...] = ()
    eval_data: str | None = None  # a dev file whose prediction is timed against Trainer.predict


# SQuAD: offline there is no SQuAD train file; its dev questions serve as training windows (speed
# does not depend on which questions), and dev-set prediction is timed on the first questions.
WORKLOADS = {
    "sst2": Workload("sst2", ("data.test=null",)),
    "squad": Workload("squad", ("data.train=squad/dev-v1.1.json", "data.validation=null", "data.test=null"),
                      eval_data="squad/dev-v1.1.json"),
}


# Task config keys the bench sets for every runner alike, and the bench key that sets them.
SET_BY_BENCH = {"train.max_steps": "WORKLOAD.steps and WORKLOAD.warmup_steps", "train.epochs": "WORKLOAD.steps",
                "train.precision": "toolkit_precision / trainer_precision", "train.grad_accum": "train.batch_size",
                "data.max_train_samples": "WORKLOAD.train_samples", "train.compile": "runners=[...,toolkit_compiled]"}


@dataclass
class BenchConfig:
    workloads: list[str] = field(default_factory=lambda: list(WORKLOADS))
    runners: list[Runner] = field(default_factory=lambda: list(RUNNERS))
    toolkit_precision: Literal["auto", "no", "bf16", "fp16"] = "auto"  # the `toolkit` runner's train.precision
    trainer_precision: Literal["no", "bf16"] = "no"  # the Trainer's (run_glue's default: fp32)
    eval_questions: int = 500  # SQuAD dev questions for the evaluation throughput; 0: skip it
    isolate: bool = True  # each runner in its own process (its own peak memory); false: all in this one
    out: str = "bench"
    # The memory table: SQuAD trained memory_steps steps (0: skip it) with evaluations between, RSS
    # sampled throughout, once per FINETUNE_MALLOC policy (finetune/engine/allocator.py).
    memory_steps: int = 150
    memory_batch_size: int = 8
    memory_allocators: list[Literal["default", "trim", "mmap", "glibc"]] = field(default_factory=lambda: ["default", "glibc"])
    # SST-2: 100 steps, where MiniLM reaches about 80% dev accuracy: the accuracies compared mean something.
    sst2: WorkloadSettings = field(default_factory=lambda: WorkloadSettings(steps=100))
    squad: WorkloadSettings = field(default_factory=lambda: WorkloadSettings(steps=15, train_samples=1000))


def parse(items: list[str]) -> tuple[BenchConfig, list[str], dict[str, list[str]]]:
    """(bench settings, task overrides for every workload, TASK.key=value overrides per workload).
    Keys of BenchConfig set the bench; any other key=value goes to the task configs (model=PATH,
    data.source=sample), and TASK.key=value to one of them (sst2.train.batch_size=16)."""
    bench: dict = {}
    shared: list[str] = []
    per_task: dict[str, list[str]] = {}
    settings = typed.field_types(WorkloadSettings)
    for item in items:
        if "=" not in item:
            raise InputError(f"command line: '{item}' is not key=value (e.g. sst2.steps=30 or model=PATH).")
        key, value = (part.strip() for part in item.split("=", 1))
        head, _, rest = key.partition(".")
        if head in WORKLOADS and rest in settings:
            bench.setdefault(head, {})[rest] = typed.parse_cli_value(value, settings[rest])
        elif head in WORKLOADS and rest:
            near = difflib.get_close_matches(rest, list(settings), n=1, cutoff=0.75) if "." not in rest else []
            if near:  # sst2.stpes: a misspelt bench key, not a task config key
                raise InputError(f"command line: unknown key '{key}' (did you mean {head}.{near[0]}?).")
            per_task.setdefault(head, []).append(f"{rest}={value}")
        elif key in typed.field_types(BenchConfig):
            bench[key] = typed.parse_cli_value(value, typed.field_types(BenchConfig)[key])
        else:
            shared.append(item)
    for item in shared + [o for items_ in per_task.values() for o in items_]:
        key = item.split("=", 1)[0].strip()
        if key in SET_BY_BENCH:
            raise InputError(f"command line: '{item}': the bench sets {key} itself; use {SET_BY_BENCH[key]} instead.")
    defaults = BenchConfig()
    for name in WORKLOADS:  # a workload's section: given keys over its own defaults
        if name in bench:
            bench[name] = {**typed.to_dict(getattr(defaults, name)), **bench[name]}
    config = typed.build(BenchConfig, bench, "command line")
    for name in config.workloads:
        if name not in WORKLOADS:
            raise InputError(f"command line: workloads: unknown workload '{name}'. Workloads: {', '.join(WORKLOADS)}.")
    return config, shared, per_task


class Bench:
    def __init__(self, config: BenchConfig, shared: list[str], per_task: dict[str, list[str]], command: str):
        self.config = config
        self.shared = shared
        self.per_task = per_task
        self.command = command
        self.out = Path(config.out)

    def overrides(self, name: str, runner: str) -> list[str]:
        workload, settings = WORKLOADS[name], getattr(self.config, name)
        precision = {"toolkit": self.config.toolkit_precision, "toolkit_compiled": self.config.toolkit_precision,
                     "toolkit_fp32": "no"}.get(runner, self.config.trainer_precision)
        return [*workload.overrides, f"data.max_train_samples={'null' if settings.train_samples is None else settings.train_samples}",
                f"train.max_steps={settings.warmup_steps + settings.steps}", f"train.precision={precision}",
                "train.eval_every=null", "train.save_every=null", "train.log_every=1000000", "train.grad_accum=1",
                *(["train.compile=inductor"] if runner == "toolkit_compiled" else []), *self.shared, *self.per_task.get(name, [])]

    def check(self) -> None:
        """Every config and its data, before the first measurement."""
        from finetune.apps.glue.batch import keep_real_splits

        self.sample_data = False
        for name in self.config.workloads:
            config = load_config(WORKLOADS[name].task, self.overrides(name, "toolkit"))
            kept = keep_real_splits(config, ax=False)
            self.sample_data |= config.data.source == "sample"
            if "train" not in kept:
                raise InputError(
                    f"bench {name}: no real training data for {config.task} (data.train={config.data.train}). Point "
                    f"FINETUNE_DATA (or data.dir) at a folder laid out like the data README, or add data.source=sample "
                    f"for a smoke run on the shipped samples (its table is marked SAMPLE DATA).")

    def measure(self, spec: dict, isolate: bool | None = None) -> dict:
        if not (self.config.isolate if isolate is None else isolate):
            from accelerate.state import AcceleratorState

            from finetune.apps.bench import worker as bench_worker

            # One process, several runners: accelerate would keep the first one's precision.
            AcceleratorState._reset_state(reset_partial_state=True)
            return bench_worker.measure(spec)
        with tempfile.TemporaryDirectory(prefix="finetune-bench-") as tmp:
            spec_path, result_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
            spec_path.write_text(json.dumps(spec))
            done = subprocess.run([sys.executable, "-m", "finetune.apps.bench.worker", str(spec_path), str(result_path)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if done.returncode or not result_path.exists():
                raise RuntimeError(f"bench runner {spec['kind']} on {spec['task']} failed:\n{done.stderr[-3000:]}")
            return json.loads(result_path.read_text())

    def run_workload(self, name: str) -> dict:
        workload, settings = WORKLOADS[name], getattr(self.config, name)
        record: dict = {"task": workload.task, "timed_steps": settings.steps, "warmup_steps": settings.warmup_steps,
                        "train_samples": settings.train_samples, "runners": {}}
        for runner in self.config.runners:
            record["runners"][runner] = self.measure_training(name, runner, runner)
        # The bound: the toolkit's own step (its precision) on batches without a pad token.
        record["dense"] = self.measure_training(name, "dense", "toolkit")
        record["dims"] = model_dims(load_config(workload.task, self.overrides(name, "toolkit")))
        record.update(bench_report.derived(record))
        if workload.eval_data and self.config.eval_questions:
            record["eval"] = self.measure_eval(name)
        return record

    def measure_training(self, name: str, kind: str, runner: str) -> dict:
        settings = getattr(self.config, name)
        print(f"{name}: {kind} ...", flush=True)
        result = self.measure({"kind": kind, "task": WORKLOADS[name].task, "overrides": self.overrides(name, runner),
                               "timed_steps": settings.steps})
        print(f"{name}: {kind}: {result['samples_per_s']:.1f} samples/s, {result['real_tokens_per_s']:.0f} real tokens/s, "
              f"pad {100 * result['pad_fraction']:.1f}%, peak RSS {result['peak_rss_mb']:.0f} MB", flush=True)
        return result

    def run_memory(self) -> dict:
        """SQuAD windows (the squad workload's data), long enough for memory to grow if it does."""
        c, every, questions = self.config, max(1, self.config.memory_steps // 3), 100
        record = {"task": "squad", "steps": c.memory_steps, "batch_size": c.memory_batch_size, "eval_every": every,
                  "eval_questions": questions, "runs": {}}
        # Twice the examples the steps take: questions make one window or more, and reading all of
        # SQuAD dev to train on a few hundred steps would only add set-up time.
        overrides = [*self.overrides("squad", "toolkit"), f"train.max_steps={c.memory_steps}", f"train.batch_size={c.memory_batch_size}",
                     f"data.max_train_samples={2 * c.memory_steps * c.memory_batch_size}", f"train.eval_every={every}",
                     f"data.validation={WORKLOADS['squad'].eval_data}", f"data.max_eval_samples={questions}"]
        for name in c.memory_allocators:
            print(f"memory: {name} allocator, {c.memory_steps} steps ...", flush=True)
            result = self.measure({"kind": "memory", "allocator": name, "task": "squad", "overrides": overrides,
                                   "timed_steps": c.memory_steps - 1}, isolate=True)  # its own allocator, its own peak
            record["runs"][name] = result
            print(f"memory: {name}: RSS {result.get('rss_early_mb', 0):.0f} MB early, {result.get('rss_late_mb', 0):.0f} MB "
                  f"late, peak {result['peak_rss_mb']:.0f} MB", flush=True)
        return record

    def measure_eval(self, name: str) -> dict:
        """Dev-set prediction of the same questions: the toolkit (its precision) and Trainer.predict (the Trainer's)."""
        workload = WORKLOADS[name]
        dev = [f"data.validation={workload.eval_data}", f"data.max_eval_samples={self.config.eval_questions}"]
        record = {}
        for kind, runner in (("eval_toolkit", "toolkit"), ("eval_trainer_default", "trainer_default"),
                             ("eval_trainer_best", "trainer_best")):
            print(f"{name}: {kind} ...", flush=True)
            record[runner] = self.measure({"kind": kind, "task": workload.task, "overrides": self.overrides(name, runner) + dev,
                                           "windows": record.get("toolkit", {}).get("windows")})
            print(f"{name}: {kind}: {record[runner]['windows_per_s']:.1f} windows/s", flush=True)
        return record

    def run(self) -> dict:
        self.check()
        results = {"command": self.command, "machine": machine(), "sample_data": self.sample_data, "peaks": peaks(),
                   "settings": typed.to_dict(self.config),
                   "overrides": {"all": self.shared, **self.per_task}, "workloads": {}}
        for name in self.config.workloads:
            results["workloads"][name] = self.run_workload(name)
        if self.config.memory_steps:
            results["memory"] = self.run_memory()
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "results.json").write_text(json.dumps(results, indent=1))
        table = bench_report.markdown(results)
        (self.out / "results.md").write_text(table)
        print(table)
        print(f"Written: {self.out / 'results.json'}, {self.out / 'results.md'}")
        return results


def peaks() -> dict[str, float]:
    """This machine's matmul FLOP/s, measured now (fp32, and bf16 where the hardware has it): MFU's denominators."""
    import torch

    from finetune.apps.bench import flops
    from finetune.engine import devices

    device = devices.device()
    found = {"fp32": flops.matmul_peak(torch.float32, device=device.type)}
    if devices.native_bf16(device):
        found["bf16"] = flops.matmul_peak(torch.bfloat16, device=device.type)
    return found


def model_dims(config) -> dict:
    """N, L and h of a workload's backbone (the task head is a rounding error of N)."""
    from transformers import AutoModel

    from finetune.apps.bench import flops
    from finetune.models import backbones

    return flops.shape(AutoModel.from_pretrained(backbones.resolve(config.model)))


def machine() -> dict:
    import torch
    import transformers

    from finetune.engine import devices

    device = devices.device()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return {"device": torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU: {cpu}",
            "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "native_bf16": devices.native_bf16(device),
            "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version()}


def main(items: list[str]) -> int:
    config, shared, per_task = parse(items)
    Bench(config, shared, per_task, " ".join(["python -m finetune bench", *items])).run()
    return 0
