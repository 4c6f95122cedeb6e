"""Length-grouped batches: little padding, every example once per epoch, a fresh order each epoch."""

from __future__ import annotations

import random

from finetune.engine.batching import EpochSampler


def _pad_fraction(order: list[int], lengths: list[int], batch: int) -> float:
    batches = [order[i:i + batch] for i in range(0, len(order), batch)]
    real = sum(lengths[i] for b in batches for i in b)
    return 1 - real / sum(max(lengths[i] for i in b) * len(b) for b in batches)


def test_length_groups_pad_little_and_keep_the_shuffle():
    rng = random.Random(0)
    lengths = [min(66, max(3, int(rng.lognormvariate(2.4, 0.6)))) for _ in range(40000)]  # like SST-2's
    grouped = list(EpochSampler(lengths, 32, seed=1, group_by_length=True, megabatch=200))
    transformers_default = list(EpochSampler(lengths, 32, seed=1, group_by_length=True, megabatch=50))
    unsorted = list(EpochSampler(lengths, 32, seed=1, group_by_length=False, megabatch=200))
    assert sorted(grouped) == list(range(40000))
    pads = [_pad_fraction(o, lengths, 32) for o in (grouped, transformers_default, unsorted)]
    assert pads[0] < 0.03 and pads[0] < pads[1] < pads[2]
    # Batch order is shuffled, not sorted by length, and changes with the epoch.
    maxima = [max(lengths[i] for i in grouped[j:j + 32]) for j in range(32, 40000 - 32, 32)]
    assert maxima != sorted(maxima) and maxima != sorted(maxima, reverse=True)
    sampler = EpochSampler(lengths, 32, seed=1, group_by_length=True, megabatch=200)
    sampler.set_epoch(1)
    assert list(sampler) != grouped
    # A small set is never sorted whole (its batches would repeat every epoch): at least four groups.
    small = lengths[:640]
    assert _pad_fraction(list(EpochSampler(small, 32, 1, True, megabatch=200)), small, 32) > 0.05
