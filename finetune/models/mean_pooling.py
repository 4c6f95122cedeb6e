"""pooling=mean: a sequence classifier (or multiple-choice scorer) on the mean of the last hidden
states, not on [CLS].

Sentence-embedding backbones (all-MiniLM-L6-v2, the toolkit's default) were trained to mean-pool:
their [CLS] vector was never a summary and BERT's pooler on it was never trained, so a classifier
on the pooler starts from scratch. Pooling the way the backbone was trained is worth about a point
of SST-2 (docs/tasks/classification.md).

The model is the architecture's own ...ForSequenceClassification (BertForSequenceClassification,
GPT2ForSequenceClassification, LlamaForSequenceClassification ...) or ...ForMultipleChoice
(BertForMultipleChoice: [batch, choices, length] flattened, one score a choice) with its forward
replaced, so the weights, their names, peft's target modules, attention kernels and checkpointing
are transformers'.
BERT's pooler is dropped: it is unused (and an unused parameter stops DistributedDataParallel).

This file imports only torch and transformers: an export copies it beside the weights and names it
in config.json's auto_map, so that plain transformers loads the folder with trust_remote_code=True:
    AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)
    AutoModelForMultipleChoice.from_pretrained(folder, trust_remote_code=True)  # a multiple-choice model
config.json's model_type is finetune_mean_pooling (the architecture's in pooled_model_type), so that
without trust_remote_code transformers refuses the folder instead of loading the architecture's own
head, untrained, in silence.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import torch
from transformers import AutoConfig, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import MultipleChoiceModelOutput, SequenceClassifierOutput
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.models.auto.modeling_auto import (
    MODEL_FOR_MULTIPLE_CHOICE_MAPPING,
    MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING,
)

MODEL_TYPE = "finetune_mean_pooling"
BASE_KEY = "pooled_model_type"  # config.json: the architecture's model_type (bert, llama, ...)
POOLING_KEY = "classifier_pooling"
SEQUENCE, MULTIPLE_CHOICE = "sequence", "multiple_choice"  # the heads: one label set a text, one score a choice
# per head: transformers' auto class (auto_map's key), its mapping of architectures, this file's loader class
HEADS = {SEQUENCE: ("AutoModelForSequenceClassification", MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING,
                    "MeanPoolingForSequenceClassification"),
         MULTIPLE_CHOICE: ("AutoModelForMultipleChoice", MODEL_FOR_MULTIPLE_CHOICE_MAPPING, "MeanPoolingForMultipleChoice")}
_CONFIGS: dict[type, type] = {}


def pooled_config_class(base: type) -> type:
    """The architecture's config class under this file's model_type. Every one is named
    MeanPoolingConfig: transformers checks a remote model's config_class by name."""
    base = getattr(base, "architecture_config", base)
    if base not in _CONFIGS:
        _CONFIGS[base] = type("MeanPoolingConfig", (base,), {"model_type": MODEL_TYPE, "architecture_config": base,
                                                             "__module__": __name__})
    return _CONFIGS[base]


def architecture(config) -> type:
    """The architecture's own config class (BertConfig) of a config, pooled or not."""
    return getattr(type(config), "architecture_config", type(config))


@contextlib.contextmanager
def as_architecture(config):
    """Within: the config is the architecture's own (BertConfig), for lookups by config type or
    model_type (transformers' module classes, peft's default target modules)."""
    pooled = type(config)
    config.__class__ = architecture(config)
    try:
        yield config
    finally:
        config.__class__ = pooled


def load_config(path, **kwargs):
    """config.json of a folder or hub id: a mean-pooled model's without running remote code, else AutoConfig's."""
    hub = {k: kwargs[k] for k in ("cache_dir", "revision", "token", "local_files_only") if k in kwargs}
    config_dict, _ = PretrainedConfig.get_config_dict(path, **hub)
    if config_dict.get("model_type") != MODEL_TYPE:
        return AutoConfig.from_pretrained(path, **kwargs)
    for key in ("trust_remote_code", "code_revision", "_from_auto", "_from_pipeline"):
        kwargs.pop(key, None)
    return pooled_config_class(CONFIG_MAPPING[config_dict[BASE_KEY]]).from_pretrained(path, **kwargs)


def _flat(tensor):
    """[batch, choices, ...] -> [batch * choices, ...]; None and non-tensors as they are."""
    return tensor.reshape(-1, *tensor.shape[2:]) if isinstance(tensor, torch.Tensor) else tensor


class MeanPooled:
    """Mixed in before the architecture's class; only forward and save_pretrained change."""

    head = SEQUENCE  # or MULTIPLE_CHOICE: set on each generated class (mean_pooled_class)

    def __init__(self, config, *args, **kwargs):
        # The config becomes the pooled one in place (saved, it says finetune_mean_pooling), but is the
        # architecture's while transformers builds the modules: they look classes up by config type.
        setattr(config, BASE_KEY, architecture(config).model_type)
        config.__class__ = pooled_config_class(type(config))
        with as_architecture(config):
            super().__init__(config, *args, **kwargs)
        auto_class, _, loader = HEADS[self.head]
        config.auto_map = {"AutoConfig": f"{Path(__file__).stem}.MeanPoolingConfig",
                           auto_class: f"{Path(__file__).stem}.{loader}"}
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
        choices = None
        if self.head == MULTIPLE_CHOICE:  # as ...ForMultipleChoice: every (context, ending) pair scored alone
            choices = (input_ids if input_ids is not None else inputs_embeds).shape[1]
            input_ids, attention_mask, inputs_embeds = _flat(input_ids), _flat(attention_mask), _flat(inputs_embeds)
            kwargs = {key: _flat(value) for key, value in kwargs.items()}
        outputs = self.base_model(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                                  **kwargs)
        hidden = outputs.last_hidden_state
        if attention_mask is None:
            attention_mask = torch.ones(hidden.shape[:2], device=hidden.device)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        dropout = getattr(self, "dropout", None)
        logits = self._head()(dropout(pooled) if dropout is not None else pooled)
        if choices is not None:
            logits = logits.view(-1, choices)
            loss = None if labels is None else torch.nn.functional.cross_entropy(logits.float(), labels.view(-1))
            return MultipleChoiceModelOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                             attentions=outputs.attentions)
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


def mean_pooled_class(config, head: str = SEQUENCE) -> type:
    """MeanPooled on the architecture's own sequence classifier or multiple-choice model (one class
    an architecture and head)."""
    auto_class, mapping, _ = HEADS[head]
    if architecture(config) not in mapping:
        raise ValueError(f"transformers has no {auto_class.removeprefix('AutoModelFor')} class for "
                         f"{architecture(config).__name__}.")
    base = mapping[architecture(config)]
    if base not in _CLASSES:
        _CLASSES[base] = type(f"MeanPooled{base.__name__}", (MeanPooled, base), {"__module__": __name__, "head": head})
    return _CLASSES[base]


class MeanPoolingConfig(PretrainedConfig):
    """What auto_map names for AutoConfig: from_pretrained gives the architecture's pooled config."""

    model_type = MODEL_TYPE

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        return load_config(pretrained_model_name_or_path, **kwargs)


class MeanPoolingForSequenceClassification(PreTrainedModel):
    """What auto_map names: from_pretrained builds the architecture's mean-pooled class."""

    config_class = MeanPoolingConfig
    head = SEQUENCE

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, config=None, **kwargs):
        if config is None:
            config = load_config(pretrained_model_name_or_path)
        kwargs.pop("trust_remote_code", None)
        kwargs.pop("adapter_kwargs", None)
        return mean_pooled_class(config, cls.head).from_pretrained(pretrained_model_name_or_path, *args, config=config,
                                                                   **kwargs)


class MeanPoolingForMultipleChoice(MeanPoolingForSequenceClassification):
    """auto_map's AutoModelForMultipleChoice: the architecture's mean-pooled multiple-choice class."""

    head = MULTIPLE_CHOICE
