"""The run's record: log.jsonl (one line per logging step and per evaluation) and curves.png."""

from __future__ import annotations

import json
from pathlib import Path


class RunLog:
    def __init__(self, path: Path, enabled: bool):
        self.path = path
        self.enabled = enabled

    def truncate_after(self, step: int) -> None:
        """On resume, drop what the killed run logged after its last checkpoint: it will be redone."""
        if not self.enabled or not self.path.exists():
            return
        kept = [json.dumps(r) for r in self.records() if r.get("step", 0) <= step]
        tmp = self.path.with_name(f".tmp-{self.path.name}")
        tmp.write_text("".join(line + "\n" for line in kept))
        tmp.replace(self.path)  # a kill now leaves the old log or the new one, never half

    def write(self, record: dict) -> None:
        if self.enabled:
            with self.path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [record for line in self.path.read_text().splitlines() if (record := _parse(line)) is not None]


def _parse(line: str) -> dict | None:
    """A log line; None for an empty one or the torn last line of a run killed while appending it."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def plot_curves(log: RunLog, primary: str, out: Path) -> None:
    """Training loss and the dev primary metric against optimizer steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    records = log.records()
    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    evals = [(r["step"], r["eval"][primary]) for r in records if primary in r.get("eval", {})]
    eval_loss = [(r["step"], r["eval"]["loss"]) for r in records if "loss" in r.get("eval", {})]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    if train:
        left.plot(*zip(*train), marker="." if len(train) < 20 else None, label="train loss")  # a short run: points show
    if eval_loss:
        left.plot(*zip(*eval_loss), marker="o", label="dev loss")
    left.set_xlabel("optimizer step")
    left.set_ylabel("loss")
    left.legend()
    left.grid(alpha=0.3)
    if evals:
        right.plot(*zip(*evals), marker="o", color="tab:green")
    right.set_xlabel("optimizer step")
    right.set_ylabel(f"dev {primary}")
    right.grid(alpha=0.3)
    for axis in (left, right):  # steps are whole numbers: no 2.5 on a short run's axis
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(out.parent.name)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
