"""Prompt and prefix tuning (peft.method=prompt|prefix): virtual tokens learned in front of the input.

Both go through peft's task models (PeftModelForSequenceClassification, ...ForTokenClassification,
...ForQuestionAnswering, ...ForCausalLM), because their saved folder must compute the same thing
when peft's AutoPeftModelFor* loads it with no toolkit code. What those models do, and what the
toolkit therefore does in training and serving alike:
- prompt tuning prepends `virtual_tokens` embeddings to the input: every per-position output
  (token logits, span logits, a causal LM's logits) is that many positions longer, so PromptTuned
  cuts them off before the loss and the decoding (peft issue 1974: otherwise labels, answer
  positions and word alignments are off by the virtual tokens). An encoder's classifier pools the
  first position, which is the first virtual token.
- peft's question-answering model drops token_type_ids (peft 0.21), so a BERT span model is
  trained and served with segment 0 everywhere, as AutoPeftModelForQuestionAnswering serves it.
- prefix tuning puts its virtual keys and values in the attention cache: outputs keep their length.
  Only causal LMs take the cache in transformers 5, so prefix tuning serves generative QA only.

The saved model (checkpoints/best, exports) is the adapter folder (adapter_config.json and the
virtual tokens with the trained head) plus the head's config.json (labels) and the tokenizer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

ADAPTER_CONFIG = "adapter_config.json"
METHODS = ("prompt", "prefix")


def is_adapter_folder(path: str | Path) -> bool:
    return (Path(path) / ADAPTER_CONFIG).is_file()


class PromptTuned(torch.nn.Module):
    """A peft prompt-learning task model whose per-position outputs are cut back to the input's
    positions. `per_position`: the output keys whose dimension 1 runs over positions."""

    def __init__(self, peft_model: Any, per_position: tuple[str, ...]):
        super().__init__()
        self.peft_model = peft_model
        settings = peft_model.active_peft_config
        # Prefix tuning's virtual tokens sit in the attention cache, not in the outputs.
        self.shift = settings.num_virtual_tokens if settings.peft_type == "PROMPT_TUNING" else 0
        self.per_position = per_position

    @property
    def config(self):
        return self.peft_model.config

    def forward(self, **inputs):
        outputs = self.peft_model(**inputs)
        if self.shift:
            length = inputs["input_ids"].shape[1]
            for key in self.per_position:
                # Only a whole sequence's outputs: a causal LM asked for its last K positions
                # (logits_to_keep) gives those of the input already.
                if outputs.get(key) is not None and outputs[key].shape[1] == length + self.shift:
                    outputs[key] = outputs[key][:, self.shift:]
        return outputs

    def generate(self, *args, **kwargs):
        # peft's generate prepends the virtual tokens itself; it returns the input and the new tokens.
        return self.peft_model.generate(*args, **kwargs)

    def save_pretrained(self, folder, state_dict=None, **kwargs):
        """The adapter folder (what trains: the virtual tokens and the head) and the head's config."""
        if state_dict is not None:
            state_dict = {k.removeprefix("peft_model."): v for k, v in state_dict.items() if k.startswith("peft_model.")}
        self.peft_model.save_pretrained(folder, state_dict=state_dict, **kwargs)
        self.peft_model.get_base_model().config.save_pretrained(folder)
        (Path(folder) / "README.md").unlink(missing_ok=True)  # peft's template card: export writes the real one


def settings(name: str, task_type: str, virtual_tokens: int, prompt_init: str) -> Any:
    import peft

    if name == "prefix":
        return peft.PrefixTuningConfig(task_type=task_type, num_virtual_tokens=virtual_tokens)
    # Sampled vocabulary embeddings start the prompt among real tokens' embeddings (Lester et al.,
    # 2021, found them better than random values); the draw follows the run's seed.
    init = peft.PromptTuningInit.SAMPLE_VOCAB if prompt_init == "vocab" else peft.PromptTuningInit.RANDOM
    return peft.PromptTuningConfig(task_type=task_type, num_virtual_tokens=virtual_tokens, prompt_tuning_init=init)


def wrap(model: Any, config: Any, per_position: tuple[str, ...]) -> PromptTuned:
    import peft

    return PromptTuned(peft.get_peft_model(model, config), per_position)


def load(model_class: Any, path: str, trust_remote_code: bool, per_position: tuple[str, ...]) -> PromptTuned:
    """A saved adapter folder: its base model (adapter_config.json's base_model_name_or_path) with
    the head the folder's config.json describes, and the adapter on it."""
    import peft
    from transformers import AutoConfig

    adapter = peft.PeftConfig.from_pretrained(path)
    head = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    try:
        base = model_class.from_pretrained(adapter.base_model_name_or_path, config=head, trust_remote_code=trust_remote_code)
    except OSError as exc:
        from finetune.errors import InputError

        raise InputError(f"{path} is a peft adapter folder on the base model {adapter.base_model_name_or_path}, which "
                         f"does not load here ({exc}). Set base_model_name_or_path in {Path(path) / ADAPTER_CONFIG} to "
                         f"where the base model is (a folder, or its hub id when online).") from exc
    return PromptTuned(peft.PeftModel.from_pretrained(base, path), per_position)


def cut_positions(folder: str | Path) -> int | None:
    """For a saved folder: None when it is a plain model; else how many leading positions of each
    per-position output are the virtual tokens' (prompt tuning), 0 for prefix tuning."""
    import json

    if not is_adapter_folder(folder):
        return None
    saved = json.loads((Path(folder) / ADAPTER_CONFIG).read_text())
    return saved["num_virtual_tokens"] if saved.get("peft_type") == "PROMPT_TUNING" else 0
