"""`seeds=N` (or a list): the same config trained once per seed, and what the seeds say together.

Small data sets swing by several points between seeds with identical settings (Mosbach et al.,
2021, "On the stability of fine-tuning BERT"), so one run is not a result: report the spread.

    <output_dir>/<name>-seed<S>/   an ordinary run folder per seed (its config.yaml: seed=S, seeds=null)
    <output_dir>/<name>/           config.yaml (the whole study), seeds.json, seeds.md

<name> is run_name, or <task>-<timestamp>. Run the same command again with an explicit run_name and
finished seeds are skipped, a killed seed resumes from its last checkpoint. "The" model of a study is
the seed with the best dev primary metric (`best_run`); `python -m finetune export <name>` exports it.
"""

from __future__ import annotations

import copy
import gc
import json
import os
import statistics
import time
from pathlib import Path

from finetune.config.schema import RunConfig
from finetune.errors import InputError
from finetune.run.folder import RunDir, refuse_other_settings

SUMMARY_NAME = "seeds.json"
TABLE_NAME = "seeds.md"
STD_NOTE = "std is the sample standard deviation over seeds (n - 1 in the denominator; none with one seed)"


# -- which seeds ------------------------------------------------------------------------------------
def seed_list(config: RunConfig) -> list[int] | None:
    """The seeds a config asks for: None for one ordinary run; `seeds: N` is seed, seed+1, ..., seed+N-1."""
    seeds = config.seeds
    if seeds is None:
        return None
    if isinstance(seeds, int):
        if seeds < 1:
            raise InputError(f"config key 'seeds': {seeds} runs is not a study. Give a count of at least 1 "
                             f"(seeds=5 runs seed {config.seed} to {config.seed + 4}), a list (seeds=[1,2,3]), "
                             f"or seeds=null for one run.")
        return list(range(config.seed, config.seed + seeds))
    if not seeds:
        raise InputError("config key 'seeds': an empty list runs nothing. Give the seeds (seeds=[1,2,3]), a "
                         "count (seeds=5), or seeds=null for one run.")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise InputError(f"config key 'seeds': {seeds} repeats {', '.join(map(str, repeated))}; a seed run twice "
                         f"gives the same run twice and shrinks the spread. List each seed once.")
    return list(seeds)


def for_seed(config: RunConfig, seed: int, run_name: str) -> RunConfig:
    """The config of one seed's run: its config.yaml then describes exactly that run."""
    one = copy.deepcopy(config)
    one.seed, one.seeds, one.run_name = seed, None, run_name
    return one


def run_name(base: str, seed: int) -> str:
    return f"{base}-seed{seed}"


# -- arithmetic (pure) ----------------------------------------------------------------------------------
def stats(values: list[float]) -> dict:
    """mean, std (sample, ddof=1: None for one value), median, min, max and n of a metric over seeds."""
    if not values:
        raise ValueError("no values")
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else None,
            "median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def summarize(runs: list[dict], primary: str | None) -> dict:
    """{metrics: {name: stats}, best_run} from each seed's {seed, run, metrics, ...}, in seed order.
    The best run has the highest dev `primary` (greater is better, as the loop's); a tie goes to the
    earlier seed; without that metric, the first seed."""
    names = list(dict.fromkeys(name for r in runs for name in r["metrics"]))
    if primary in names:  # the primary metric first
        names.remove(primary)
        names.insert(0, primary)
    metrics = {name: stats([r["metrics"][name] for r in runs if name in r["metrics"]]) for name in names}
    scored = [r for r in runs if primary in r["metrics"]]
    if scored:
        best = max(scored, key=lambda r: r["metrics"][primary])  # max keeps the first of equals
        value = best["metrics"][primary]
        why = (f"the highest dev {primary} ({value:.4f}) of the {len(scored)} seeds (ties go to the earlier seed); "
               f"chosen on dev, so its dev score overstates what a new seed gives: report the median or mean ± std")
    elif runs:
        best, value, why = runs[0], None, f"no dev {primary} to choose by: the first seed"
    else:
        return {"metrics": metrics, "best_run": None}
    return {"metrics": metrics, "best_run": {"seed": best["seed"], "run": best["run"], "metric": primary,
                                             "value": value, "why": why}}


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def markdown(result: dict) -> str:
    runs, primary = result["runs"], result["primary"]
    lines = [f"# {result['task']}: {len(runs)} of {len(result['seeds'])} seeds", "",
             f"Seeds {', '.join(map(str, result['seeds']))}; every other setting as in `{result['config']}`.", "",
             "| metric (dev) | mean ± std | median | min | max | n |", "|---|---|---|---|---|---|"]
    for name, s in result["metrics"].items():
        label = f"{name} (primary)" if name == primary else name
        lines.append(f"| {label} | {_num(s['mean'])} ± {_num(s['std'])} | {_num(s['median'])} | {_num(s['min'])} | "
                     f"{_num(s['max'])} | {s['n']} |")
    names = list(result["metrics"])
    lines += ["", f"{STD_NOTE}.", "", f"| seed | run folder | {' | '.join(names)} | best step |",
              "|---|---|" + "---|" * len(names) + "---|"]
    best = result["best_run"] or {}
    for r in runs:
        mark = " (the model)" if r["seed"] == best.get("seed") else ""
        values = " | ".join(_num(r["metrics"].get(n)) for n in names)
        lines.append(f"| {r['seed']}{mark} | {r['run']} | {values} | {r.get('best_step', '-')} |")
    if result["pending"]:
        lines += ["", (f"**Not finished:** seeds {', '.join(map(str, result['pending']))}. Run the same command "
                       f"again to continue them (an explicit run_name continues; finished seeds are skipped).")]
    if best:
        lines += ["", (f"**The model: seed {best['seed']}** (`{best['run']}`): {best['why']}. "
                       f"`python -m finetune export {result['folder']}` exports it.")]
    return "\n".join(lines) + "\n"


# -- the study -------------------------------------------------------------------------------------------
def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _base_name(config: RunConfig) -> str:
    from accelerate.utils import broadcast_object_list

    name = [config.run_name or f"{config.task}-{time.strftime('%Y%m%d-%H%M%S')}"]
    broadcast_object_list(name)  # processes start seconds apart: agree on one timestamp
    return name[0]


def run_record(seed: int, folder: Path) -> dict:
    summary = RunDir(folder).summary()
    return {"seed": seed, "run": folder.name, "path": str(folder), "metrics": summary.get("metrics", {}),
            "best_step": summary.get("best_step"), "steps": summary.get("steps"),
            "train_seconds": summary.get("train_seconds"), "primary": summary.get("primary")}


def train_seeds(config: RunConfig) -> Path:
    """Train `config` once per seed, then write the study's folder; returns that folder."""
    from finetune.engine import devices
    from finetune.engine.loop import train

    seeds = seed_list(config)
    if config.resume not in ("auto", "never"):
        raise InputError(f"config key 'resume': {config.resume} names one run's checkpoint; with seeds each seed's "
                         f"run resumes by itself. Use resume=auto (continue killed seeds) or resume=never.")
    state = devices.state()
    base = _base_name(config)
    folder = Path(config.output_dir) / base
    if RunDir.is_run(folder):
        raise InputError(f"{folder} is a single run's folder; the seeds' summary would land in it. Choose another "
                         f"run_name.")
    study = copy.deepcopy(config)
    study.run_name = base  # its config.yaml reruns (and continues) the whole study
    runs: list[dict] = []
    for number, seed in enumerate(seeds, start=1):
        one = for_seed(config, seed, run_name(base, seed))
        run = RunDir(Path(config.output_dir) / one.run_name)
        if config.resume == "auto":
            refuse_other_settings(run.root, one, fix="Choose another run_name, or delete that run folder to train it again.")
        if config.resume == "auto" and run.finished():
            if state.is_main_process:
                print(f"== seed {seed} ({number}/{len(seeds)}): finished in an earlier run, skipped ({run.root})")
        else:
            if state.is_main_process:
                print(f"== seed {seed} ({number}/{len(seeds)})", flush=True)
            train(one)
            state.wait_for_everyone()
            gc.collect()  # this seed's model and optimizer go before the next one's arrive
        runs.append(run_record(seed, run.root))
        if state.is_main_process:  # after every seed: a killed study still leaves what it finished
            write_study(folder, study, seeds, runs)
        state.wait_for_everyone()
    if state.is_main_process:
        print((folder / TABLE_NAME).read_text())
        print(f"Seeds folder: {folder}")
    return folder


def write_study(folder: Path, config: RunConfig, seeds: list[int], runs: list[dict]) -> dict:
    primary = next((r["primary"] for r in runs if r.get("primary")), None)
    done = {r["seed"] for r in runs}
    result = {"task": config.task, "folder": str(folder), "config": str(folder / "config.yaml"), "seeds": seeds,
              "pending": [s for s in seeds if s not in done], "primary": primary,
              "std": STD_NOTE, **summarize(runs, primary), "runs": runs}
    folder.mkdir(parents=True, exist_ok=True)
    config.save(folder / "config.yaml")
    _write(folder / SUMMARY_NAME, json.dumps(result, indent=1))
    _write(folder / TABLE_NAME, markdown(result))
    return result


def best_run(folder: str | Path) -> tuple[Path, dict] | None:
    """(the run folder of a study's best seed, its best_run record), or None when `folder` is no study."""
    path = Path(folder) / SUMMARY_NAME
    if not path.is_file():
        return None
    best = json.loads(path.read_text()).get("best_run")
    if not best:
        raise InputError(f"{folder}: no seed has finished yet ({SUMMARY_NAME} names no best_run). Finish the study "
                         f"first: run its command again.")
    return Path(folder).parent / best["run"], best  # the seeds' folders sit beside the study's
