"""Parameter-efficient fine-tuning through peft (peft.method): LoRA and IA3 on every task, prompt
and prefix tuning where peft's task models serve them (finetune/models/prompt_tuning.py).

Only the method's parameters and the task's new head train (peft's modules_to_save: the
classifier, the span head, the choice scorer, the CRF); every other weight stays bit-equal to the
pretrained one. Step checkpoints hold what trains (RunSaver drops the frozen weights and loads with
strict=False), so they are small and a resumed run continues exactly. Every saved MODEL
(checkpoints/best, hence exports) has the adapters merged into a copy of the model, so it is the
base architecture with plain weights: it loads with transformers and `pipeline`, with no peft. The
merge is peft's own (merge_and_unload) on a copy, never in place: merging and unmerging the
training model would nudge its frozen weights by rounding at every save. The merge reads each
process's own weights, so peft with FSDP (sharded weights) is not supported.

Prompt and prefix tuning add virtual tokens instead of changing weights: nothing to merge, so
their saved model is a peft adapter folder (AutoPeftModelFor* loads it).
"""

from __future__ import annotations

import copy
from typing import Any

from finetune.config.schema import RunConfig
from finetune.errors import InputError
from finetune.models import mean_pooling, prompt_tuning

# LoRA and IA3: the task heads take the generic PeftModel, which passes every input through, and these
# module names, where the model has them, are trained in full (modules_to_save). peft's task models are
# not used for them: PeftModelForQuestionAnswering drops token_type_ids (peft 0.21), so a BERT span model would
# train on segment 0 everywhere and be served with the real segments. Generation (generative QA)
# takes peft's CAUSAL_LM model (peft_task_type), as generate needs. Prompt and prefix tuning take
# peft's task models on purpose (prompt_tuning.py): their adapter folder is served by them.
HEADS = ["classifier", "score", "qa_outputs", "crf"]  # every new head the adapters create, by module name


def method(config: RunConfig) -> str:
    """The peft method of a run: peft.method, or lora when the older lora.enabled=true says so."""
    return config.peft_method


def check(config: RunConfig, adapter: Any, model: Any, new_tokens: int) -> None:
    """Refusals before the method is applied (exit 2): vocab.add_tokens added `new_tokens` rows;
    prompt and prefix tuning where they would compute something else than their adapter folder."""
    name = method(config)
    if name == "none":
        return
    if name in prompt_tuning.METHODS:
        _check_virtual_tokens(config, adapter, model, name)
    if new_tokens:
        raise InputError(f"vocab.add_tokens={config.vocab.add_tokens} added {new_tokens} tokens, whose new embedding "
                         f"rows peft.method={name} would leave frozen at their first values. Train every weight "
                         f"(peft.method=none), or keep the vocabulary (vocab.add_tokens=off).")


def _check_virtual_tokens(config: RunConfig, adapter: Any, model: Any, name: str) -> None:
    task = config.adapter
    if adapter.prompt_task_type is None:
        raise InputError(f"peft.method={name} is not offered for {task}: peft has no model for this task that would "
                         f"load the virtual tokens without this toolkit. Use peft.method=lora or ia3.")
    if name == "prefix" and adapter.prompt_task_type != "CAUSAL_LM":
        raise InputError(f"peft.method=prefix is not offered for {task}: prefix tuning puts its virtual tokens in the "
                         f"attention cache (past_key_values), which transformers 5 gives only to causal language models "
                         f"(peft: 'Model does not support past key values'); it serves generative QA. Use "
                         f"peft.method=prompt, lora or ia3.")
    if name == "prompt" and adapter.prompt_task_type == "SEQ_CLS" and hasattr(model, "score"):
        raise InputError(f"peft.method=prompt is not offered for {task} on a decoder ({type(model).__name__}): peft "
                         f"gives the model embeddings, not token ids, and its classifier then reads each row's last "
                         f"position, which is padding for every shorter text of a batch. Use peft.method=lora or ia3.")
    if getattr(adapter.options, "crf", False):
        raise InputError(f"peft.method={name} with crf=true: peft's token-classification model, which loads the adapter "
                         f"folder, has no CRF. Use peft.method=lora or ia3 with the CRF, or crf=false.")
    if getattr(model.config, "classifier_pooling", None) == "mean":
        raise InputError(f"peft.method={name} with pooling=mean: peft's sequence-classification model, which loads "
                         f"the adapter folder, puts its classifier on transformers' own head. Use pooling=model "
                         f"(or auto), or peft.method=lora or ia3.")
    positions = getattr(model.config, "max_position_embeddings", None)
    longest = config.data.max_seq_length + config.peft.virtual_tokens
    if positions and longest > positions:
        raise InputError(f"peft.method={name}: data.max_seq_length={config.data.max_seq_length} plus "
                         f"peft.virtual_tokens={config.peft.virtual_tokens} is more than the {positions} positions of "
                         f"{config.model}. Lower one of them.")


def apply(model: Any, config: RunConfig, adapter: Any) -> Any:
    """The model with the method's adapters on its target modules; only they and the head train."""
    import peft

    name = method(config)
    if name in prompt_tuning.METHODS:
        settings = prompt_tuning.settings(name, adapter.prompt_task_type, config.peft.virtual_tokens, config.peft.prompt_init)
        return prompt_tuning.wrap(model, settings, _per_position(adapter))
    task_type = adapter.peft_task_type
    heads = [h for h in HEADS if any(n.split(".")[-1] == h for n, _ in model.named_modules())] or None
    targets = config.peft.target_modules or (config.lora.target_modules if name == "lora" else None)
    if name == "lora":
        settings = peft.LoraConfig(task_type=task_type, r=config.lora.r, lora_alpha=config.lora.alpha,
                                   lora_dropout=config.lora.dropout, target_modules=targets, modules_to_save=heads)
    else:
        settings = peft.IA3Config(task_type=task_type, target_modules=targets, feedforward_modules=config.peft.feedforward_modules,
                                  modules_to_save=heads)
    try:
        with mean_pooling.as_architecture(model.config):  # peft's default targets, by the architecture's model_type
            return peft.get_peft_model(model, settings)
    except ValueError as exc:  # target modules not found, or an architecture peft has no default for
        key = "lora.target_modules" if name == "lora" and config.lora.target_modules else "peft.target_modules"
        raise InputError(f"peft.method={name}: {exc}. Name modules of this model with {key}=[...] "
                         f"(e.g. [query, value] for BERT, [q_proj, v_proj] for Llama).") from exc


def is_peft(model: Any) -> bool:
    # By module name: runs without peft never import it.
    return type(model).__module__.startswith("peft.")


def _per_position(adapter: Any) -> tuple[str, ...]:
    """The outputs that run over positions, which prompt tuning lengthens by its virtual tokens."""
    return ("logits", "start_logits", "end_logits") if adapter.position_outputs else ()


def load(model_class: Any, path: str, trust_remote_code: bool, adapter: Any) -> Any:
    """A saved adapter folder (prompt or prefix tuning) as the model the run trained."""
    return prompt_tuning.load(model_class, path, trust_remote_code, _per_position(adapter))


def parameter_counts(model: Any) -> tuple[int, int]:
    """(trainable, total) parameters, each shared tensor once; with peft, the total counts the
    method's parameters and the frozen original of each head beside its trained copy (as peft's
    print_trainable_parameters does)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def merged(model: Any) -> Any:
    """A copy of the base model with every adapter merged into its weights and the trained heads
    in place of the original ones (peft's merge_and_unload, on a copy)."""
    return copy.deepcopy(model).merge_and_unload()


def save_pretrained(model: Any, folder: Any, state_dict: dict | None = None, **kwargs) -> None:
    """model.save_pretrained; a peft model is saved merged: a plain model of the base architecture."""
    if is_peft(model):
        merged(model).save_pretrained(folder, **kwargs)
    else:
        model.save_pretrained(folder, state_dict=state_dict, **kwargs)


def trained_names(model: Any) -> set[str]:
    return {name for name, p in model.named_parameters() if p.requires_grad}
