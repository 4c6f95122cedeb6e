"""The summary of a run or an evaluation (metrics.json), built in one place so that train,
evaluate and the GLUE batch write the same shape."""

from __future__ import annotations

from typing import Any


def split_metrics(per_split: dict[str, dict[str, float]]) -> dict[str, float]:
    """One flat dict: the dev set's metrics as they are, other eval sets' prefixed (mismatched_accuracy)."""
    metrics: dict[str, float] = {}
    for name, values in per_split.items():
        prefix = "" if name == "validation" else f"{name}_"
        metrics.update({prefix + k: v for k, v in values.items()})
    return metrics


def data_record(splits: dict[str, Any]) -> dict[str, dict]:
    """Where each split came from and how many rows it kept."""
    return {name: {"location": s.location, "origin": s.origin, "rows": len(s.dataset)} for name, s in splits.items()}


def summary(config: Any, primary: str, metrics: dict[str, float], model: str, splits: dict[str, Any],
            **training: Any) -> dict:
    """{task, primary, metrics, ...training figures, model, data}."""
    return {"task": config.task, "primary": primary, "metrics": metrics, **training, "model": model,
            "data": data_record(splits)}


def headline(metrics: dict[str, float], keys: tuple[str, ...] | None) -> str:
    """`key=value, ...` of the headline metrics (all when keys is None), for one-line summaries."""
    return ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if keys is None or k in keys)
