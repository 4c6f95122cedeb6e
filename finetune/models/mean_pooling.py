"""pooling=mean: a sequence classifier on the mean of the last hidden states, not on [CLS].

Sentence-embedding backbones (all-MiniLM-L6-v2, the toolkit's default) were trained to mean-pool:
their [CLS] vector was never a summary and BERT's pooler on it was never trained, so a classifier
on the pooler starts from scratch. Pooling the way the backbone was trained is worth about a point
of SST-2 (docs/tasks/classification.md).

The model is the architecture's own ...ForSequenceClassification (BertForSequenceClassification,
GPT2ForSequenceClassification, LlamaForSequenceClassification ...) with its forward replaced, so the
weights, their names, peft's target modules, attention kernels and checkpointing are transformers'.
BERT's pooler is dropped: it is unused (and an unused parameter stops DistributedDataParallel).

This file imports only torch and transformers: an export copies it beside the weights and names it
in config.json's auto_map, so that plain transformers loads the folder with trust_remote_code=True:
    AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from transformers import AutoConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING

POOLING_KEY = "classifier_pooling"  # config.json: "mean" marks a model of this file
AUTO_MAP = {"AutoModelForSequenceClassification": f"{Path(__file__).stem}.MeanPoolingForSequenceClassification"}


class MeanPooled:
    """Mixed in before the architecture's class; only forward and save_pretrained change."""

    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        config.auto_map = dict(AUTO_MAP)
        setattr(config, POOLING_KEY, "mean")
        if getattr(self.base_model, "pooler", None) is not None:
            self.base_model.pooler = None

    def _head(self) -> torch.nn.Module:
        # (peft's modules_to_save wraps it: the check is check_head's, at load)
        return getattr(self, "classifier", None) or getattr(self, "score", None)

    def check_head(self) -> None:
        head = self._head()
        if not isinstance(head, torch.nn.Linear) or head.in_features != self.config.hidden_size:
            raise ValueError(f"pooling=mean needs a classifier that is one linear layer on the hidden size "
                             f"({type(self).__mro__[2].__name__} has {type(head).__name__}).")

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None, **kwargs):
        kwargs.pop("return_dict", None)
        kwargs.pop("use_cache", None)
        outputs = self.base_model(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                                  **kwargs)
        hidden = outputs.last_hidden_state
        if attention_mask is None:
            attention_mask = torch.ones(hidden.shape[:2], device=hidden.device)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        dropout = getattr(self, "dropout", None)
        logits = self._head()(dropout(pooled) if dropout is not None else pooled)
        return SequenceClassifierOutput(loss=None if labels is None else self._loss(logits, labels), logits=logits,
                                        hidden_states=outputs.hidden_states, attentions=outputs.attentions)

    def _loss(self, logits, labels):
        """transformers' sequence-classification loss, by config.problem_type."""
        kind = self.config.problem_type or ("regression" if self.config.num_labels == 1 else
                                            "single_label_classification" if labels.dtype in (torch.long, torch.int)
                                            else "multi_label_classification")
        if kind == "regression":
            return torch.nn.functional.mse_loss(logits.squeeze(-1).float(), labels.float())
        if kind == "single_label_classification":
            return torch.nn.functional.cross_entropy(logits.float().view(-1, self.config.num_labels), labels.view(-1))
        return torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), labels.float())

    def save_pretrained(self, save_directory, *args, **kwargs):
        super().save_pretrained(save_directory, *args, **kwargs)
        shutil.copyfile(__file__, Path(save_directory) / Path(__file__).name)


_CLASSES: dict[type, type] = {}


def mean_pooled_class(config) -> type:
    """MeanPooled on the architecture's own sequence classifier (one class an architecture)."""
    if type(config) not in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING:
        raise ValueError(f"transformers has no sequence classifier for {type(config).__name__}.")
    base = MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING[type(config)]
    if base not in _CLASSES:
        _CLASSES[base] = type(f"MeanPooled{base.__name__}", (MeanPooled, base), {"__module__": __name__})
    return _CLASSES[base]


class MeanPoolingForSequenceClassification(PreTrainedModel):
    """What auto_map names: from_pretrained builds the architecture's mean-pooled class."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, config=None, **kwargs):
        if config is None:
            config = AutoConfig.from_pretrained(pretrained_model_name_or_path, **kwargs)
        kwargs.pop("trust_remote_code", None)
        kwargs.pop("adapter_kwargs", None)
        return mean_pooled_class(config).from_pretrained(pretrained_model_name_or_path, *args, config=config, **kwargs)
