"""One measurement of `finetune bench`, run in a process of its own so that its peak memory is its own.

`python -m finetune.apps.bench.worker SPEC.json RESULT.json`. Every training runner is timed the same
way: optimizer steps after `warmup_steps` untimed ones, from the end of the last warm-up step to the
end of the last step (data loading included), with the samples and tokens its model's forward saw.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

from finetune.apps.bench import memory
from finetune.apps.bench.phases import PhaseTimer
from finetune.config.schema import RunConfig
from finetune.config.typed import to_dict
from finetune.engine import allocator, batching, devices, loop
from finetune.engine.build import build
from finetune.engine.evaluation import run_split
from finetune.run.folder import read_summary
from tasks.registry import load_config


class StepClock:
    """Times steps and counts what the model computed on: samples, real and padded tokens of every
    training forward (a forward pre-hook on the model, or the loop's batches); the counts stay on
    the device until the end."""

    def __init__(self, model: torch.nn.Module | None, warmup_steps: int):
        self.warmup_steps = warmup_steps
        self.steps = 0
        self.started = self.ended = None
        self.samples = 0
        self.padded = 0
        self.real = None
        self._hook = model.register_forward_pre_hook(self._forward, with_kwargs=True) if model is not None else None

    def _forward(self, module, args, kwargs):
        if module.training:
            self.count(kwargs["attention_mask"])

    def count(self, mask: torch.Tensor) -> None:
        if self.steps < self.warmup_steps:
            return
        self.samples += mask.shape[0]
        self.padded += mask.numel()
        real = mask.sum()
        self.real = real if self.real is None else self.real + real

    def step_done(self) -> None:
        self.steps += 1
        if self.steps >= self.warmup_steps:
            if torch.cuda.is_available():
                torch.cuda.synchronize()  # two syncs in all: at the start and (each step, cheap) the end
            now = time.perf_counter()
            self.started = now if self.steps == self.warmup_steps else self.started
            self.ended = now

    def result(self) -> dict:
        if self._hook is not None:
            self._hook.remove()
        seconds = (self.ended - self.started) if self.started and self.ended else float("nan")
        real = int(self.real) if self.real is not None else 0
        return {"timed_steps": self.steps - self.warmup_steps, "seconds": round(seconds, 3),
                "samples_per_s": self.samples / seconds, "real_tokens_per_s": real / seconds,
                "padded_tokens_per_s": self.padded / seconds,
                "pad_fraction": 1 - real / self.padded if self.padded else 0.0,
                "mean_real_tokens": real / self.samples if self.samples else 0.0}


# -- the toolkit ---------------------------------------------------------------------------------------
class _TimedLoop(loop.Trainer):
    """The toolkit's own loop, with a clock on its steps."""

    def __init__(self, config: RunConfig, timed_steps: int):
        self.timed_steps = timed_steps
        super().__init__(config)

    def setup(self):
        # Counted from the batches, not by a hook on the model: train.compile would trace a hook.
        warmup = self.config.train.max_steps - self.timed_steps
        self.clock = StepClock(None, warmup)
        super().setup()
        # The parts of a step, timed with hooks and wrappers: not under torch.compile, which would trace them.
        self.phases = None if self.config.train.compile else PhaseTimer(self.model, self.accelerator, self.optimizer, warmup)

    def train_step(self, window, *args):
        if self.phases:
            self.phases.step_started()
        for batch, filler in window:
            if not filler:
                self.clock.count(batch["attention_mask"])
        stop = super().train_step(window, *args)
        self.clock.step_done()
        if self.phases:
            self.phases.step_done()
        return stop


def toolkit(config: RunConfig, timed_steps: int, trace_rss: bool = False) -> dict:
    runner = _TimedLoop(config, timed_steps)
    trace = memory.RssTrace(lambda: runner.clock.steps if hasattr(runner, "clock") else 0) if trace_rss else None
    run = runner.train()
    summary = read_summary(run)
    traced = trace.stop(config.train.max_steps) if trace else {}
    phases = runner.phases.result() if runner.phases else {}
    return {**runner.clock.result(), **traced, **phases, "dev": summary["metrics"], "allocator": summary.get("allocator"),
            "precision": devices.resolve_precision(config.train.precision, devices.device())}


# -- the transformers Trainer --------------------------------------------------------------------------
class _ClockCallback(TrainerCallback):
    def __init__(self, clock: StepClock):
        self.clock = clock

    def on_step_end(self, args, state, control, **kwargs):
        self.clock.step_done()


def trainer(config: RunConfig, timed_steps: int, best: bool, out: Path) -> dict:
    """As run_glue / run_qa set it up: padding to max_seq_length (their default), or at its best:
    dynamic padding and group_by_length. The optimizer, schedule and clipping are the run's."""
    from accelerate.utils import set_seed

    set_seed(config.seed)
    built = build(config, ["train", "validation"] if config.data.validation else ["train"])
    t = config.train
    train = built.features["train"].remove_columns([c for c in built.adapter.decode_columns
                                                    if c in built.features["train"].column_names])
    padding = {} if best else {"padding": "max_length", "max_length": config.data.max_seq_length}
    precision = "bf16" if t.precision == "bf16" else "no"
    args = TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=t.batch_size, learning_rate=t.lr, weight_decay=t.weight_decay,
        warmup_steps=t.warmup_steps if t.warmup_steps is not None else math.ceil(t.warmup_ratio * t.max_steps),
        lr_scheduler_type="constant_with_warmup" if t.scheduler == "constant" else t.scheduler,
        max_grad_norm=t.max_grad_norm or 0.0, max_steps=t.max_steps, seed=config.seed, bf16=precision == "bf16",
        train_sampling_strategy="group_by_length" if best else "random", logging_steps=10**9, save_strategy="no",
        report_to=[], disable_tqdm=True, use_cpu=devices.device().type == "cpu", dataloader_num_workers=0)
    clock = StepClock(built.model, t.max_steps - timed_steps)
    hf = Trainer(model=built.model, args=args, train_dataset=train,
                 data_collator=DataCollatorWithPadding(built.tokenizer, **padding), callbacks=[_ClockCallback(clock)])
    hf.train()
    result = {**clock.result(), "precision": precision, "optim": getattr(hf.args.optim, "value", str(hf.args.optim))}
    if "validation" in built.features:
        result["dev"] = _dev_metrics(hf.accelerator, hf.model, built, config)
    return result


def _dev_metrics(accelerator, model, built, config: RunConfig) -> dict:
    """The dev metrics the toolkit reports for its own runs, computed the same way."""
    collate = batching.collator(built.tokenizer, accelerator.device.type == "cuda", built.adapter.collator_class)
    loader = accelerator.prepare(batching.eval_loader(built.features["validation"], loop.eval_batch_size(config, 1),
                                                      collate, built.adapter.decode_columns))
    split = built.splits["validation"]
    return run_split(model, loader, built.adapter, accelerator, split.dataset, built.features["validation"], "validation").metrics


# -- the bound -------------------------------------------------------------------------------------------
def dense(config: RunConfig, timed_steps: int) -> dict:
    """The toolkit's own loop (model, loss, clipping, optimizer, precision, data loading) on batches
    without a pad token: training examples that all have the length nearest the data's mean."""
    config.data.validation = None  # only the steps count here
    runner = _TimedLoop(config, timed_steps)
    features = runner.built.features["train"]
    lengths = features["length"]
    mean = sum(lengths) / len(lengths)
    length = min(set(lengths), key=lambda n: (abs(n - mean), n))
    rows = [i for i, n in enumerate(lengths) if n == length]
    needed = config.train.batch_size * config.train.max_steps
    runner.built.features["train"] = features.select([rows[i % len(rows)] for i in range(needed)])
    runner.train()
    return {**runner.clock.result(), "length": length, "mean_real_tokens_data": mean,
            "precision": runner.accelerator.mixed_precision}


# -- evaluation throughput ---------------------------------------------------------------------------------
def eval_toolkit(config: RunConfig) -> dict:
    """Dev windows through the toolkit's evaluation: batched forward, window merging, scoring."""
    acc = loop.make_accelerator(config)
    built = build(config, ["validation"], acc)
    model = acc.prepare(built.model)
    started = time.perf_counter()
    _dev_metrics(acc, model, built, config)
    seconds = time.perf_counter() - started
    windows, questions = len(built.features["validation"]), len(built.splits["validation"].dataset)
    return {"seconds": round(seconds, 3), "windows": windows, "questions": questions, "windows_per_s": windows / seconds,
            "questions_per_s": questions / seconds, "precision": acc.mixed_precision}


def eval_trainer(config: RunConfig, windows: int, padded: bool, out: Path) -> dict:
    """The same windows through `Trainer.predict`, as run_qa sets it up (padded to max_seq_length) or
    with dynamic padding. Only the forward pass is timed: run_qa's window merging comes on top.
    (transformers 5 removed pipeline("question-answering"), the other reference.)"""
    built = build(config, ["validation"])
    features = built.features["validation"]
    keep = set(built.tokenizer.model_input_names)
    features = features.remove_columns([c for c in features.column_names if c not in keep])
    padding = {"padding": "max_length", "max_length": config.data.max_seq_length} if padded else {}
    args = TrainingArguments(output_dir=str(out), per_device_eval_batch_size=loop.eval_batch_size(config, 1),
                             bf16_full_eval=config.train.precision == "bf16", report_to=[], disable_tqdm=True,
                             use_cpu=devices.device().type == "cpu")
    hf = Trainer(model=built.model, args=args, data_collator=DataCollatorWithPadding(built.tokenizer, **padding))
    started = time.perf_counter()
    hf.predict(features)
    seconds = time.perf_counter() - started
    questions = len(built.splits["validation"].dataset)
    return {"seconds": round(seconds, 3), "windows": windows, "questions": questions, "windows_per_s": windows / seconds,
            "questions_per_s": questions / seconds, "precision": "bf16" if config.train.precision == "bf16" else "no"}


# -- entry -------------------------------------------------------------------------------------------------------
def measure(spec: dict) -> dict:
    """spec: {kind, task, overrides, timed_steps, windows}; kind names the runner (train.max_steps holds the warm-up)."""
    config = load_config(spec["task"], spec["overrides"])
    kind = spec["kind"]
    with tempfile.TemporaryDirectory(prefix="finetune-bench-") as tmp:
        config.output_dir, config.resume = tmp, "never"
        if kind.startswith("toolkit"):
            result = toolkit(config, spec["timed_steps"])
        elif kind == "memory":
            os.environ[allocator.POLICY] = spec["allocator"]  # read by the loop's allocator.tune()
            result = toolkit(config, spec["timed_steps"], trace_rss=True)
        elif kind in ("trainer_default", "trainer_best"):
            result = trainer(config, spec["timed_steps"], kind == "trainer_best", Path(tmp) / kind)
        elif kind == "dense":
            result = dense(config, spec["timed_steps"])
        elif kind == "eval_toolkit":
            result = eval_toolkit(config)
        elif kind in ("eval_trainer_default", "eval_trainer_best"):
            result = eval_trainer(config, spec["windows"], kind == "eval_trainer_default", Path(tmp) / kind)
        else:
            raise ValueError(f"unknown bench runner {kind}")
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if torch.cuda.is_available():
        result["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    result["config"] = {"batch_size": config.train.batch_size, "lr": config.train.lr, "steps": config.train.max_steps,
                        "max_seq_length": config.data.max_seq_length, "model": config.model}
    return result


def main(argv: list[str]) -> None:
    spec_path, result_path = argv
    from finetune.console import quiet_libraries

    quiet_libraries()
    result = measure(json.loads(Path(spec_path).read_text()))
    Path(result_path).write_text(json.dumps(result, default=lambda o: to_dict(o) if hasattr(o, "__dataclass_fields__") else str(o)))


if __name__ == "__main__":
    main(sys.argv[1:])
