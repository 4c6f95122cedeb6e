"""The bench's memory table: resident memory sampled through a long run, not only its peak.

Growth shows only over hundreds of steps (allocator fragmentation under changing batch shapes,
evaluation buffers), so the bench's 15-step SQuAD row cannot see it: this run trains a few hundred
steps with evaluations in between, samples RSS twice a second, and reports it early, late and at
its peak, once per FINETUNE_MALLOC policy asked for (finetune/engine/allocator.py)."""

from __future__ import annotations

import os
import statistics
import threading
import time
from typing import Callable


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class RssTrace:
    """(step, RSS MB) every `every` seconds from a thread, until stop()."""

    def __init__(self, step: Callable[[], int], every: float = 0.5):
        self.step, self.every = step, every
        self.samples: list[tuple[int, float]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.is_set():
            self.samples.append((self.step(), rss_mb()))
            time.sleep(self.every)

    def stop(self, steps: int) -> dict:
        """Medians over steps 10-30% (early, after the first steps' set-up) and the last 20% (late)."""
        self._done.set()
        self._thread.join()
        early = [mb for step, mb in self.samples if 0.1 * steps <= step < 0.3 * steps]
        late = [mb for step, mb in self.samples if step >= 0.8 * steps]
        stride = max(1, len(self.samples) // 200)
        out = {"trace": [[step, round(mb)] for step, mb in self.samples[::stride]]}
        if early and late:
            out.update(rss_early_mb=statistics.median(early), rss_late_mb=statistics.median(late))
            out["growth_mb"] = out["rss_late_mb"] - out["rss_early_mb"]
        return out


def table(record: dict) -> list[str]:
    lines = [f"### Memory over a long run: {record['task']}, batch {record['batch_size']}, {record['steps']} steps, "
             f"a dev evaluation every {record['eval_every']} steps ({record['eval_questions']} questions)", "",
             "| allocator | s/step (evaluations included) | RSS, steps 10-30% (MB) | RSS, last 20% (MB) | growth (MB) | peak RSS (MB) | dev f1 |",
             "|---|---|---|---|---|---|---|"]
    for name, result in record["runs"].items():
        f1 = (result.get("dev") or {}).get("f1")
        lines.append(f"| {name}: {result.get('allocator') or '-'} | {result['seconds'] / max(result['timed_steps'], 1):.2f} "
                     f"| {result.get('rss_early_mb', float('nan')):.0f} | {result.get('rss_late_mb', float('nan')):.0f} "
                     f"| {result.get('growth_mb', float('nan')):+.0f} | {result['peak_rss_mb']:.0f} "
                     f"| {'-' if f1 is None else f'{f1:.2f}'} |")
    return lines
