"""The one training loop: every task, CPU, one GPU or many processes under `accelerate launch`.

Gradient accumulation is done by hand so that the loss is divided by the number of items (examples
or labelled tokens) in the whole accumulated batch, across micro-batches and processes, not
averaged per micro-batch: a short last micro-batch then weighs what it holds.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from finetune.config import typed
from finetune.config.schema import RunConfig
from finetune.data import splits as data_io
from finetune.engine import allocator, batching, devices, memory, optim
from finetune.engine.accelerator import eval_batch_size, make_accelerator
from finetune.engine.build import Built, build
from finetune.engine.evaluation import model_inputs, run_split
from finetune.engine.progress import Meter, Position
from finetune.errors import InputError, Interrupted, RunStopped
from finetune.models import peft_methods
from finetune.run import checkpoint, disk, fault_injection, faults, trackers
from finetune.run import summary as run_summary
from finetune.run.folder import RunDir, open_run, prediction_name
from finetune.run.saving import RunSaver
from finetune.run.tracking import RunLog, plot_curves


class Trainer:
    def __init__(self, config: RunConfig, on_evaluate: Callable[[int, dict[str, float]], None] | None = None):
        """on_evaluate(step, dev metrics) after every evaluation (a sweep reports to its pruner
        there, and may stop the run by raising)."""
        self.config = config
        self.on_evaluate = on_evaluate
        self.allocator = allocator.tune()  # before the data: see allocator.py (RSS on long runs)
        devices.check_compile_backend(config.train.compile)
        run_dir, self.resume_from = open_run(config)
        self.run: RunDir = run_dir
        self.accelerator = make_accelerator(config, run_dir.root)
        self.main = self.accelerator.is_main_process
        set_seed(config.seed)  # before the model: a new head's initial weights depend on it
        eval_names = data_io.eval_split_names(config.data)
        self.built: Built = build(config, ["train", *eval_names], self.accelerator, resume_from=self.resume_from)
        if "train" not in self.built.splits:
            raise InputError(f"{config.task}: no training data; set data.train to a file (or a hub split).")
        self.adapter = self.built.adapter
        extension = self.built.extension
        peft_methods.check(config, self.adapter, self.built.model, len(extension.added) if extension is not None else 0)
        disk_plan = disk.plan(self.built.model, self.built.tokenizer)  # the plain model: best/'s size
        if peft_methods.method(config) != "none":
            self.built.model = peft_methods.apply(self.built.model, config, self.adapter)
            disk_plan = disk.trained_only(disk_plan, self.built.model)
        self.parameters = peft_methods.parameter_counts(self.built.model)
        self.log = RunLog(run_dir.log, self.main)
        self.saver = RunSaver(self.accelerator, run_dir, config, self.built.tokenizer)
        if self.main:  # only now: bad data or a bad model must not leave an empty run folder behind
            run_dir.checkpoints.mkdir(parents=True, exist_ok=True)
            config.save(run_dir.config)
            print(f"Run folder: {run_dir.root}\nData:")
            print(data_io.describe_all(list(self.built.splits.values()), config.data))
            trainable, total = self.parameters
            method = peft_methods.method(config)
            print(f"Parameters: {trainable:,} trained of {total:,} ({100 * trainable / total:.2f}%; peft.method={method}"
                  f"{f', peft.lr={config.peft.lr:g}' if method != 'none' else ''})")
            print(disk.announce(disk_plan, config.train.keep_last))
            print(devices.describe_precision(config.train.precision, self.accelerator.mixed_precision))

    # -- set-up ---------------------------------------------------------------------------------
    def setup(self):
        acc, config, built = self.accelerator, self.config, self.built
        on_gpu = acc.device.type == "cuda"
        collate = batching.collator(built.tokenizer, on_gpu, built.adapter.collator_class)
        drop = self.adapter.decode_columns
        self.micro_batch_size = self._micro_batch_size(collate, drop)
        loader, self.sampler = batching.train_loader(
            built.features["train"], config.train.batch_size, config.seed, config.train.group_by_length,
            config.train.length_megabatch, collate, drop, self.micro_batch_size)
        self.window = config.train.grad_accum * (config.train.batch_size // self.micro_batch_size)
        self.steps_per_epoch, self.total_steps = optim.total_steps(config.train, len(loader), self.window)
        if config.train.compile:
            devices.compile_model(built.model, config.train.compile)
        optimizer = optim.optimizer(built.model, config.train, config.learning_rate, fused=devices.fused_adamw(acc.device))
        scheduler = optim.schedule(optimizer, config.train, self.total_steps)
        # The scheduler is prepared too (checkpointed with the rest); with split_batches it steps once per call.
        self.model, self.optimizer, self.train_loader, self.scheduler = acc.prepare(built.model, optimizer, loader, scheduler)
        size = eval_batch_size(config, acc.num_processes)
        self.eval_loaders = {name: acc.prepare(batching.eval_loader(built.features[name], size, collate, drop))
                             for name in data_io.eval_split_names(config.data) if name in built.features}
        if acc.log_with:
            trackers.start(acc, config.task, self.run.root.name, typed.flatten(config.to_dict()))

    def _micro_batch_size(self, collate, drop) -> int:
        """train.batch_size, or with auto_batch_size the largest divisor of it that fits in memory
        (a resumed run keeps the size it started with: batch_in_epoch counts its batches)."""
        t = self.config.train
        if not t.auto_batch_size:
            return t.batch_size
        saved = checkpoint.read_state(self.resume_from) if self.resume_from is not None else None
        if saved and saved.get("micro_batch_size"):
            return saved["micro_batch_size"]
        return memory.micro_batch_size(self.accelerator, t, self.built.model, self.adapter,
                                       batching.batchable(self.built.features["train"], drop), collate)

    # -- evaluation and saving ------------------------------------------------------------------
    def evaluate(self, pos: Position) -> dict[str, float]:
        results = {}
        started, features = time.perf_counter(), 0
        for name, loader in self.eval_loaders.items():
            split = self.built.splits[name]
            results[name] = run_split(self.model, loader, self.adapter, self.accelerator, split.dataset,
                                      self.built.features[name], name)
            features += len(self.built.features[name])
        metrics = run_summary.split_metrics({name: result.metrics for name, result in results.items()})
        self.model.train()
        pos.last_eval_step = pos.global_step
        primary = metrics.get(self.adapter.primary_metric)
        improved = primary is not None and (pos.best_metric is None or primary > pos.best_metric)
        if improved:
            pos.best_metric, pos.best_step, pos.evals_without_improvement = primary, pos.global_step, 0
            self.save_best(metrics, pos)
            if self.main:
                for name, result in results.items():
                    self.saver.predictions(self.adapter, prediction_name(name), self.built.splits[name].dataset,
                                           result.predictions)
        else:
            pos.evals_without_improvement += 1
        seconds = time.perf_counter() - started  # decoding and scoring included
        record = {"step": pos.global_step, "epoch": self._epochs_done(pos), "eval": metrics, "eval_seconds": round(seconds, 2),
                  "eval_features_per_s": round(features / max(seconds, 1e-9), 2)}
        self.log.write(record)
        if self.accelerator.log_with:
            self.accelerator.log(trackers.numbers(metrics, "eval"), step=pos.global_step)
        allocator.release()  # the evaluation's outputs and buffers
        if self.on_evaluate is not None:
            self.on_evaluate(pos.global_step, metrics)
        return metrics

    def save_best(self, metrics: dict[str, float], pos: Position) -> None:
        self.saver.best(self.model, {"step": pos.global_step, "metrics": metrics})

    def save(self, pos: Position) -> None:
        meter = self._meter.totals(self.accelerator)  # a collective: every process
        self.saver.checkpoint(pos.global_step, {**asdict(pos), "meter": meter})
        self._saved_at = self._where(pos)

    def _epochs_done(self, pos: Position) -> float:
        """Epochs trained so far, as the Trainer logs them (1.5: half-way through the second), so that
        a training line and the evaluation after it at the end of an epoch say the same epoch."""
        return round(pos.epoch + pos.batch_in_epoch / max(len(self.train_loader), 1), 4)

    def _where(self, pos: Position) -> tuple[int, int, int]:
        """What a checkpoint taken now would hold; equal to _saved_at when it was just taken."""
        return pos.global_step, pos.epoch, pos.last_eval_step

    # -- training -----------------------------------------------------------------------------------
    def train(self) -> Path:
        self.setup()
        acc, t = self.accelerator, self.config.train
        pos = Position()
        if self.resume_from is not None:
            self.saver.load(self.resume_from)
            pos = Position(**checkpoint.read_state(self.resume_from))
            # Batches of another size before (a run resumed with(out) auto_batch_size): count in these.
            pos.batch_in_epoch = pos.batch_in_epoch * (pos.micro_batch_size or t.batch_size) // self.micro_batch_size
            self.log.truncate_after(pos.global_step)
            if self.main:
                print(f"Resuming from {self.resume_from} (step {pos.global_step}, epoch {pos.epoch}).")
        pos.micro_batch_size = self.micro_batch_size
        self._saved_at = None
        bar = tqdm(total=self.total_steps, initial=pos.global_step, disable=not self.main, desc=self.run.root.name,
                   unit="step", dynamic_ncols=True)
        self.model.train()
        # Only the main process restores the sums: they were summed over processes when saved.
        meter = self._meter = Meter(acc.device, pos.meter if self.main else None)
        # Until the last checkpoint is written, Ctrl-C / SIGTERM wait for a step boundary; a write
        # that fails anywhere in the run folder (the log, predictions) stops the run as a checkpoint's does.
        with faults.SignalStop() as signals, faults.writing("into the run folder", None, self.saver.kept,
                                                                   inside=self.run.root):
            try:
                self._epochs(pos, meter, bar, signals)
            finally:
                bar.close()  # also when stopping: the message then starts on a line of its own
            if pos.last_eval_step != pos.global_step:
                self.evaluate(pos)
            if not self.eval_loaders and pos.best_step is None:
                pos.best_step = pos.global_step
                self.save_best({}, pos)  # nothing to select on: the final model is the one to export
            if self._saved_at != self._where(pos):
                self.save(pos)
        with faults.writing("the run's summary", None, self.saver.kept, inside=self.run.root):
            self._finish(pos)
        # Not acc.end_training(): it also destroys the process group, which the GLUE batch (and any
        # caller that trains twice in one process) still needs.
        for tracker in acc.trackers:
            tracker.finish()
        return self.run.root

    def _epochs(self, pos: Position, meter: Meter, bar, signals: faults.SignalStop) -> None:
        acc, t = self.accelerator, self.config.train
        save_every = t.save_every or t.eval_every
        stop = pos.global_step >= self.total_steps
        while not stop:
            loader = acc.skip_first_batches(self.train_loader, pos.batch_in_epoch) if pos.batch_in_epoch else self.train_loader
            # Accelerate's loader re-seeds the sampler with its own iteration count on every pass;
            # setting it here makes the shuffle a function of the epoch alone, also after a resume.
            loader.set_epoch(pos.epoch)
            batches = iter(loader)
            started = time.perf_counter()
            while True:
                window = [batching.real_part(b, acc) for _, b in zip(range(self.window), batches)]
                if not window:
                    break
                stop_requested = self.train_step(window, meter, pos, signals)
                pos.global_step += 1
                pos.batch_in_epoch += len(window)
                bar.update(1)
                fault_injection.after_step(pos.global_step)
                if pos.global_step % allocator.RELEASE_EVERY == 0:
                    allocator.release()
                if pos.global_step % t.log_every == 0 or pos.global_step == self.total_steps:
                    pos.train_seconds += time.perf_counter() - started
                    started = time.perf_counter()
                    self._log(meter, pos, bar)
                paused = time.perf_counter()
                if t.eval_every and pos.global_step % t.eval_every == 0:
                    self.evaluate(pos)
                if save_every and pos.global_step % save_every == 0:
                    self.save(pos)
                # Evaluation and saving are not training: keep them out of train time and samples/s.
                pause = time.perf_counter() - paused
                started += pause
                meter.started += pause
                if stop_requested:
                    self._interrupted(pos, signals.signum or signal.SIGTERM, started)
                if self._should_stop(pos):
                    stop = True
                    break
            pos.train_seconds += time.perf_counter() - started
            if pos.batch_in_epoch >= len(self.train_loader):  # the epoch ran out (maybe on the last step)
                pos.epoch += 1
                pos.batch_in_epoch = 0
                paused = time.perf_counter()
                if pos.last_eval_step != pos.global_step:
                    self.evaluate(pos)
                self.save(pos)
                meter.started += time.perf_counter() - paused
                stop = stop or self._should_stop(pos)

    def _interrupted(self, pos: Position, signum: int, started: float) -> None:
        """Ctrl-C / SIGTERM: a checkpoint at this step boundary, then stop (resume=auto continues)."""
        pos.train_seconds += time.perf_counter() - started
        if self._saved_at != self._where(pos):
            self.save(pos)
        name = signal.Signals(signum).name
        raise Interrupted(f"{name} at step {pos.global_step}: saved {self.run.step_checkpoint(pos.global_step)}. "
                          f"Run the same command again to continue from it (resume=auto).", signum)

    def _should_stop(self, pos: Position) -> bool:
        patience = self.config.train.patience
        if patience is not None and pos.evals_without_improvement >= patience:
            if self.main:
                print(f"Early stopping at step {pos.global_step}: no improvement in {patience} evaluations.")
            return True
        return pos.global_step >= self.total_steps

    def train_step(self, window: list[tuple[dict, bool]], meter: Meter, pos: Position, signals: faults.SignalStop) -> bool:
        """One optimizer step; returns whether any process was asked to stop (SIGINT / SIGTERM)."""
        acc = self.accelerator
        items = sum((self.adapter.train_items(b) for b, filler in window if not filler),
                    torch.zeros((), dtype=torch.long, device=acc.device))
        if acc.num_processes > 1:
            items = acc.reduce(items, "sum")
        losses = []
        for i, (batch, filler) in enumerate(window):
            # Gradients are all-reduced only on the last micro-batch of the window.
            sync = contextlib.nullcontext() if i == len(window) - 1 else acc.no_sync(self.model)
            with sync:
                outputs = self.model(**model_inputs(batch, self.adapter))
                loss_sum = self.adapter.train_loss(outputs, batch) * (0.0 if filler else 1.0)
                # DDP averages gradients over processes; scaling by the process count makes that a sum.
                acc.backward(loss_sum * acc.num_processes / items)
            losses.append(loss_sum.detach())
        finite = torch.isfinite(torch.stack(losses).float().sum())
        if self.config.train.max_grad_norm:
            norm = acc.clip_grad_norm_(self.model.parameters(), self.config.train.max_grad_norm)
            # fp16's loss scaler owns overflowing gradients: it skips that step and lowers the scale.
            if acc.scaler is None and norm is not None:
                finite &= torch.isfinite(norm)
        # One host sync a step, for both questions, agreed by every process.
        flags = torch.stack([(~finite).float(), torch.tensor(float(signals.signum > 0), device=finite.device)])
        if acc.num_processes > 1:
            flags = acc.reduce(flags, "sum")
        nonfinite, stop = (bool(x > 0) for x in flags.tolist())
        if nonfinite:
            self._nonfinite(window, pos)
        else:
            for loss_sum, (batch, filler) in zip(losses, window):
                if not filler:
                    meter.add(loss_sum, self.adapter.train_items(batch), batch)
            self.optimizer.step()
        self.scheduler.step()  # also on a skipped step: the schedule follows the step count
        self.optimizer.zero_grad(set_to_none=True)
        return stop

    def _nonfinite(self, window: list[tuple[dict, bool]], pos: Position) -> None:
        """Before the optimizer step, so the weights are still the last good ones: skip the step
        (train.on_nan_loss=skip) or save them and stop, naming the batch's examples."""
        from accelerate.utils import gather_object

        split = self.built.splits["train"]
        window = [b for b, filler in window if not filler]
        examples = gather_object([int(i) for b in window for i in b["example_index"]])
        culprits = gather_object(faults.lone_nonfinite(self.model, self.adapter, window))
        step = pos.global_step + 1
        message = faults.nonfinite_message(step, split, examples, culprits)
        if self.config.train.on_nan_loss == "skip":
            pos.skipped_steps += 1
            self.log.write({"step": step, "epoch": self._epochs_done(pos), "skipped": "non-finite loss",
                            "examples": [split.where(i) for i in sorted(set(culprits or examples))]})
            if self.main:
                tqdm.write(f"warning: {message} Skipped this step ({pos.skipped_steps} so far; train.on_nan_loss=skip).",
                           file=sys.stderr)  # above the progress bar, not glued to it
            return
        if self._saved_at != self._where(pos):
            self.save(pos)  # the weights before this step; the batch is replayed on resume
        saved = self.run.step_checkpoint(pos.global_step)
        raise RunStopped(f"{message} Stopped; {saved} holds the weights before this step. Fix the rows and run "
                         f"again (resume=auto), or add train.on_nan_loss=skip to skip such steps.")

    def _log(self, meter: Meter, pos: Position, bar) -> None:
        record = meter.flush(self.accelerator)
        record = {"step": pos.global_step, "epoch": self._epochs_done(pos), **record, "lr": self.scheduler.get_last_lr()[0]}
        self.log.write(record)
        bar.set_postfix(loss=f"{record['loss']:.4f}", refresh=False)
        if self.accelerator.log_with:  # loss, lr, samples/s, real tokens/s
            self.accelerator.log(trackers.numbers({k: v for k, v in record.items() if k != "step"}, "train"),
                                 step=pos.global_step)

    def _finish(self, pos: Position) -> None:
        metrics = self.run.best_metrics()
        if self.main:  # before the folder's size is taken
            plot_curves(self.log, self.adapter.primary_metric, self.run.curves)
        summary = run_summary.summary(
            self.config, self.adapter.primary_metric, metrics, self.config.model, self.built.splits,
            best_step=pos.best_step, steps=pos.global_step, epochs_completed=pos.epoch,
            train_examples=len(self.built.splits["train"].dataset), train_seconds=round(pos.train_seconds, 1),
            processes=self.accelerator.num_processes, skipped_steps=pos.skipped_steps,
            skipped_rows={name: len(getattr(s, "skipped", [])) for name, s in self.built.splits.items()},
            **({"vocabulary": self.built.extension.record()} if self.built.extension else {}),
            **self.adapter.objective_record(),
            peft_method=peft_methods.method(self.config), trainable_parameters=self.parameters[0],
            total_parameters=self.parameters[1],
            run_folder_mb=round(self._folder_bytes_kept() / disk.MB, 1), allocator=self.allocator,
            precision=self.accelerator.mixed_precision)  # what train.precision=auto resolved to
        if self.accelerator.log_with:
            final = {**{f"best_{k}": v for k, v in metrics.items()}, "best_step": pos.best_step, "steps": pos.global_step,
                     "train_seconds": summary["train_seconds"]}
            self.accelerator.log(trackers.numbers(final, "summary"), step=pos.global_step)
        if self.main:
            self.run.metrics.write_text(json.dumps(summary, indent=1))
            shown = run_summary.headline(metrics, self.adapter.headline_metrics)
            print(f"Dev metrics (best, step {pos.best_step}): {shown or 'none (no dev set)'}")
        self.saver.finish()  # after metrics.json: a run killed in between is finished, not started over
        if self.main:
            print(f"Run folder: {self.run.root} ({summary['run_folder_mb']:,.0f} MB)")

    def _folder_bytes_kept(self) -> int:
        """The run folder's size once the saver's finish() has removed what train.keep_last does not keep."""
        if not self.main:
            return 0
        removed = sum(disk.folder_bytes(folder) for folder in self.saver.removed_at_finish())
        return disk.folder_bytes(self.run.root) - removed


def train(config: RunConfig) -> Path:
    return Trainer(config).train()
