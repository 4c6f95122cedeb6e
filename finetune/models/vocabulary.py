"""Vocabulary extension (vocab.add_tokens): characters the tokenizer maps to its unknown token become
tokens of their own, with embedding rows that train with the rest of the model.

The packaged MiniLM is English: half of the characters of Chinese text are [UNK] to it, so a model
cannot tell 苏 from 轼. The new tokens are transformers' added tokens (`tokenizer.add_tokens`):
the fast tokenizer matches them before its own model runs, keeps exact character offsets for them,
and saves them in tokenizer.json, so a saved tokenizer loads with plain `AutoTokenizer`.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch

from finetune.config.schema import VocabConfig
from finetune.errors import InputError

BATCH = 2000  # texts a tokenizer call, for the scans


@dataclass
class Coverage:
    """How much of a text the tokenizer sees: non-space characters, and those inside unknown tokens."""

    characters: int = 0
    unknown: int = 0  # characters that fall inside an unknown token
    distinct: int = 0
    distinct_unknown: int = 0
    tokens: int = 0

    @property
    def share(self) -> float:
        return self.unknown / self.characters if self.characters else 0.0

    def record(self) -> dict:
        return {**asdict(self), "unknown_share": round(self.share, 6),
                "tokens_per_character": round(self.tokens / self.characters, 4) if self.characters else 0.0}


@dataclass
class Extension:
    """What vocab.add_tokens did: the tokens added (in id order), from where, and the unknown text before and after."""

    source: str  # auto, the token file, or the checkpoint the run resumed from
    added: list[str]
    size_before: int
    size_after: int
    init: str
    before: dict[str, Coverage] = field(default_factory=dict)  # per split
    after: dict[str, Coverage] = field(default_factory=dict)
    note: str = ""  # why nothing was added, when nothing was

    def record(self) -> dict:
        """For metrics.json and the model card."""
        return {"source": self.source, "added": len(self.added), "vocabulary_before": self.size_before,
                "vocabulary_after": self.size_after, "init": self.init, "first_added": "".join(self.added[:40])
                if all(len(t) == 1 for t in self.added[:40]) else self.added[:40],
                "unknown_before": {name: c.record() for name, c in self.before.items()},
                "unknown_after": {name: c.record() for name, c in self.after.items()},
                **({"note": self.note} if self.note else {})}

    def describe(self) -> str:
        shares = ", ".join(f"{name} {self.before[name].share:.1%} -> {self.after[name].share:.1%}" for name in self.before)
        if not self.added:
            return f"Vocabulary (vocab.add_tokens={self.source}): nothing added; {self.note} Unknown text: {shares}."
        return (f"Vocabulary (vocab.add_tokens={self.source}): {len(self.added)} tokens added "
                f"({self.size_before} -> {self.size_after}; new embedding rows: {self.init}), e.g. "
                f"{' '.join(self.added[:12])}. Unknown text (share of non-space characters): {shares}.")


# Characters no vocabulary has (a rare CJK Extension B character, a private-use one; BERT's
# normalizer drops the latter): only a byte-level tokenizer spells them without its unknown token.
PROBE = ["\U0002A6A5", "\ue000"]


def _unk_id(tokenizer: Any) -> int | None:
    """The unknown token's id, when the tokenizer ever produces it. SmolLM2 names an unknown token
    but, byte-level, never emits it: None there."""
    if tokenizer.unk_token is None:
        return None
    encoded = tokenizer(PROBE, add_special_tokens=False, verbose=False)["input_ids"]
    return tokenizer.unk_token_id if any(tokenizer.unk_token_id in ids for ids in encoded) else None


def coverage(tokenizer: Any, texts: list[str]) -> Coverage:
    """Characters of `texts` inside unknown tokens, by the tokenizer's own offsets (a word that
    becomes one [UNK] counts with all its characters)."""
    unk = _unk_id(tokenizer)
    seen: set[str] = set()
    unseen: set[str] = set()
    out = Coverage()
    for i in range(0, len(texts), BATCH):
        chunk = texts[i:i + BATCH]
        encoded = tokenizer(chunk, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        for text, ids, offsets in zip(chunk, encoded["input_ids"], encoded["offset_mapping"]):
            out.tokens += len(ids)
            chars = [c for c in text if not c.isspace()]
            out.characters += len(chars)
            seen.update(chars)
            if unk is None:
                continue
            for token_id, (start, end) in zip(ids, offsets):
                if token_id == unk:
                    inside = [c for c in text[start:end] if not c.isspace()]
                    out.unknown += len(inside)
                    unseen.update(inside)
    out.distinct, out.distinct_unknown = len(seen), len(unseen)
    return out


def _normalized(tokenizer: Any, char: str) -> str:
    """The character as the tokenizer's normalizer leaves it (lower case, accents stripped for an
    uncased BERT): added tokens are matched against normalized text."""
    normalizer = getattr(getattr(tokenizer, "backend_tokenizer", None), "normalizer", None)
    return (normalizer.normalize_str(char) if normalizer is not None else char).strip()


def unknown_characters(tokenizer: Any, texts: Iterable[str], min_count: int) -> list[tuple[str, int]]:
    """(character, count) of every character the tokenizer maps to its unknown token, seen at least
    min_count times, the most frequent first (ties in code point order, so the ids are reproducible)."""
    unk = _unk_id(tokenizer)
    if unk is None:
        return []
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(text)
    forms: Counter[str] = Counter()
    for char, n in counts.items():
        form = _normalized(tokenizer, char)
        if form and not any(c.isspace() for c in form) and unicodedata.category(form[0]) != "Cc":
            forms[form] += n
    candidates = sorted(forms)
    unknown = []
    for i in range(0, len(candidates), BATCH):
        chunk = candidates[i:i + BATCH]
        for form, ids in zip(chunk, tokenizer(chunk, add_special_tokens=False, verbose=False)["input_ids"]):
            if unk in ids and forms[form] >= min_count:
                unknown.append((form, forms[form]))
    return sorted(unknown, key=lambda item: (-item[1], item[0]))


def _added_token(tokenizer: Any, token: str) -> Any:
    """A caseless token the normalizer leaves alone (Chinese characters, symbols) is matched in the
    raw text: its token string is then the character itself, not BERT's space-padded normalized
    form, which the token-classification pipeline would take for a sub-word. A token with case is
    matched after normalization, so that both cases find its lower-case form."""
    from tokenizers import AddedToken

    # (BERT's normalizer puts spaces around every Chinese character: those do not count as a change.)
    caseless = token.lower() == token.upper() and "".join(_normalized(tokenizer, token).split()) == token
    return AddedToken(token, normalized=not caseless)


def read_token_file(path: str) -> list[str]:
    """One token a line, UTF-8; blank lines are skipped. Anything else stops with the line to fix."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError(f"vocab.add_tokens={path}: no such file. Give off, auto, or a file with one token a line.")
    raw = file.read_bytes()
    tokens = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            text = line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}, line {number}: not UTF-8 (byte {line[exc.start]:#x} at column {exc.start + 1}). "
                             f"Save the token file as UTF-8.") from exc
        token = text.strip()
        if not token:
            continue
        if any(c.isspace() for c in token):
            raise InputError(f"{path}, line {number}: {text!r} holds whitespace; give one token a line, without "
                             f"spaces or tabs inside it.")
        tokens.append(token)
    if not tokens:
        raise InputError(f"{path}: no tokens in it. Give one token a line, or vocab.add_tokens=off.")
    return list(dict.fromkeys(tokens))


def tokens_in(folder: Path, base_size: int) -> list[str] | None:
    """The tokens a saved tokenizer (a checkpoint's) added to a base vocabulary of base_size, in id
    order; None when the folder holds no tokenizer."""
    if not (folder / "tokenizer_config.json").is_file():
        return None
    from transformers import AutoTokenizer

    saved = AutoTokenizer.from_pretrained(str(folder))
    added = sorted((i, t) for t, i in saved.get_added_vocab().items() if i >= base_size)
    return [t for _, t in added]


def extend(settings: VocabConfig, tokenizer: Any, texts: dict[str, list[str]],
           resumed: tuple[str, list[str]] | None = None) -> Extension:
    """Add the tokens (auto: the unknown characters of texts['train']; a file: its tokens; resumed:
    the list a checkpoint holds) to the tokenizer, in place, and measure every split before and after."""
    size_before = len(tokenizer)
    before = {name: coverage(tokenizer, split_texts) for name, split_texts in texts.items()}
    note = ""
    if resumed is not None:
        source, tokens = resumed
    elif settings.add_tokens == "auto":
        source = "auto"
        found = unknown_characters(tokenizer, texts.get("train", []), settings.min_count)
        tokens = [char for char, _ in found][:settings.max_tokens]
        if _unk_id(tokenizer) is None:
            note = ("the tokenizer has no unknown token: it spells every character in bytes (byte-level BPE, "
                    "GPT-2 / SmolLM2), so no text is unknown to it. A token file (vocab.add_tokens=FILE) still adds "
                    "tokens, e.g. frequent words, to shorten sequences.")
        elif not tokens:
            note = f"no character of the training text that the tokenizer maps to {tokenizer.unk_token} occurs {settings.min_count}+ times."
    else:
        source = settings.add_tokens
        tokens = read_token_file(settings.add_tokens)
    vocab = tokenizer.get_vocab()
    new = [t for t in tokens if t not in vocab]
    if tokens and not new:
        note = "every token of the list is in the vocabulary already."
    tokenizer.add_tokens([_added_token(tokenizer, t) for t in new])
    after = {name: coverage(tokenizer, split_texts) for name, split_texts in texts.items()} if new else before
    init = "mean" if settings.init == "unk" and _unk_id(tokenizer) is None else settings.init
    return Extension(source, new, size_before, len(tokenizer), init, before, after, note)


def _draw_like(rows: torch.Tensor, n: int) -> torch.Tensor:
    """n rows drawn from a normal distribution with the mean and covariance of `rows` (a small
    jitter keeps the covariance positive definite); torch's generator, so the run's seed decides."""
    old = rows.detach().float()
    mean = old.mean(0)
    centred = old - mean
    covariance = centred.T @ centred / max(old.shape[0] - 1, 1)
    covariance += 1e-6 * torch.eye(old.shape[1])
    draw = torch.distributions.MultivariateNormal(mean, covariance_matrix=covariance).sample((n,))
    return draw.to(rows.dtype)


def resize(model: Any, extension: Extension, tokenizer: Any) -> None:
    """Embedding rows for the added tokens. init=unk: a copy of the unknown token's row, so the model
    starts exactly where it was on text where these characters were unknown; mean: transformers'
    mean_resizing (rows drawn around the mean of the old rows); random: drawn like the old rows."""
    if not extension.added:
        return
    # A model whose embedding matrix is padded beyond its tokenizer has rows for the first few already.
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=extension.init == "mean")
    if extension.init == "random":
        first, last = extension.size_before, extension.size_after
        with torch.no_grad():
            for embeddings in (model.get_input_embeddings(), model.get_output_embeddings()):
                if embeddings is not None and embeddings.weight.shape[0] >= last:
                    embeddings.weight[first:last] = _draw_like(embeddings.weight[:first], last - first)
    if extension.init == "unk":
        unk, first, last = tokenizer.unk_token_id, extension.size_before, extension.size_after
        with torch.no_grad():
            for embeddings in (model.get_input_embeddings(), model.get_output_embeddings()):
                if embeddings is not None and embeddings.weight.shape[0] >= last:
                    embeddings.weight[first:last] = embeddings.weight[unk]
