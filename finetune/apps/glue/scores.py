"""GLUE's own scoring: which metrics make each task's score, and the benchmark's average."""

from __future__ import annotations

import numpy as np

# The benchmark's score of each task (GLUE paper, section 4; the leaderboard's columns): the mean of
# these metrics, in percent. MNLI is one task scored by its matched and mismatched accuracy; the
# diagnostic set (AX) is not part of the average.
TASK_SCORE_METRICS = {
    "cola": ("matthews",),
    "sst2": ("accuracy",),
    "mrpc": ("f1", "accuracy"),
    "stsb": ("pearson", "spearman"),
    "qqp": ("f1", "accuracy"),
    "mnli": ("accuracy", "mismatched_accuracy"),
    "qnli": ("accuracy",),
    "rte": ("accuracy",),
    "wnli": ("accuracy",),
}


def task_score(task: str, metrics: dict[str, float], percent: bool = False) -> float | None:
    """A GLUE task's score in percent from its metrics (fractions, or percent with `percent=True`);
    None when one of the metrics it averages is missing."""
    names = TASK_SCORE_METRICS[task]
    if not all(name in metrics for name in names):
        return None
    return float(np.mean([metrics[name] for name in names])) * (1 if percent else 100)


def glue_score(task_scores: dict[str, float | None]) -> tuple[float | None, list[str]]:
    """(the unweighted mean of the tasks' scores, the GLUE tasks it leaves out). With tasks left out
    it is not the leaderboard's nine-task score, and callers must say so."""
    counted = [task for task in TASK_SCORE_METRICS if task_scores.get(task) is not None]
    left_out = [task for task in TASK_SCORE_METRICS if task not in counted]
    if not counted:
        return None, left_out
    return float(np.mean([task_scores[task] for task in counted])), left_out


def seed_scores(task: str, runs: list[dict]) -> dict:
    """A task trained once per seed ({seed, run, metrics} each, in seed order) as RoBERTa-style papers
    report it: its score is the median of the seeds' task scores, with mean ± sample std (n - 1),
    min and max beside it; `metrics` holds each metric's median. The best seed (highest task score,
    the earlier seed on a tie) is the one model that predicts the test sets."""
    from finetune.apps.seeds import stats

    scores = [task_score(task, r["metrics"]) for r in runs]
    scored = [(score, r) for score, r in zip(scores, runs) if score is not None]
    if not scored:
        return {"score": None, "score_stats": None, "metrics": {}, "metric_stats": {}, "best_seed": None}
    names = list(dict.fromkeys(name for r in runs for name in r["metrics"]))
    metric_stats = {name: stats([r["metrics"][name] for r in runs if name in r["metrics"]]) for name in names}
    score_stats = stats([score for score, _ in scored])
    best_score, best = max(scored, key=lambda pair: pair[0])  # max keeps the first of equals
    return {"score": score_stats["median"], "score_stats": score_stats,
            "metrics": {name: s["median"] for name, s in metric_stats.items()}, "metric_stats": metric_stats,
            "best_seed": {"seed": best["seed"], "run": best["run"], "score": best_score,
                          "why": f"the highest dev score of the {len(scored)} seeds; it predicts the test sets"}}
