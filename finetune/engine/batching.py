"""Batches: length-grouped shuffling (few pad tokens, randomness kept) and dynamic padding."""

from __future__ import annotations

from typing import Any

import torch
from datasets import Dataset
from torch.utils.data import DataLoader, Sampler
from transformers import DataCollatorWithPadding
from transformers.trainer_pt_utils import get_length_grouped_indices


class EpochSampler(Sampler):
    """A shuffle that depends only on (seed, epoch): a resumed run replays the same order and can
    skip the batches it already trained on. With group_by_length, batches hold sentences of similar
    length (transformers' megabatch grouping), so dynamic padding adds few pad tokens."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int, group_by_length: bool, megabatch: int):
        self.lengths = lengths
        self.batch_size = batch_size
        self.seed = seed
        self.group_by_length = group_by_length
        self.megabatch = megabatch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        if not self.group_by_length:
            return iter(torch.randperm(len(self.lengths), generator=generator).tolist())
        # As transformers does, at least four megabatches an epoch (a small set is never sorted whole:
        # its batches would be the same every epoch); up to `megabatch` batches each (transformers: 50).
        megabatch = max(1, min(len(self.lengths) // (self.batch_size * 4), self.megabatch))
        grouped = get_length_grouped_indices(self.lengths, self.batch_size, mega_batch_mult=megabatch,
                                             generator=generator)
        # transformers leaves each megabatch sorted long -> short: in a short run that is a
        # curriculum, not a shuffle. Keep the batches, shuffle their order (the longest stays
        # first, so running out of memory shows at once).
        batches = [grouped[i:i + self.batch_size] for i in range(0, len(grouped), self.batch_size)]
        if len(batches) > 2:
            # A short last batch stays last: it must not land where accumulation windows expect full ones.
            tail = [batches[-1]] if len(batches[-1]) < self.batch_size else []
            body = batches[1:len(batches) - len(tail)]
            order = torch.randperm(len(body), generator=generator).tolist()
            batches = [batches[0]] + [body[i] for i in order] + tail
        return iter([i for batch in batches for i in batch])


class _LeftPaddedPositions:
    """With left padding, a model would number the pads first and shift every real token's
    position; position ids counted from the attention mask give each token the position it has
    unpadded (GPT-2, Llama). Right padding needs nothing: real tokens come first anyway."""

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, features):
        batch = self.inner(features)
        batch["position_ids"] = (batch["attention_mask"].long().cumsum(-1) - 1).clamp(min=0)
        return batch


def collator(tokenizer, on_gpu: bool, collator_class=DataCollatorWithPadding):
    """Dynamic padding with the adapter's transformers collator (token labels need their own)."""
    # Multiples of 8 let tensor cores work on GPU; on CPU every pad token is wasted time.
    pad = collator_class(tokenizer, pad_to_multiple_of=8 if on_gpu else None)
    return _LeftPaddedPositions(pad) if tokenizer.padding_side == "left" else pad


def _loader(dataset: Dataset, batch_size: int, collate, sampler) -> DataLoader:
    # An explicit generator keeps DataLoader from drawing its base seed from the global RNG, so
    # creating a loader (at an epoch start, or mid-epoch on resume) never shifts dropout masks.
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate,
                      generator=torch.Generator().manual_seed(0))


def batchable(features: Dataset, drop: tuple[str, ...]) -> Dataset:
    present = [c for c in drop if c in features.column_names]
    return features.remove_columns(present) if present else features


def train_loader(features: Dataset, batch_size: int, seed: int, group_by_length: bool, megabatch: int, collate, drop=(),
                 micro_batch_size: int | None = None):
    """micro_batch_size (a divisor of batch_size): the loader yields each batch of the sampler in
    consecutive pieces of that size, so accumulating them gives exactly the same batches."""
    sampler = EpochSampler(features["length"], batch_size, seed, group_by_length, megabatch)
    return _loader(batchable(features, drop), micro_batch_size or batch_size, collate, sampler), sampler


def eval_loader(features: Dataset, batch_size: int, collate, drop=()) -> DataLoader:
    """Longest first, so batches pad little and an out-of-memory error shows at once; `row`
    restores feature order after gathering. `drop`: columns kept for decode, never batched."""
    ordered = batchable(features, drop).add_column("row", list(range(len(features)))).sort("length", reverse=True)
    return _loader(ordered, batch_size, collate, None)


def real_rows(batch: dict[str, torch.Tensor], accelerator: Any) -> int:
    """How many of this process's rows of a batch just drawn are real. Under several processes the
    last batch is topped up with repeats of the first samples so every process gets as many;
    gather_for_metrics drops them from the outputs (it keeps the first `remainder` rows of the
    gathered batch, process 0's first), and neither training nor the loss may count them. Ask right
    after drawing: accelerate marks the last batch as it hands it out."""
    rows = len(batch["input_ids"])
    state = accelerator.gradient_state
    if accelerator.num_processes == 1 or not state.end_of_dataloader or state.remainder <= 0:
        return rows
    return max(0, min(rows, state.remainder - accelerator.process_index * rows))


def real_part(batch: dict, accelerator) -> tuple[dict, bool]:
    """(batch, filler): the batch without the repeats that top up the last one under several
    processes; filler=True when this process holds only repeats: it still runs the batch, for the
    gradient all-reduce, with its loss zeroed. One process or a full batch: the batch as it is."""
    real = real_rows(batch, accelerator)
    if real == len(batch["input_ids"]):
        return batch, False
    if real == 0:
        return batch, True
    return {k: v[:real] for k, v in batch.items()}, False
