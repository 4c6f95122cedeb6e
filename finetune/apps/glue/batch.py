"""`python -m finetune glue`: one backbone fine-tuned and scored on every GLUE task, in one folder.

    <out>/batch.json          the batch's settings; a batch run again with the same --out continues
    <out>/runs/<task>/        each task's run folder (a killed task resumes from its last checkpoint);
                              with seeds=N, runs/<task>-seed<S>/ for each seed (finetune/apps/glue/multiseed.py)
    <out>/eval/<task>/        --eval-only and tasks without training data: dev metrics and predictions
    <out>/tasks/<task>.json   each finished task's record (a batch run again skips those)
    <out>/results.md .json .csv, scores.png
    <out>/submission/*.tsv, submission.zip   test-set predictions in the leaderboard's format

Each task keeps its own config (configs/<task>.yaml) and hyperparameters; `key=value` applies to
every task and `TASK.key=value` to one. Only real data is used: a split found only among the
shipped samples counts as missing (the table says so), unless `data.source=sample` asks for a smoke
run on the samples. A task that fails is recorded as failed and the batch goes on.
"""

from __future__ import annotations

import difflib
import gc
import json
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate.utils import set_seed

from finetune.apps.glue import multiseed
from finetune.apps.glue import report as glue_report
from finetune.apps.glue import submission as glue_submission
from finetune.apps.glue.scores import TASK_SCORE_METRICS, task_score
from finetune.apps.seeds import seed_list
from finetune.config import typed
from finetune.config.schema import RunConfig
from finetune.data import splits as data_io
from finetune.engine import devices
from finetune.errors import InputError, Interrupted, RunStopped
from finetune.run.folder import RunDir, is_model_folder, read_summary, refuse_other_settings
from tasks import prediction_tsv
from tasks.registry import load_config

TASKS = tuple(TASK_SCORE_METRICS)
AX_FILE = "glue/diagnostic/diagnostic.tsv"  # where GLUE's download script puts the diagnostic set
BATCH_KEYS = ("task", "run_name", "output_dir", "resume")  # the batch sets these for every task


@dataclass
class Batch:
    out: Path
    tasks: list[str]
    overrides: list[str] = field(default_factory=list)  # every task
    task_overrides: dict[str, list[str]] = field(default_factory=dict)  # TASK.key=value, without the TASK.
    eval_only: bool = False
    models: Path | None = None  # --eval-only: the folder of the models to evaluate

    def overrides_for(self, task: str) -> list[str]:
        return self.overrides + self.task_overrides.get(task, [])

    def settings(self) -> dict:
        return {"overrides": self.overrides, "task_overrides": self.task_overrides}


def parse_tasks(text: str) -> list[str]:
    tasks = [t.strip().lower().replace("-", "") for t in text.split(",") if t.strip()]
    for task in tasks:
        if task not in TASKS:
            raise InputError(f"--tasks: '{task}' is not a GLUE task{typed.closest(task, list(TASKS))}. "
                             f"Tasks: {','.join(TASKS)}.")
    if not tasks:
        raise InputError(f"--tasks: name at least one of {','.join(TASKS)}.")
    return sorted(set(tasks), key=TASKS.index)


def _refuse_misspelt_task(item: str, head: str, rest: str) -> None:
    """`rtee.train.epochs=1` meant rte's epochs: left as a shared key, the config would suggest train.epochs."""
    sections = {name.split(".")[0] for name in typed.all_keys(RunConfig)}
    if not rest or head in sections:
        return
    near = difflib.get_close_matches(head, list(TASKS), n=1, cutoff=0.7)
    if near:
        value = item.split("=", 1)[1] if "=" in item else "..."
        raise InputError(f"command line: '{item}': '{head}' is not a GLUE task (did you mean {near[0]}.{rest}={value}?). "
                         f"TASK.key=value sets a key for one task; key=value for every task.")


def split_overrides(items: list[str], tasks: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    shared: list[str] = []
    per_task: dict[str, list[str]] = {}
    for item in items:
        key = item.split("=", 1)[0].strip()
        head, _, rest = key.partition(".")
        if head in TASKS and rest:
            if head not in tasks:
                raise InputError(f"command line: '{item}' is for {head}, which is not in --tasks ({','.join(tasks)}).")
            per_task.setdefault(head, []).append(item.split(".", 1)[1])
            key = rest
        else:
            _refuse_misspelt_task(item, head, rest)
            shared.append(item)
        if key in BATCH_KEYS:
            raise InputError(f"command line: '{item}': the batch names every task's run itself ({'/'.join(BATCH_KEYS)}). "
                             f"Drop it; choose the batch folder with --out.")
    return shared, per_task


def default_out(overrides: list[str]) -> Path:
    model = next((item.split("=", 1)[1] for item in overrides if item.split("=", 1)[0].strip() == "model"), "minilm")
    return Path("runs") / ("glue-" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(model.rstrip("/")).name).strip("-.") or "model"))


# -- data --------------------------------------------------------------------------------------------
def keep_real_splits(config: RunConfig, ax: bool) -> dict[str, dict]:
    """Drop the config's splits that have no real data (only a shipped sample, or nothing), so the run
    never mixes samples with real data; returns {split: {origin, location}} of those kept. With ax,
    MNLI's test splits gain the diagnostic set when its file is there."""
    data = config.data
    samples_ok = data.source == "sample"
    if ax and config.task == "mnli" and data.source != "hub":
        data.extra_test = {**data.extra_test, "ax": AX_FILE}
    kept: dict[str, dict] = {}
    names = ["train", *data_io.eval_split_names(data), *data_io.test_split_names(data)]
    for name in names:
        value = data_io.split_value(data, name)
        if not value:
            continue
        try:
            origin, location = data_io.resolve(data, name, value)
        except InputError:
            origin = location = None
        # auto means the local files here: samples only when asked for, the hub only when asked for
        if origin is None or (origin == "sample" and not samples_ok) or (origin == "hub" and data.source != "hub"):
            if name in ("train", "validation", "test"):
                setattr(data, name, None)
            else:
                data.extra_validation.pop(name, None)
                data.extra_test.pop(name, None)
        else:
            kept[name] = {"origin": origin, "location": location if origin != "hub" else f"{data.hub}:{location}"}
    return kept


# -- one task ------------------------------------------------------------------------------------------
class Runner:
    def __init__(self, batch: Batch):
        self.batch = batch
        self.state = devices.state()
        self.main = self.state.is_main_process
        self.submission = batch.out / "submission"

    def record_path(self, task: str) -> Path:
        return self.batch.out / "tasks" / f"{task}.json"

    def run_task(self, task: str) -> dict:
        overrides = self.batch.overrides_for(task)
        record = {"task": task, "status": "failed", "how": None, "metrics": {}, "score": None, "counted": False,
                  "train_examples": None, "train_seconds": None, "dev_examples": None, "data": {}, "model": None,
                  "submission": [], "note": "", "overrides": overrides}
        started = time.perf_counter()
        try:
            if self.batch.eval_only:
                self._evaluate_existing(task, record)
            else:
                self._train(task, record)
        except Interrupted:
            raise  # Ctrl-C / SIGTERM stops the batch; its checkpoint lets the rerun continue this task
        except (InputError, RunStopped) as exc:
            record.update(status="failed", note=str(exc))
            print(f"error: {task}: {exc}", file=sys.stderr)
        except Exception as exc:  # a crash in one task must not take the others with it
            record.update(status="failed", note=f"{type(exc).__name__}: {exc}")
            traceback.print_exc()
        finally:
            gc.collect()  # the task's model and optimizer go before the next task's arrive
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        record["wall_seconds"] = round(time.perf_counter() - started, 1)  # training, evaluation, test predictions
        if record["status"] == "done" and record["metrics"] and record["score"] is None:  # seeds set their median
            record["score"] = task_score(task, record["metrics"])
        record["counted"] = record["score"] is not None and record["how"] in ("fine-tuned", "evaluated")
        return record

    def _config(self, target: str | Path, overrides: list[str], record: dict) -> tuple[RunConfig, str | None]:
        from finetune.serve.inference import resolve_target

        config, model_path = resolve_target(str(target), overrides)
        reference = config.reference
        record["reference"] = {"model": reference.model, "source": reference.source, "metrics": reference.metrics,
                               "score": task_score(config.task, reference.metrics, percent=True) if reference.metrics else None}
        return config, model_path

    def _train(self, task: str, record: dict) -> None:
        runs = self.batch.out / "runs"
        config, _ = self._config(task, self.batch.overrides_for(task) + [
            f"run_name={task}", f"output_dir={runs}", "resume=auto"], record)
        record["data"] = keep_real_splits(config, ax=True)
        record["model"] = config.model
        if config.data.train and seed_list(config) is not None:  # seeds=N: a run per seed, the median
            model_path = multiseed.train_task(self, task, config, record)
        elif config.data.train:
            summary = self.train_run(config)
            record.update(how="fine-tuned", metrics=summary["metrics"], train_examples=summary["train_examples"],
                          train_seconds=summary["train_seconds"],
                          dev_examples=summary["data"].get("validation", {}).get("rows"))
            model_path = str(RunDir(runs / task).best)
        elif config.data.validation:
            # No training data (QNLI offline): the backbone with a new, untrained head, as a floor.
            set_seed(config.seed)
            self._dev_metrics(task, config, None, record)
            record.update(how="untrained head", note="no training data: an untrained head, not counted")
            model_path = None
        else:
            record.update(status="no data", note="no training or dev data found")
            return
        self._predict_tests(task, config, model_path, record)
        record["status"] = "done"

    def train_run(self, config: RunConfig) -> dict:
        """Train the run folder output_dir/run_name unless it finished in an earlier pass; its summary."""
        from finetune.engine.loop import train

        run = RunDir(Path(config.output_dir) / config.run_name)
        _check_same_run(run.root, config)
        if not run.finished():  # a finished run is not trained again
            set_seed(config.seed)
            train(config)
            self.state.wait_for_everyone()
        return run.summary()

    def _evaluate_existing(self, task: str, record: dict) -> None:
        target = find_model(self.batch.models or self.batch.out / "runs", task)
        if target is None:
            record.update(status="no model", note=f"no run or exported folder for {task} in {self.batch.models or self.batch.out / 'runs'}")
            return
        config, model_path = self._config(target, self.batch.overrides_for(task), record)
        if config.task != task:
            raise InputError(f"{target}: holds a {config.task} model, not {task}. Name the folder after its task.")
        record["data"] = keep_real_splits(config, ax=True)
        record["model"] = str(target)
        summary = read_summary(target)
        if summary:  # a run folder: its training figures belong in the table
            record.update(train_examples=summary.get("train_examples"), train_seconds=summary.get("train_seconds"))
        if not config.data.validation:
            record.update(status="no data", note="no dev data found")
            return
        self._dev_metrics(task, config, model_path, record)
        record["how"] = "evaluated"
        self._predict_tests(task, config, model_path, record)
        record["status"] = "done"

    def _dev_metrics(self, task: str, config: RunConfig, model_path: str | None, record: dict) -> None:
        from finetune.serve.inference import evaluate_config

        out = self.batch.out / "eval" / task
        summary = evaluate_config(config, model_path, out if self.main else None)
        record.update(metrics=summary["metrics"], dev_examples=summary["data"]["validation"]["rows"])

    def _predict_tests(self, task: str, config: RunConfig, model_path: str | None, record: dict) -> None:
        from finetune.serve.inference import run_splits

        names = [n for n in data_io.test_split_names(config.data) if data_io.split_value(config.data, n)]
        names = [n for n in names if glue_submission.file_name(task, n)]
        if not names:
            return
        record["test_rows_capped_at"] = config.data.max_predict_samples
        accelerator, built, results = run_splits(config, model_path, names)
        if accelerator.is_main_process:
            for name, result in results.items():
                examples = built.splits[name].dataset
                indices = prediction_tsv.index_values(examples, getattr(config.options, "index_column", None))
                path = glue_submission.write(self.submission, task, name, indices,
                                             built.adapter.predicted_labels(result.predictions))
                record["submission"].append(path.name)
        del built
        accelerator.wait_for_everyone()


def _check_same_run(folder: Path, config: RunConfig) -> None:
    """A task's run folder from an earlier pass is continued or reused only if it was trained with the
    config this pass resolves (an edited configs/TASK.yaml included). Test sets may differ: the
    diagnostic file can arrive later."""
    refuse_other_settings(folder, config, fix="Give the batch a new --out, or delete that run folder to train it again.")


def find_model(folder: Path, task: str) -> Path | None:
    """The run or exported folder for a task: <folder>/<task>, else the newest <folder>/<task>-*."""
    def usable(path: Path) -> bool:
        return is_model_folder(path) or (RunDir.is_run(path) and RunDir(path).has_best())

    exact = folder / task
    if usable(exact):
        return exact
    candidates = sorted((p for p in folder.glob(f"{task}-*") if usable(p)), key=lambda p: p.stat().st_mtime)
    return candidates[-1] if candidates else None


# -- the batch ---------------------------------------------------------------------------------------------
def _write_json(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(json.dumps(content, indent=1))
    os.replace(tmp, path)


def _check_settings(batch: Batch) -> None:
    """A batch folder continues only with the settings it was started with."""
    saved_path = batch.out / "batch.json"
    if batch.eval_only or not saved_path.is_file():
        return
    saved = json.loads(saved_path.read_text())
    if saved.get("settings") != batch.settings():
        raise InputError(f"{batch.out} holds a GLUE batch started with other settings ({json.dumps(saved.get('settings'))}; "
                         f"now {json.dumps(batch.settings())}). Run it again with the same settings to continue it, "
                         f"or give --out a new folder.")


def run(batch: Batch) -> int:
    """Every task in turn; returns the exit status (1 when a task failed)."""
    found = []
    for task in batch.tasks:  # every task's config and overrides are checked before anything runs
        config = load_config(task, batch.overrides_for(task))
        if seed_list(config) is not None and batch.eval_only:
            raise InputError(f"config key 'seeds' ({task}): trains once per seed, and --eval-only trains nothing. Drop seeds=.")
        found += list(keep_real_splits(config, ax=False))
    if not batch.eval_only and not found:
        raise InputError("no GLUE data found for these tasks: the batch uses real data only. Set FINETUNE_DATA (or "
                         "data.dir) to a folder with glue/<TASK>/train.tsv, dev.tsv, test.tsv; or data.source=hub to "
                         "read nyu-mll/glue online; or data.source=sample for a smoke run on the shipped samples.")
    if batch.eval_only and any(item.split("=", 1)[0].strip() == "model" for item in batch.overrides):
        raise InputError("--eval-only evaluates the models in --models; drop model=.")
    if batch.models is not None and not batch.models.is_dir():
        raise InputError(f"--models {batch.models}: no such folder.")
    _check_settings(batch)
    runner = Runner(batch)
    if runner.main and not batch.eval_only:  # an --eval-only pass over a batch folder leaves its settings be
        _write_json(batch.out / "batch.json", {"settings": batch.settings(), "tasks": batch.tasks})
    records: dict[str, dict] = {}
    reported = False  # the table on disk shows `records` as they stand
    for number, task in enumerate(batch.tasks, start=1):
        saved = runner.record_path(task)
        if not batch.eval_only and saved.is_file():
            record = json.loads(saved.read_text())
            if record["status"] == "done":
                records[task] = record
                reported = False
                if runner.main:
                    print(f"== GLUE {number}/{len(batch.tasks)}: {task}: done in an earlier run, skipped")
                continue
        if runner.main:
            print(f"== GLUE {number}/{len(batch.tasks)}: {task}", flush=True)
        records[task] = runner.run_task(task)
        if runner.main:  # after every task: a killed batch still leaves the table of what it finished
            _write_json(saved, records[task])
            _report(batch, records, runner.submission)
        reported = True
        runner.state.wait_for_everyone()
    if runner.main:
        if not reported:
            _report(batch, records, runner.submission)
        print((batch.out / "results.md").read_text())
        print(f"GLUE batch folder: {batch.out}")
    failed = [t for t, r in records.items() if r["status"] == "failed"]
    if failed and runner.main:
        print(f"error: {len(failed)} of {len(records)} tasks failed: {', '.join(failed)} (see results.md). "
              f"Fix them and run the same command again: finished tasks are kept.", file=sys.stderr)
    return 1 if failed else 0


def _report(batch: Batch, records: dict[str, dict], submission: Path) -> None:
    ordered = [records[t] for t in TASKS if t in records]
    for record in ordered:
        record.setdefault("reference", {})
    model = next((r["model"] for r in ordered if r.get("model")), None)
    header = {"model": model if not batch.eval_only else f"models in {batch.models or batch.out / 'runs'}",
              "overrides": batch.overrides, "task_overrides": batch.task_overrides, "eval_only": batch.eval_only,
              "samples": any(split["origin"] == "sample" for r in ordered for split in r.get("data", {}).values())}
    files = glue_submission.zip_files(submission, batch.out / "submission.zip") if submission.is_dir() else []
    limits = {r.get("test_rows_capped_at") for r in ordered if r.get("submission")} - {None}
    header["submission"] = {"zip": "submission.zip", "files": files,
                            "missing": glue_submission.missing(submission) if files else [],
                            "partial": min(limits) if limits else None}
    glue_report.write_all(batch.out, glue_report.summary(ordered, header))
