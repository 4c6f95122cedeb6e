"""The Python the model cards of the QA tasks show: code that uses an exported folder with plain
transformers and gives the toolkit's predictions (the tests run it). Templates, filled in by the
adapters' card_usage."""

# -- span QA (tasks/squad.py) -------------------------------------------------------------------------
# The model card's code: the toolkit's decoding in plain transformers (transformers 5 has no
# question-answering pipeline). It searches every start <= end pair of the context tokens, where
# the toolkit searches the n_best highest starts and ends: the same answer unless the best pair's
# start or end is not among those (n_best=20).
SQUAD_USAGE = """import torch
{imports}

tokenizer = AutoTokenizer.from_pretrained("{name}")
tokenizer.padding_side = "right"  # token 0 of every window is the no-answer position
model = {model_class}.from_pretrained("{name}").eval()
question = "{question}"
context = "{context}"
# The context in windows of {max_length} tokens overlapping by {stride}, as the model was trained.
inputs = tokenizer(question.lstrip(), context, truncation="only_second", max_length={max_length}, stride={stride},
                   return_overflowing_tokens=True, return_offsets_mapping=True, padding=True, return_tensors="pt")
offsets = inputs.pop("offset_mapping").tolist()
inputs.pop("overflow_to_sample_mapping")
with torch.no_grad():
    out = model(**inputs)
answer, best, null = "", float("-inf"), float("inf")
for w in range(len(offsets)):
{cut_note}    start, end = out.start_logits[w{cut}].tolist(), out.end_logits[w{cut}].tolist()
    null = min(null, start[0] + end[0])
    in_context = [k for k, s in enumerate(inputs.sequence_ids(w)) if s == 1]
    for s in in_context:
        for e in in_context:
            if s <= e < s + {max_answer_length} and start[s] + end[e] > best:
                best, answer = start[s] + end[e], context[offsets[w][s][0]:offsets[w][e][1]]
{unanswerable}print(answer)"""
SQUAD_UNANSWERABLE = """if null - best > {threshold}:  # null_threshold, chosen on dev
    answer = ""
"""
SQUAD_EXAMPLES = {"zh": ("苏轼是哪里人？", "苏轼是北宋著名的文学家与政治家，眉州眉山人。"),
                 "en": ("Who wrote the letter?", "The letter was written by Ada Lovelace in 1843.")}


# -- generative QA (tasks/generative_qa.py) ------------------------------------------------------------
GENERATIVE_EXAMPLE = {"context": "The Eiffel Tower was completed in 1889 and stands in Paris.",
                "question": "When was the Eiffel Tower completed?"}
GENERATIVE_USAGE = """{generator}
context = {context!r}
question = {question!r}
prompt = {context_template!r}.format(context=context) + {question_template!r}.format(question=question)
{call}print(answer)"""
GENERATIVE_CHAT_CALL = """# The prompt is the user's message; the tokenizer's chat template wraps it, as in training.
messages = [{{"role": "user", "content": prompt}}]
answer = generator(messages, {kwargs})[0]["generated_text"][-1]["content"].strip()
"""
GENERATIVE_PLAIN_CALL = """answer = generator(prompt, {kwargs}, return_full_text=False)[0]["generated_text"].strip()
"""
# What every adapter folder's card says of the base model (prompt / prefix tuning: peft.method).
ADAPTER_NOTE = ("# peft loads the base model that adapter_config.json names (base_model_name_or_path: the folder it was trained\n"
                "# from; elsewhere, set it to the hub id of this card's base_model), with this head and the learned virtual tokens.\n")
GENERATOR = 'from transformers import pipeline\ngenerator = pipeline("text-generation", model="{name}")'
GENERATOR_FROM_ADAPTER = """from peft import AutoPeftModelForCausalLM
from transformers import AutoTokenizer, pipeline

""" + ADAPTER_NOTE.replace(", with this head and", ", and") + """model = AutoPeftModelForCausalLM.from_pretrained("{name}")
generator = pipeline("text-generation", model=model, tokenizer=AutoTokenizer.from_pretrained("{name}"))"""


# -- prompt tuning's adapter folders (peft.method=prompt): peft's AutoPeftModelFor* loads them -----------
def span_loading(cut: int | None) -> dict:
    """SQUAD_USAGE's loading lines for a plain folder (cut None) or an adapter folder."""
    if cut is None:
        return {"imports": "from transformers import AutoModelForQuestionAnswering, AutoTokenizer",
                "model_class": "AutoModelForQuestionAnswering", "cut": "", "cut_note": ""}
    return {"imports": "from peft import AutoPeftModelForQuestionAnswering\nfrom transformers import AutoTokenizer\n\n"
                       + ADAPTER_NOTE.rstrip("\n"),
            "model_class": "AutoPeftModelForQuestionAnswering", "cut": f", {cut}:" if cut else "",
            "cut_note": (f"    # the first {cut} positions are the learned virtual tokens (segment ids are not used: peft's\n"
                         f"    # question-answering model drops them, in training too)\n") if cut else ""}


CLASSIFICATION_FROM_ADAPTER = """import torch
from peft import AutoPeftModelForSequenceClassification
from transformers import AutoTokenizer

""" + ADAPTER_NOTE + """tokenizer = AutoTokenizer.from_pretrained("{name}")
model = AutoPeftModelForSequenceClassification.from_pretrained("{name}", num_labels={num_labels}, id2label={id2label},
                                                               label2id={label2id}).eval()
inputs = tokenizer({example}, return_tensors="pt")
with torch.no_grad():
    logits = model(**inputs).logits[0]
{output}"""
CLASSIFICATION_OUTPUT = {"single": "print({model.config.id2label[i]: p for i, p in enumerate(logits.softmax(-1).tolist())})",
                         "multi_label": "print({model.config.id2label[i]: p for i, p in enumerate(logits.sigmoid().tolist())})",
                         "regression": "print(logits.tolist())"}
TAGGING_FROM_ADAPTER = """import torch
from peft import AutoPeftModelForTokenClassification
from transformers import AutoTokenizer

""" + ADAPTER_NOTE + """tokenizer = AutoTokenizer.from_pretrained("{name}")
model = AutoPeftModelForTokenClassification.from_pretrained("{name}", num_labels={num_labels}, id2label={id2label},
                                                            label2id={label2id}).eval()
words = {words!r}
inputs = tokenizer(words, is_split_into_words=True, return_tensors="pt")
with torch.no_grad():
    logits = model(**inputs).logits[0, {cut}:]  # the first {cut} positions are the virtual tokens
word_ids, tags = inputs.word_ids(), logits.argmax(-1).tolist()
# a word takes the tag of its first sub-word, as the toolkit reads it
print([(words[w], model.config.id2label[tags[k]]) for k, w in enumerate(word_ids)
       if w is not None and (k == 0 or word_ids[k - 1] != w)])"""


def label_arguments(folder) -> dict:
    """num_labels, id2label, label2id of a saved folder's config.json, as code."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(folder)
    return {"num_labels": config.num_labels, "id2label": {int(k): v for k, v in config.id2label.items()},
            "label2id": dict(config.label2id)}
