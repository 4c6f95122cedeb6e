"""crf=true: a linear-chain CRF on the token classifier of NER (finetune/models/crf.py has the math).

The chain runs over a sentence's words, each scored at its first subword (the tokens that carry
labels). Training: each window's chain is the words it owns, scored with the sentence's start and
end only where the window holds them (the `sentence_edges` feature); the loss is the chains' summed
negative log-likelihood, divided by the labelled words like the plain loss, so the dev loss is the
CRF's negative log-likelihood per word. Decoding: every word takes its scores from the window that
owns it and Viterbi runs once over the whole sentence, so windows are merged exactly.

The saved model is transformers' ...ForTokenClassification (pipeline loads it, and tags by the
argmax of each word, without the CRF) plus crf.safetensors: the transition, start and end scores
with the forbidden BIO moves already at FORBIDDEN, so that the model card's Viterbi needs no rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForTokenClassification
from transformers.modeling_outputs import TokenClassifierOutput

from finetune.errors import InputError
from finetune.metrics import ner as ner_metrics
from finetune.models import crf
from finetune.models.wrapper import Wrapper

CRF_FILE = "crf.safetensors"
IGNORED = -100


@dataclass
class CrfOutput(TokenClassifierOutput):
    # The CRF's scores (crf.LinearChainCRF.scores), repeated for every row: an output per feature
    # is what evaluation gathers across processes and hands to decode.
    crf: torch.Tensor | None = None


class CrfTokenClassifier(Wrapper):
    """transformers' token classifier with a CRF on its logits (the emissions)."""

    inner_name = "tagger"

    def __init__(self, inner):
        super().__init__(inner)
        self.labels = [inner.config.id2label[i] for i in range(inner.config.num_labels)]
        self.crf = crf.LinearChainCRF(self.labels)

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        model = cls(AutoModelForTokenClassification.from_pretrained(path, **kwargs))
        saved = Path(path) / CRF_FILE
        if saved.is_file():
            model.crf.load_state_dict(load_file(str(saved)))
        return model

    def forward(self, **inputs) -> CrfOutput:
        logits = self.tagger(**inputs).logits
        scores = self.crf.scores()
        return CrfOutput(logits=logits, crf=scores.expand(logits.shape[0], *scores.shape))

    def save_pretrained(self, folder, state_dict=None, **kwargs):
        super().save_pretrained(folder, state_dict=state_dict, **kwargs)
        saved = self.crf
        if state_dict is not None:  # what the caller gathered (every process's shards), not this process's copy
            saved = crf.LinearChainCRF(self.labels)
            saved.load_state_dict({k.removeprefix("crf."): v.cpu() for k, v in state_dict.items() if k.startswith("crf.")})
        transitions, start, end = crf.unpack(saved.scores().detach().cpu())
        save_file({"transitions": transitions.contiguous(), "start": start.contiguous(), "end": end.contiguous()},
                  str(Path(folder) / CRF_FILE))

    # vocab.add_tokens and train.embedding_lr reach the embeddings through these.
    def get_input_embeddings(self):
        return self.tagger.get_input_embeddings()

    def get_output_embeddings(self):
        return self.tagger.get_output_embeddings()

    def resize_token_embeddings(self, *args, **kwargs):
        return self.tagger.resize_token_embeddings(*args, **kwargs)


def chains(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each row's labelled positions moved to the front, in order: emissions [B, T, L], tags [B, T]
    and mask [B, T], T the most labelled positions of a row."""
    keep = labels != IGNORED
    lengths = keep.sum(1)
    rows, cols = keep.nonzero(as_tuple=True)
    slots = (keep.cumsum(1) - 1)[rows, cols]
    size = int(lengths.max()) if len(lengths) else 0
    emissions = logits.new_zeros(logits.shape[0], size, logits.shape[-1])
    emissions[rows, slots] = logits[rows, cols]
    tags = labels.new_zeros(labels.shape[0], size)
    tags[rows, slots] = labels[rows, cols]
    mask = torch.arange(size, device=labels.device)[None] < lengths[:, None]
    return emissions, tags, mask


class Crf:
    """The NER adapter's part for crf=true (a mixin: the adapter's options have `crf`)."""

    def _check_crf(self) -> None:
        o = self.options
        if not o.crf:
            return
        if o.label_all_tokens:
            raise InputError("crf=true chains a sentence's words, scored at their first subwords; label_all_tokens=true "
                             "labels every subword. Set one of them to false.")
        if o.class_weights is not None:
            raise InputError("crf=true trains by the likelihood of whole tag sequences, which has no per-tag weight; "
                             "drop class_weights, or set crf=false.")
        self.model_class = CrfTokenClassifier
        self.output_keys = ("logits", "crf")
        self.label_keys = ("labels", "sentence_edges")

    def repair_gold(self, tags: list[list[str]]) -> list[list[str]]:
        """BIO with an I-X that starts an entity (after O or another type) rewritten as B-X, the
        entity conlleval reads there: the CRF forbids that move, so a gold path must not make it.
        Scores are unchanged (conlleval reads both alike)."""
        if not self.options.crf:
            return tags
        return [ner_metrics.to_bio(sentence, "iob1") for sentence in tags]

    def crf_loss(self, outputs, batch) -> torch.Tensor:
        emissions, tags, mask = chains(outputs.logits.float(), batch["labels"])
        edges = batch["sentence_edges"].bool()
        nll = crf.negative_log_likelihood(emissions, tags, mask, outputs.crf[0].float(), edges[:, 0], edges[:, 1])
        return nll.sum()

    def crf_decode(self, examples, features, outputs) -> list[list[str]]:
        """Viterbi over each sentence's words, every word's emissions from the window owning it."""
        words = examples[self.options.tokens_column]
        emissions: list[dict[int, np.ndarray]] = [{} for _ in words]
        scores = None
        for feature, (example, word_index) in enumerate(zip(features["example_index"], features["word_index"])):
            logits = outputs["logits"][feature]
            scores = outputs["crf"][feature]
            for k, w in enumerate(word_index):
                if w >= 0:
                    emissions[example][w] = logits[k]
        predicted = []
        for sentence, scored in zip(words, emissions):
            tags = ["O"] * len(sentence)  # a word without tokens stays O, as without the CRF
            order = sorted(scored)
            if order:
                path = crf.viterbi(np.stack([scored[w] for w in order]), scores)
                for w, tag in zip(order, path):
                    tags[w] = self.labels[tag]
            predicted.append(tags)
        return predicted

    def crf_card_usage(self, name: str) -> str:
        example = CARD_WORDS.get(self.config.language or "en", CARD_WORDS["en"])
        return CRF_USAGE.format(name=name, words=example, file=CRF_FILE)


CARD_WORDS = {"en": ["Ada", "Lovelace", "worked", "with", "Charles", "Babbage", "in", "London", "."],
              "zh": list("张三毕业于北京大学。")}

# The model card's code: the CRF decoding in plain transformers + numpy (the tests run it).
CRF_USAGE = """import os

import numpy as np
import torch
from huggingface_hub import hf_hub_download
from safetensors.numpy import load_file
from transformers import AutoModelForTokenClassification, AutoTokenizer

name = "{name}"
tokenizer = AutoTokenizer.from_pretrained(name)
model = AutoModelForTokenClassification.from_pretrained(name).eval()
# The CRF's scores (forbidden BIO moves already at -1e4); pipeline("token-classification") would
# tag each word by its own argmax and ignore them.
crf = load_file(os.path.join(name, "{file}") if os.path.isdir(name) else hf_hub_download(name, "{file}"))
words = {words}
inputs = tokenizer(words, is_split_into_words=True, truncation=True, return_tensors="pt")
with torch.no_grad():
    logits = model(**inputs).logits[0].numpy()
ids = inputs.word_ids()
first = [k for k, w in enumerate(ids) if w is not None and (k == 0 or ids[k - 1] != w)]  # a word's first subword
emissions = logits[first]
# Viterbi: the best tag sequence under the transition, start and end scores.
score, back = crf["start"] + emissions[0], []
for e in emissions[1:]:
    total = score[:, None] + crf["transitions"]
    back.append(total.argmax(0))
    score = total.max(0) + e
path = [int((score + crf["end"]).argmax())]
for pointers in reversed(back):
    path.append(int(pointers[path[-1]]))
tags = [model.config.id2label[i] for i in reversed(path)]
print(list(zip([words[ids[k]] for k in first], tags)))"""
