"""What a sweep leaves in its folder: trials.csv, best.yaml (a complete config to train with),
history.png and importance.png, and results.md (the table it prints)."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Any

import yaml

from finetune.apps.sweep.study import ERROR, PRUNED_AT, RUN, TOTAL_STEPS, counted
from finetune.run.folder import RunDir

# Keys of a trial's config that belong to the sweep or the run, not to the recipe it found; asked_for
# is the run's record of keys its data settled, whose values (what ran) best.yaml keeps.
NOT_RECIPE = ("run_name", "output_dir", "resume", "sweep", "seeds", "asked_for")


def finished(study: Any) -> list:
    return counted(study)


def write_csv(trials: list, path: Path) -> None:
    keys = sorted({k for t in trials for k in t.params})
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["trial", "state", "value", "seconds", *keys, "run", "pruned_at_step", "error"])
        for t in trials:
            seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else ""
            out.writerow([t.number, t.state.name.lower(), "" if t.value is None else t.value,
                          seconds if seconds == "" else round(seconds, 1), *(t.params.get(k, "") for k in keys),
                          t.user_attrs.get(RUN, ""), t.user_attrs.get(PRUNED_AT, ""), t.user_attrs.get(ERROR, "")])


def write_best(study: Any, folder: Path, metric: str) -> Path | None:
    """best.yaml: the best trial's resolved config, as `python -m finetune train best.yaml` takes it."""
    complete = [t for t in finished(study) if t.state.name == "COMPLETE"]
    if not complete:
        return None
    best = study.best_trial
    config = yaml.safe_load(RunDir(folder / "trials" / best.user_attrs[RUN]).config.read_text())
    for key in NOT_RECIPE:
        config.pop(key, None)
    header = (f"# Chosen by the sweep '{study.study_name}' ({folder}): trial {best.number} of {len(finished(study))}, "
              f"dev {metric}={best.value:.4f}.\n# Searched: {', '.join(sorted(best.params))}.\n")
    path = folder / "best.yaml"
    path.write_text(header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return path


def plot(study: Any, folder: Path) -> list[Path]:
    """Optimisation history, and parameter importance (fANOVA) or, with one parameter, its slice plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    complete = [t for t in finished(study) if t.state.name == "COMPLETE"]
    written = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optuna marks its matplotlib plots experimental
        for name, draw in (("history.png", plots.plot_optimization_history),
                           ("importance.png", plots.plot_param_importances if len(complete) > 1 and
                            len(study.best_trial.params) > 1 else plots.plot_slice)):
            if not complete:
                break
            axes = draw(study)
            figure = (axes.flat[0] if hasattr(axes, "flat") else axes).get_figure()
            figure.tight_layout()
            figure.savefig(folder / name, dpi=110)
            plt.close(figure)
            written.append(folder / name)
    return written


def table(study: Any, metric: str) -> str:
    """The trials, best first, and what pruning saved."""
    trials = finished(study)
    states = [t.state.name for t in trials]
    lines = [f"Sweep '{study.study_name}': {len(trials)} trials: {states.count('COMPLETE')} complete, "
             f"{states.count('PRUNED')} pruned, {states.count('FAIL')} failed.", ""]
    keys = sorted({k for t in trials for k in t.params})
    lines += [f"| trial | state | {metric} | {' | '.join(keys)} | seconds |",
              "|---|---|---|" + "---|" * len(keys) + "---|"]
    reverse = study.direction.name == "MAXIMIZE"
    ordered = sorted(trials, key=lambda t: (t.value is None, -(t.value or 0) if reverse else (t.value or 0)))
    for t in ordered:
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else 0
        values = " | ".join(f"{t.params[k]:.3g}" if isinstance(t.params.get(k), float) else str(t.params.get(k, ""))
                            for k in keys)
        value = f"{t.value:.4f}" if t.value is not None else t.user_attrs.get(ERROR, "")[:60]
        lines.append(f"| {t.number} | {t.state.name.lower()} | {value} | {values} | {seconds:.0f} |")
    saved = pruning_saved(trials)
    if saved is not None:
        lines += ["", f"Pruning stopped {saved[0]} trial(s) early: about {saved[1]:.0f} s of training saved "
                      f"(each pruned trial's time scaled to its full step count)."]
    return "\n".join(lines)


def pruning_saved(trials: list) -> tuple[int, float] | None:
    pruned = [t for t in trials if t.state.name == "PRUNED" and t.user_attrs.get(PRUNED_AT) and t.datetime_complete]
    if not pruned:
        return None
    saved = 0.0
    for t in pruned:
        seconds = (t.datetime_complete - t.datetime_start).total_seconds()
        saved += seconds * (t.user_attrs[TOTAL_STEPS] / t.user_attrs[PRUNED_AT] - 1)
    return len(pruned), saved


def write_all(study: Any, folder: Path, metric: str) -> str:
    trials = finished(study)
    write_csv(trials, folder / "trials.csv")
    best = write_best(study, folder, metric)
    plot(study, folder)
    text = table(study, metric)
    if best is not None:
        text += f"\n\nBest: trial {study.best_trial.number}, {metric}={study.best_trial.value:.4f}. Train with it: " \
                f"python -m finetune train {best}"
    (folder / "results.md").write_text(text + "\n")
    return text
