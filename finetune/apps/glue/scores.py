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
