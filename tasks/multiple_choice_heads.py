"""The toolkit's own model heads, only where transformers has none.

Multiple choice takes input of shape [batch, choices, length]. Encoders (BERT family) use
transformers' AutoModelForMultipleChoice, which flattens it to [batch * choices, length], scores
every (context, ending) pair and reshapes the scores to [batch, choices]. Decoders (GPT-2, Llama)
have no such class, so:

- DecoderForMultipleChoice scores each pair with a ...ForSequenceClassification of ONE label (the
  score is read from the last non-pad token) and reshapes the same way. It saves exactly that
  inner model, so an export loads with plain AutoModelForSequenceClassification.
- LikelihoodChoiceScorer scores each ending by a causal LM's mean log-likelihood of the ending's
  tokens given the context (zero-shot, as evaluation harnesses do). It computes the LM head only
  at the ending's positions: [batch * choices, length, vocabulary] logits would take gigabytes.
"""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM
from transformers.modeling_outputs import MultipleChoiceModelOutput
from transformers.models.auto.modeling_auto import MODEL_FOR_MULTIPLE_CHOICE_MAPPING

from finetune.errors import InputError
from finetune.models import mean_pooling
from finetune.models.pooling import load as load_head
from finetune.models.wrapper import Wrapper


def _flatten(tensors: dict[str, torch.Tensor | None]) -> tuple[dict[str, torch.Tensor], int, int]:
    """[batch, choices, length] tensors -> [batch * choices, length], choice-major within an example:
    row b * choices + c is choice c of example b, so .view(batch, choices) puts every score back."""
    shape = tensors["input_ids"].shape
    flat = {k: v.reshape(shape[0] * shape[1], v.shape[-1]) for k, v in tensors.items() if v is not None}
    return flat, shape[0], shape[1]


class DecoderForMultipleChoice(Wrapper):
    inner_name = "scorer"

    @classmethod
    def from_pretrained(cls, path, pooling="model", **kwargs):
        kwargs = {**kwargs, "num_labels": 1, "id2label": {0: "score"}, "label2id": {"score": 0}}
        return cls(load_head(path, pooling, mean_pooling.SEQUENCE, **kwargs))

    def forward(self, input_ids, attention_mask=None, **rest) -> MultipleChoiceModelOutput:
        flat, batch, choices = _flatten({"input_ids": input_ids, "attention_mask": attention_mask, **rest})
        scores = self.scorer(**flat).logits  # [batch * choices, 1]
        return MultipleChoiceModelOutput(logits=scores.view(batch, choices))


class LikelihoodChoiceScorer(Wrapper):
    inner_name = "lm"

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        lm, info = AutoModelForCausalLM.from_pretrained(path, output_loading_info=True, **kwargs)
        if info["missing_keys"]:
            # BERT loads as BertLMHeadModel with a random head; a fine-tuned classifier has no LM head.
            missing = sorted(info["missing_keys"])
            raise InputError(f"model={path}: has no trained language-model head (missing {', '.join(missing[:3])}"
                             f"{' ...' if len(missing) > 3 else ''}). zero_shot=true scores endings by a causal LM's "
                             f"likelihood: use a decoder such as model=smollm2 or gpt2.")
        return cls(lm)

    def forward(self, input_ids, attention_mask, choice_mask, **rest) -> MultipleChoiceModelOutput:
        flat, batch, choices = _flatten({"input_ids": input_ids, "attention_mask": attention_mask,
                                         "choice_mask": choice_mask, **rest})
        ids, mask = flat.pop("input_ids"), flat.pop("choice_mask")
        hidden = self.lm.base_model(input_ids=ids, **flat).last_hidden_state
        # Token t is predicted from position t - 1: only those positions go through the LM head.
        rows, cols = mask[:, 1:].nonzero(as_tuple=True)
        logits = self.lm.get_output_embeddings()(hidden[rows, cols]).float()
        token_logp = logits.log_softmax(-1).gather(-1, ids[rows, cols + 1].unsqueeze(-1)).squeeze(-1)
        total = torch.zeros(ids.shape[0], device=ids.device).index_add(0, rows, token_logp)
        count = mask[:, 1:].sum(-1).clamp(min=1)
        return MultipleChoiceModelOutput(logits=(total / count).view(batch, choices))


class MultipleChoiceModel:
    """The adapter's model class: transformers' own multiple-choice class where the architecture
    has one, the decoder head otherwise (a trained decoder reloads the same way: it was saved as
    its ...ForSequenceClassification). pooling="mean": either one on the mean of the last hidden
    states (finetune.models.mean_pooling); a folder saved mean-pooled reloads mean-pooled."""

    @staticmethod
    def from_pretrained(path, pooling="model", trust_remote_code=False, **kwargs):
        config = mean_pooling.load_config(path, trust_remote_code=trust_remote_code)
        if mean_pooling.architecture(config) in MODEL_FOR_MULTIPLE_CHOICE_MAPPING:
            return load_head(path, pooling, mean_pooling.MULTIPLE_CHOICE, trust_remote_code, **kwargs)
        return DecoderForMultipleChoice.from_pretrained(path, pooling=pooling, trust_remote_code=trust_remote_code,
                                                        **kwargs)
