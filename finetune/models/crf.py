"""A linear-chain CRF over BIO tags: its log-likelihood in torch, Viterbi decoding in numpy.

Written here rather than taken from pytorch-crf because two things NER needs are not in it:
transitions that forbid invalid BIO moves (I-X only after B-X or I-X, never first), and chains that
are a piece of a longer sentence. A sentence longer than the model is cut into windows; a window's
chain (the words it owns) opens the sentence or continues it, and closes it or not, so the start
and end scores apply only where the chain really starts or ends the sentence (otherwise a window
that begins inside an entity could not be scored at all). Decoding runs once over the whole
sentence, on each word's scores from the window that owns it: the windows are merged exactly.

Scores: a path y_1..y_n scores start[y_1] (if it opens the sentence) + sum_t emission[t, y_t] +
sum_t transition[y_{t-1}, y_t] + end[y_n] (if it closes the sentence); the loss is
log Z - score(gold), Z summing exp(score) over every path (the forward algorithm). Forbidden moves
score FORBIDDEN, not -inf, so that the log-sum-exp and its gradient stay finite.
"""

from __future__ import annotations

import numpy as np
import torch

FORBIDDEN = -1.0e4


def allowed_moves(labels: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(allowed[i, j]: tag j may follow tag i; allowed_first[j]: a sentence may start with tag j).
    BIO: I-X follows only B-X or I-X. Tags outside BIO (no B-/I- prefix) are unconstrained."""
    def inside(tag: str) -> str | None:
        return tag[2:] if tag.startswith("I-") else None

    size = len(labels)
    allowed = torch.ones(size, size, dtype=torch.bool)
    first = torch.ones(size, dtype=torch.bool)
    for j, tag in enumerate(labels):
        kind = inside(tag)
        if kind is None:
            continue
        first[j] = False
        for i, previous in enumerate(labels):
            allowed[i, j] = previous in (f"B-{kind}", f"I-{kind}")
    return allowed, first


class LinearChainCRF(torch.nn.Module):
    """Transition, start and end scores (learned, zero at first) for `labels`."""

    def __init__(self, labels: list[str]):
        super().__init__()
        size = len(labels)
        self.transitions = torch.nn.Parameter(torch.zeros(size, size))
        self.start = torch.nn.Parameter(torch.zeros(size))
        self.end = torch.nn.Parameter(torch.zeros(size))
        allowed, first = allowed_moves(labels)
        # Not learned and rebuilt from the labels on load: buffers kept out of the saved state.
        self.register_buffer("allowed", allowed, persistent=False)
        self.register_buffer("allowed_first", first, persistent=False)

    def scores(self) -> torch.Tensor:
        """[labels + 2, labels]: the transitions with forbidden moves at FORBIDDEN, then the start
        and end rows: what the loss and Viterbi read (and what the model returns beside its logits)."""
        forbidden = torch.tensor(FORBIDDEN, device=self.transitions.device)
        transitions = torch.where(self.allowed, self.transitions, forbidden)
        start = torch.where(self.allowed_first, self.start, forbidden)
        return torch.cat([transitions, start[None], self.end[None]]).float()


def unpack(scores):
    """transitions, start, end of a scores() matrix (torch or numpy)."""
    size = scores.shape[-1]
    return scores[:size], scores[size], scores[size + 1]


def negative_log_likelihood(emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor, scores: torch.Tensor,
                            opens: torch.Tensor, closes: torch.Tensor) -> torch.Tensor:
    """log Z - score(gold) of each chain: emissions [B, T, L], tags [B, T], mask [B, T] (a chain's
    words first: True up to its length, which may be 0), opens / closes [B] (bool)."""
    transitions, start, end = unpack(scores)
    emissions = emissions.float()
    batch, length, _ = emissions.shape
    if length == 0:  # no chain has a word: zero, still attached to the graph (backward must run)
        return emissions.sum((1, 2))
    lengths = mask.sum(1)
    rows = torch.arange(batch, device=emissions.device)
    tags = tags.clamp(min=0)  # masked slots hold anything; they are never counted
    opened = opens.float()
    # The gold path's score.
    gold = emissions.gather(2, tags.unsqueeze(-1)).squeeze(-1)  # [B, T]
    steps = transitions[tags[:, :-1], tags[:, 1:]]  # [B, T - 1]
    gold = (gold * mask).sum(1) + (steps * mask[:, 1:]).sum(1) + opened * start[tags[:, 0]]
    last = tags[rows, (lengths - 1).clamp(min=0)]
    gold = gold + closes.float() * end[last]
    # The forward algorithm: alpha[b, j] = log-sum of every path's score ending in tag j.
    alpha = emissions[:, 0] + opened[:, None] * start
    for t in range(1, length):
        step = torch.logsumexp(alpha[:, :, None] + transitions[None], dim=1) + emissions[:, t]
        alpha = torch.where(mask[:, t, None], step, alpha)
    log_z = torch.logsumexp(alpha + closes.float()[:, None] * end, dim=1)
    return torch.where(lengths > 0, log_z - gold, torch.zeros_like(gold))


def viterbi(emissions: np.ndarray, scores: np.ndarray) -> list[int]:
    """The best tag path of one whole sentence (opens and closes it): emissions [n, L]."""
    transitions, start, end = unpack(np.asarray(scores, dtype=np.float64))
    emissions = np.asarray(emissions, dtype=np.float64)
    if len(emissions) == 0:
        return []
    best = start + emissions[0]
    back = []
    for t in range(1, len(emissions)):
        candidates = best[:, None] + transitions  # [from, to]
        back.append(candidates.argmax(0))
        best = candidates.max(0) + emissions[t]
    path = [int((best + end).argmax())]
    for pointers in reversed(back):
        path.append(int(pointers[path[-1]]))
    return path[::-1]
