"""The Python the model cards of the QA tasks show: code that uses an exported folder with plain
transformers and gives the toolkit's predictions (the tests run it). Templates, filled in by the
adapters' card_usage."""

# -- span QA (tasks/squad.py) -------------------------------------------------------------------------
# The model card's code: the toolkit's decoding in plain transformers (transformers 5 has no
# question-answering pipeline). It searches every start <= end pair of the context tokens, where
# the toolkit searches the n_best highest starts and ends: the same answer unless the best pair's
# start or end is not among those (n_best=20).
SQUAD_USAGE = """import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{name}")
tokenizer.padding_side = "right"  # token 0 of every window is the no-answer position
model = AutoModelForQuestionAnswering.from_pretrained("{name}").eval()
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
    start, end = out.start_logits[w].tolist(), out.end_logits[w].tolist()
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
GENERATIVE_USAGE = """from transformers import pipeline
generator = pipeline("text-generation", model="{name}")
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
