"""The GLUE batch's results: results.md, results.json, results.csv and scores.png, written from the
tasks' records (one dict per task, see finetune/apps/glue/batch.py) after every task, so a killed batch
still leaves a table of what it finished. With seeds=N a task's record also holds every seed's run
(`seeds`) and the spread of its score (`score_stats`); its `score` is then the median over the seeds."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from finetune.apps.glue.scores import TASK_SCORE_METRICS, glue_score

NAMES = {"cola": "CoLA", "sst2": "SST-2", "mrpc": "MRPC", "stsb": "STS-B", "qqp": "QQP", "mnli": "MNLI",
         "qnli": "QNLI", "rte": "RTE", "wnli": "WNLI"}
METRIC_NAMES = {"matthews": "Matthews corr.", "accuracy": "accuracy", "f1": "F1", "pearson": "Pearson",
                "spearman": "Spearman", "mismatched_accuracy": "mismatched acc."}


def summary(records: list[dict], header: dict) -> dict:
    """results.json: the batch's settings, the GLUE score over the tasks that count, and each task."""
    scores = {r["task"]: r["score"] for r in records if r.get("counted")}
    score, left_out = glue_score(scores)
    reference_scores = {r["task"]: r["reference"].get("score") for r in records if r["task"] in scores}
    # Over the same tasks or not at all: a task without a reference makes the comparison moot.
    reference = glue_score(reference_scores)[0] if None not in reference_scores.values() else None
    reasons = {r["task"]: _reason(r) for r in records}
    means = {r["task"]: (r.get("score_stats") or {}).get("mean", r["score"]) for r in records if r.get("counted")}
    return {
        **({"glue_score_of_means": glue_score(means)[0]} if _multi(records) else {}),
        **header,
        "glue_score": score,
        "glue_tasks": sorted(scores, key=list(NAMES).index),
        "left_out": {task: reasons.get(task, "not in this batch") for task in left_out},
        "reference_glue_score_same_tasks": reference,
        "tasks": records,
    }


def _reason(record: dict) -> str:
    if record["status"] == "failed":
        return "failed: " + record.get("note", "").split("\n")[0][:300]
    if not record.get("counted"):
        return record.get("note") or record.get("how") or "not scored"
    return ""


def _short_reason(record: dict | None) -> str:
    if record is None:
        return "-"
    if record["status"] != "done":
        return record["status"]  # failed, no data, no model
    return "untrained" if record.get("how") == "untrained head" else "-"


def _multi(records: list[dict]) -> bool:
    """Whether any task ran over several seeds: the table then shows the spread."""
    return any(r.get("seeds") for r in records)


def _spread(record: dict) -> tuple[str, str]:
    """(seeds, mean ± std) cells of a task: '1' and '-' for a task run once."""
    s = record.get("score_stats")
    if not s:
        return ("1" if record.get("how") == "fine-tuned" else "-"), "-"
    return str(s["n"]), f"{s['mean']:.2f} ± {_pct(s['std'])}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _metrics_text(metrics: dict[str, float], names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"{METRIC_NAMES.get(n, n)} {100 * metrics[n]:.2f}" for n in names if n in metrics)


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}:{rest:02d}"


def markdown(result: dict) -> str:
    lines = [f"# GLUE: {result['model']}", ""]
    if result.get("samples"):
        lines += ["**SAMPLE DATA** (`data.source=sample`): the shipped 48-row samples, a smoke test of the batch, "
                  "not scores.", ""]
    settings = " ".join(result["overrides"]) or "none"
    lines += [f"Settings for every task: `{settings}`" + (
        "; per task: " + "; ".join(f"`{t}: {' '.join(o)}`" for t, o in result["task_overrides"].items())
        if result["task_overrides"] else ""), ""]
    references = {r["reference"].get("model") for r in result["tasks"] if r["reference"].get("model")}
    reference_head = f"reference ({', '.join(sorted(references))})" if references else "reference"
    multi = _multi(result["tasks"])
    if multi:
        lines += [(f"| task | seeds | metrics (dev, median over seeds) | score: median | mean ± std | {reference_head} | "
                   "train examples | train time (all seeds) | task wall time | notes |"),
                  "|---|---|---|---|---|---|---|---|---|---|"]
    else:
        lines += [f"| task | metrics (dev) | score | {reference_head} | train examples | train time | task wall time | notes |",
                  "|---|---|---|---|---|---|---|---|"]
    for r in result["tasks"]:
        names = TASK_SCORE_METRICS[r["task"]]
        note = "" if r.get("counted") else _reason(r).replace("|", "\\|")
        seeds, mean_std = _spread(r)
        lines.append(f"| {NAMES[r['task']]} | " + (f"{seeds} | " if multi else "") +
                     f"{_metrics_text(r['metrics'], names) or '-'} | {_pct(r['score'])} | " +
                     (f"{mean_std} | " if multi else "") +
                     f"{_pct(r['reference'].get('score'))} | {r.get('train_examples') or '-'} | "
                     f"{_time(r.get('train_seconds'))} | {_time(r.get('wall_seconds'))} | {note} |")
    lines.append("")
    if result["glue_score"] is None:
        lines.append("**GLUE score:** none: no task was scored.")
    else:
        counted = ", ".join(NAMES[t] for t in result["glue_tasks"])
        line = f"**GLUE score: {result['glue_score']:.2f}** (mean of the task scores of {counted})"
        if multi:
            line = (f"**GLUE score: {result['glue_score']:.2f}** (mean over {counted} of each task's median score "
                    f"over its seeds; over the means: {_pct(result['glue_score_of_means'])})")
        if result["left_out"]:
            by_reason: dict[str, list[str]] = {}
            for task, reason in result["left_out"].items():
                by_reason.setdefault(reason, []).append(NAMES[task])
            left = "; ".join(f"{', '.join(tasks)} ({reason})" for reason, tasks in by_reason.items())
            line += (f". Left out: {left}. So it is not the leaderboard's nine-task score; the reference over the "
                     f"same tasks: {_pct(result['reference_glue_score_same_tasks'])}")
        lines.append(line + ".")
    lines += ["", "A task's score is the GLUE benchmark's: the mean of F1 and accuracy (MRPC, QQP), of Pearson and "
              "Spearman correlation (STS-B), of matched and mismatched accuracy (MNLI), Matthews correlation (CoLA), "
              "accuracy otherwise; in percent. Train time counts the optimizer steps; task wall time adds the dev "
              "evaluations, the test predictions and loading."]
    if multi:
        lines += ["", _seeds_text(result["tasks"]), ""]
    sources = sorted({(r["reference"].get("model"), r["reference"].get("source")) for r in result["tasks"]
                      if r["reference"].get("source")})
    for model, source in sources:
        lines.append(f"Reference scores ({model}): {source}.")
    sub = result.get("submission", {})
    lines += ["", "## Leaderboard submission", ""]
    if sub.get("files"):
        lines.append(f"`{sub['zip']}` holds {', '.join(sub['files'])}.")
        if sub.get("missing"):
            lines.append(f"The leaderboard wants all eleven files; missing: {', '.join(sub['missing'])}.")
        if sub.get("partial"):
            lines.append(f"**Not for the leaderboard:** test sets capped at {sub['partial']} rows (data.max_predict_samples).")
    else:
        lines.append("No test predictions (no test files found).")
    lines += ["", "![scores](scores.png)", ""]
    return "\n".join(lines)


def _seeds_text(records: list[dict]) -> str:
    """The seeds paragraph and a row per task: every seed's score, and the seed that predicts the tests."""
    lines = [("Seeds: each task trained once per seed with the same settings; its score is the median over the seeds "
              "(as RoBERTa, Liu et al. 2019, reports dev results), mean ± std shows the spread (std: the sample "
              "standard deviation, n - 1 in the denominator). The seed with the best dev score predicts the test sets."),
             "", "| task | score of each seed | test predictions from |", "|---|---|---|"]
    for r in records:
        if r.get("seeds"):
            each = ", ".join(f"{s['seed']}: {_pct(s['score'])}" for s in r["seeds"])
            best = r.get("best_seed") or {}
            lines.append(f"| {NAMES[r['task']]} | {each} | {best.get('seed', '-')} (`{best.get('run', '-')}`) |")
    return "\n".join(lines)


CSV_COLUMNS = ["task", "status", "how", "score", "reference_score", "reference_model", "metrics", "train_examples",
               "train_seconds", "wall_seconds", "dev_examples", "counted", "note"]


SEED_COLUMNS = ["seeds", "score_mean", "score_std", "score_min", "score_max"]  # appended with seeds=N


def csv_text(result: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    multi = _multi(result["tasks"])
    writer.writerow(CSV_COLUMNS + (SEED_COLUMNS if multi else []))
    for r in result["tasks"]:
        s = r.get("score_stats") or {}
        spread = [len(r.get("seeds") or []) or "", *(_round(s.get(k)) for k in ("mean", "std", "min", "max"))]
        writer.writerow([r["task"], r["status"], r.get("how") or "", _round(r["score"]), _round(r["reference"].get("score")),
                         r["reference"].get("model") or "", json.dumps({k: round(v, 6) for k, v in r["metrics"].items()}),
                         r.get("train_examples") or "", r.get("train_seconds") or "", r.get("wall_seconds") or "",
                         r.get("dev_examples") or "",
                         int(bool(r.get("counted"))), r.get("note") or ""] + (spread if multi else []))
    writer.writerow(["glue", "", "", _round(result["glue_score"]), _round(result["reference_glue_score_same_tasks"]), "",
                     "", "", "", "", "", "", "left out: " + ", ".join(result["left_out"]) if result["left_out"] else ""]
                    + (["", _round(result.get("glue_score_of_means")), "", "", ""] if multi else []))
    return out.getvalue()


def _round(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def chart(result: dict, path: Path) -> None:
    """Bars of each task's score beside the reference's, and the GLUE score over the same tasks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    records = result["tasks"]
    labels = [NAMES[r["task"]] for r in records] + ["GLUE\n(same tasks)"]
    ours = [r["score"] if r.get("counted") else np.nan for r in records] + [result["glue_score"] or np.nan]
    refs = [r["reference"].get("score") or np.nan for r in records] + [result["reference_glue_score_same_tasks"] or np.nan]
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(labels)), 4.6))
    spread = [((r.get("score_stats") or {}).get("std") or 0) if r.get("counted") else 0 for r in records] + [0]
    bars = ax.bar(x - 0.2, ours, 0.4, label=result["model"], color="tab:blue",
                  yerr=spread if _multi(records) else None, capsize=3)  # with seeds: ± the sample std
    ax.bar(x + 0.2, refs, 0.4, label="reference: " + ", ".join(
        sorted({r["reference"]["model"] for r in records if r["reference"].get("model")})), color="tab:gray", alpha=0.6)
    for bar, value, record, err in zip(bars, ours, records + [None], spread):
        text = f"{value:.1f}" if not np.isnan(value) else _short_reason(record)
        ax.annotate(text, (bar.get_x() + bar.get_width() / 2, 0 if np.isnan(value) else max(value, 0) + err),
                    ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, labels)
    ax.set_ylabel("dev score (%)")
    ax.set_ylim(min(0, np.nanmin(ours + refs + [0])) - 5, 105)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_title("GLUE dev scores" + (" (median over seeds, ± sample std)" if _multi(records) else "")
                 + (" (sample data: not scores)" if result.get("samples") else ""))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(f".tmp-{path.name}")
    fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    os.replace(tmp, path)


def write_all(folder: Path, result: dict) -> None:
    for name, text in (("results.json", json.dumps(result, indent=1)), ("results.csv", csv_text(result)),
                       ("results.md", markdown(result))):
        tmp = folder / f".tmp-{name}"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, folder / name)
    chart(result, folder / "scores.png")
