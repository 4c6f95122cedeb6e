"""Generative QA for decoders (SmolLM2, GPT-2, Llama): the model reads the question (and its
context) and writes the answer; scored with SQuAD EM / F1 and corpus BLEU.

Prompt: the text `context_template` + `question_template` (the context part is left out when an
example has none). With a chat template in the tokenizer (SmolLM2-Instruct) that text is the user
message and the answer is the assistant's reply (prompt=auto or chat); without one (GPT-2) the text
itself is the prompt and the answer follows after a space (prompt=plain):

    Context: <context>
    Question: <question>
    Answer: <answer><eos>

Training: the features are prompt + answer + end-of-sequence; only the answer and the
end-of-sequence token carry labels (prompt and padding are -100), so the loss is the answer's
cross-entropy. Batches are padded on the LEFT, as generation needs: the answers then all end at the
right edge, and the LM head runs only on the last positions that hold labels (`logits_to_keep`):
the other positions' [length, vocabulary] logits would be computed for nothing.

Too long for data.max_seq_length: the context is cut, never the question. Training keeps a window
of the context around the first gold answer (where the file gives or the context shows it), so the
target stays answerable; evaluation and prediction keep the start of the context.

Generation: batched with left padding, greedy by default (num_beams > 1: beam search), at most
max_new_tokens, stopping at end of sequence; deterministic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch.nn.functional as F
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq

from finetune.data.splits import RawSplit, is_test_split, read_file, read_json_mapping
from finetune.errors import InputError
from finetune.metrics import bleu as bleu_metric
from finetune.metrics import cmrc as cmrc_metrics
from finetune.metrics import squad as squad_metrics
from finetune.models import prompt_tuning
from tasks.base import Adapter, check_text, column_texts, require_columns
from tasks import card_code
from tasks.roles import CommandLineInput, ModelCard, PredictionFiles

GOLD = "gold_answers"  # all gold answer texts of an example (added by setup_labels)
ANSWER_START = "answer_start"  # offset of the first gold answer in the stripped context, -1 unknown

@dataclass
class GenerativeQAOptions:
    question_column: str = "question"  # the question to answer
    context_column: str = "context"  # optional in the files: questions alone are fine
    # The gold answers: SQuAD's {"text": [...], "answer_start": [...]}, a string, or a list of
    # strings. null: `answers` if the file has it, else `answer` (JSONL).
    answers_column: str | None = None
    id_column: str = "id"  # question ids, the keys of predictions.json
    prompt: Literal["auto", "chat", "plain"] = "auto"  # auto: chat when the tokenizer has a chat template
    context_template: str = "Context: {context}\n"  # the prompt's context part, left out for a question without one
    question_template: str = "Question: {question}\nAnswer:"  # the prompt's question part, after the context
    max_new_tokens: int = 32  # the longest answer generated, in tokens
    num_beams: int = 1  # 1: greedy
    bleu_tokenize: Literal["13a", "zh", "none"] = "13a"  # sacrebleu's tokenizers: 13a (default), zh for Chinese
    # EM / F1 of the official SQuAD v1.1 script (words), or of CMRC 2018's (characters: Chinese)
    metric: Literal["squad", "cmrc"] = "squad"


def gold_texts(value: Any) -> list[str] | None:
    """The gold answer texts of one example, whatever the file's shape; None: not a valid shape."""
    if isinstance(value, dict):
        value = value.get("text")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


@dataclass
class AnswerCollator:
    """Left-padded batches with -100 labels on padding (transformers' seq2seq collator), plus
    `logits_to_keep`: how many last positions the LM head must run on to predict every label."""

    tokenizer: Any
    pad_to_multiple_of: int | None = None

    def __post_init__(self):
        self.pad = DataCollatorForSeq2Seq(self.tokenizer, pad_to_multiple_of=self.pad_to_multiple_of)

    def __call__(self, features: list[dict]) -> dict:
        batch = self.pad(features)
        labels = batch.pop("labels", None)  # the seq2seq collator gives labels=None to unlabelled prompts
        if labels is not None:
            batch["labels"] = labels
            first = (labels != -100).int().argmax(-1)  # each row's first label (rows end with theirs)
            # Position t predicts token t + 1: one position more than the labelled ones. Computed
            # here on the host, so the training step never waits on the device for it.
            batch["logits_to_keep"] = int((labels.shape[1] - first).max()) + 1
        return batch


class GenerativeQAAdapter(Adapter, PredictionFiles, CommandLineInput, ModelCard):
    metrics_in_percent = True  # the official evaluation scripts report percentages
    Options = GenerativeQAOptions
    model_class = AutoModelForCausalLM
    peft_task_type = prompt_task_type = "CAUSAL_LM"
    position_outputs = True
    pipeline_task = "text-generation"
    collator_class = AnswerCollator
    output_keys = ("generated",)
    primary_metric = "f1"
    headline_metrics = ("exact_match", "f1", "bleu")

    def __init__(self, config):
        super().__init__(config)
        if self.options.max_new_tokens < 1 or self.options.num_beams < 1:
            raise InputError("config keys 'max_new_tokens' and 'num_beams' must be at least 1.")
        for key in ("context_template", "question_template"):
            field = "{context}" if key == "context_template" else "{question}"
            if field not in getattr(self.options, key):
                raise InputError(f"config key '{key}': must contain {field}, got {getattr(self.options, key)!r}.")
        self.tokenizer = None
        self.chat = False

    # -- tokenizer and checks -------------------------------------------------------------------
    def prepare_tokenizer(self, tokenizer):
        # Generation continues every prompt from its last token: pads go first.
        tokenizer.padding_side = "left"
        if not tokenizer.is_fast:
            raise InputError(f"{tokenizer.name_or_path}: generative QA needs a fast tokenizer (character offsets "
                             f"to cut long contexts); this one is {type(tokenizer).__name__}.")
        if self.options.prompt == "chat" and not tokenizer.chat_template:
            raise InputError(f"prompt=chat, but the tokenizer of {tokenizer.name_or_path} has no chat template. "
                             f"Use prompt=plain (or auto).")
        self.chat = self.options.prompt == "chat" or (self.options.prompt == "auto" and bool(tokenizer.chat_template))
        self.tokenizer = tokenizer  # decode turns generated ids back into text
        return tokenizer

    def _answers_column(self, columns: list[str]) -> str | None:
        if self.options.answers_column:
            return self.options.answers_column if self.options.answers_column in columns else None
        return next((c for c in ("answers", "answer") if c in columns), None)

    def setup_labels(self, splits: dict[str, RawSplit], trained_config=None) -> None:
        o = self.options
        for name, split in splits.items():
            columns = split.dataset.column_names
            require_columns(split, {o.question_column: "question_column"})
            check_text(split, o.question_column, allow_empty=False)
            if o.context_column in columns:  # optional: a question may come alone
                check_text(split, o.context_column, allow_null=True)
            if o.id_column not in columns:
                split.dataset = split.dataset.add_column(o.id_column, [str(i) for i in range(len(split.dataset))])
            answers = self._answers_column(columns)
            if is_test_split(self.config.data, name) and answers is None:
                continue
            if answers is None:
                wanted = o.answers_column or "answers' or 'answer"
                raise InputError(f"{split.location}: no column '{wanted}' with the gold answers "
                                 f"(columns: {', '.join(columns)}).")
            split.dataset = self._with_gold(split, answers)
            if name == "train":
                self._leave_out_unfitting(split)

    def _answer_ids(self, golds: list[list[str]]) -> list[list[int]]:
        """The target of each example: its first answer (after a plain prompt's "Answer:", with the
        space generation writes), then end-of-sequence."""
        texts = [g[0].strip() if self.chat else " " + g[0].strip() for g in golds]
        return [ids + [self.tokenizer.eos_token_id] for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def _leave_out_unfitting(self, split: RawSplit) -> None:
        """Training examples whose question and answer alone exceed data.max_seq_length (CMRC's trial
        set has a 435-character answer: about 760 SmolLM2 tokens) cannot be trained on whole: a cut
        answer would teach the model to stop early. They are left out, counted and named."""
        o, limit = self.options, self.config.data.max_seq_length
        rows = [row for row in range(len(split.dataset)) if split.kept(row)]
        if not rows or self.tokenizer is None:
            return
        golds = split.dataset.select(rows)[GOLD]
        questions = [q.strip() for q in split.dataset.select(rows)[o.question_column]]
        answers = self._answer_ids(golds)
        bare = self._tokenize([self.render(q, None) for q in questions])  # the prompt with the context cut away
        unfitting = [row for row, prompt, answer in zip(rows, bare, answers) if len(prompt) + len(answer) > limit]
        if len(unfitting) == len(rows):
            raise InputError(f"{split.where(rows[0])}: question id {split.dataset[o.id_column][rows[0]]} (train): the "
                             f"question and its answer alone take more than data.max_seq_length={limit} tokens, as do "
                             f"all {len(rows)} training questions; raise data.max_seq_length.")
        if unfitting:
            split.leave_out(unfitting)
            ids = split.dataset.select(unfitting[:5])[o.id_column]
            print(f"  {split.name}: {len(unfitting)} question(s) whose question and answer alone take more than "
                  f"data.max_seq_length={limit} tokens left out of training ({', '.join(ids)}"
                  f"{', ...' if len(unfitting) > 5 else ''}).")

    def _with_gold(self, split: RawSplit, column: str) -> Dataset:
        """Every example's gold texts (checked) and where the first one sits in its context."""
        o = self.options
        dataset = split.dataset
        contexts = dataset[o.context_column] if o.context_column in dataset.column_names else [None] * len(dataset)
        golds, starts = [], []
        for row, (qid, value, context) in enumerate(zip(dataset[o.id_column], dataset[column], contexts)):
            texts = gold_texts(value)
            if texts is None or not [t for t in texts if t.strip()]:
                split.reject(row, f"{split.where(row)}: question id {qid}: '{column}' must hold a non-empty answer "
                                  f"(a string, a list of strings or SQuAD's {{\"text\": [...]}}), got {value!r}.")
            if not split.kept(row):  # a placeholder, left out with the row before encoding
                golds.append([])
                starts.append(-1)
                continue
            texts = [t for t in texts if t.strip()]
            golds.append(texts)
            given = value.get("answer_start") if isinstance(value, dict) else None
            start = given[0] if isinstance(given, list) and given and type(given[0]) is int else -1
            context = context if isinstance(context, str) else None
            if context and not (0 <= start and context[start:start + len(texts[0])] == texts[0]):
                start = context.find(texts[0])
            # Prompts hold the context stripped: count the offset from its first non-space character.
            starts.append(start - (len(context) - len(context.lstrip())) if context and start >= 0 else -1)
        for name in (GOLD, ANSWER_START):  # a JSONL file may have its own answer_start column
            if name in dataset.column_names:
                dataset = dataset.remove_columns(name)
        return dataset.add_column(GOLD, golds).add_column(ANSWER_START, starts)

    # -- encoding -------------------------------------------------------------------------------
    def render(self, question: str, context: str | None) -> str:
        """The prompt text of one example, as a user would write it (or the user's chat message)."""
        o = self.options
        text = (o.context_template.format(context=context) if context else "") + o.question_template.format(question=question)
        if self.chat:
            return self.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                      add_generation_prompt=True)
        return text

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        # A chat template brings its own special tokens; a plain prompt gets the tokenizer's (BOS), as pipelines do.
        return self.tokenizer(texts, add_special_tokens=not self.chat)["input_ids"]

    def _cut(self, question: str, context: str | None, ids: list[int], budget: int, answer_start: int) -> list[int] | None:
        """A prompt of at most `budget` tokens from one whose ids are too long: the context cut to a
        window around answer_start (>= 0), else to its start. None when the question alone is too long."""
        if context:
            pieces = self.tokenizer(context, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
            keep = len(pieces) - (len(ids) - budget)
            while keep > 0:
                first = 0
                if answer_start >= 0:  # centre the window on the answer's first token
                    at = next((i for i, (s, e) in enumerate(pieces) if e > answer_start), len(pieces) - 1)
                    first = min(max(0, at - keep // 2), len(pieces) - keep)
                window = context[pieces[first][0]:pieces[first + keep - 1][1]]
                ids = self._tokenize([self.render(question, window)])[0]
                if len(ids) <= budget:
                    return ids
                keep -= len(ids) - budget  # tokens can merge differently at the cut: try again, shorter
        ids = self._tokenize([self.render(question, None)])[0]
        return ids if len(ids) <= budget else None

    def texts(self, examples):
        return column_texts(examples, [self.options.question_column, self.options.context_column, GOLD])

    def encode(self, batch, indices, tokenizer, split):
        o = self.options
        max_length = self.config.data.max_seq_length
        training = split == "train"
        questions = [q.strip() for q in batch[o.question_column]]
        contexts = [(c or "").strip() or None for c in batch.get(o.context_column) or [None] * len(indices)]
        prompts = self._tokenize([self.render(q, c) for q, c in zip(questions, contexts)])
        if training:
            answers = self._answer_ids(batch[GOLD])
            starts = batch[ANSWER_START]
        else:
            answers, starts = [[] for _ in indices], [-1] * len(indices)
        features: dict[str, list] = {"input_ids": [], "attention_mask": [], "example_index": list(indices)}
        if training:
            features["labels"] = []
        for i, (prompt, answer) in enumerate(zip(prompts, answers)):
            budget = max_length - len(answer)
            if len(prompt) > budget:
                prompt = self._cut(questions[i], contexts[i], prompt, budget, starts[i])
            if prompt is None:
                raise InputError(f"question id {batch[o.id_column][i]} ({split}): the question"
                                 f"{' and its answer' if training else ''} alone take more than "
                                 f"data.max_seq_length={max_length} tokens; raise data.max_seq_length.")
            features["input_ids"].append(prompt + answer)
            features["attention_mask"].append([1] * (len(prompt) + len(answer)))
            if training:
                features["labels"].append([-100] * len(prompt) + answer)
        return features

    def loss(self, outputs, batch):
        """Summed cross-entropy of the answer tokens. The logits cover the last K positions
        (logits_to_keep), or all of them; position t predicts token t + 1."""
        logits = outputs.logits[:, :-1]
        targets = batch["labels"][:, -logits.shape[1]:]
        return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-100, reduction="sum")

    # -- generation and predictions ---------------------------------------------------------------
    def _stop_ids(self, model) -> list[int]:
        """End of sequence as the tokenizer and the model's generation config define it (a chat
        model's end-of-turn token may differ from its end of text)."""
        configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        configured = configured if isinstance(configured, list) else [configured] if configured is not None else []
        return list(dict.fromkeys([self.tokenizer.eos_token_id, *configured]))

    def generation_kwargs(self) -> dict:
        """What decides the generated text, for the toolkit and for the model card's pipeline call."""
        o = self.options
        return {"max_new_tokens": o.max_new_tokens, "do_sample": False, **({"num_beams": o.num_beams} if o.num_beams > 1 else {})}

    def predict_step(self, model, inputs):
        model = getattr(model, "module", model)  # generate() lives on the model itself, not on a DDP wrapper
        prompts = inputs["input_ids"]
        out = model.generate(input_ids=prompts, attention_mask=inputs["attention_mask"], **self.generation_kwargs(),
                             eos_token_id=self._stop_ids(model), pad_token_id=self.tokenizer.pad_token_id)
        return {"generated": out[:, prompts.shape[1]:]}

    def _text(self, tokens) -> str:
        stops = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
        kept = []
        for token in tokens:
            if token < 0 or token in stops:
                break
            kept.append(int(token))
        # An answer cut by max_new_tokens can end inside a character that a byte-level tokenizer
        # spells in several tokens (Chinese: 3 bytes): that half character decodes to U+FFFD.
        return self.tokenizer.decode(kept, skip_special_tokens=True).rstrip("\ufffd").strip()

    def decode(self, examples, features, outputs):
        texts = {index: self._text(tokens) for index, tokens in zip(features["example_index"], outputs["generated"])}
        return [{"id": qid, "text": texts.get(i, "")} for i, qid in enumerate(examples[self.options.id_column])]

    def has_gold(self, examples, split):
        return GOLD in examples.column_names

    def score(self, predictions, examples):
        golds = {qid: gold for qid, gold in zip(examples[self.options.id_column], examples[GOLD])}
        return self._scores(golds, {p["id"]: p["text"] for p in predictions})

    def _scores(self, golds: dict[str, list[str]], answers: dict[str, str]) -> dict[str, float]:
        """EM and F1 against every gold answer (SQuAD v1.1's or CMRC 2018's script), and corpus BLEU
        with every gold answer as a reference."""
        if self.options.metric == "cmrc":
            official = cmrc_metrics.cmrc2018_from_answers(golds, answers)
        else:
            official = squad_metrics.squad_v1_from_answers(golds, answers)
        bleu = bleu_metric.corpus_bleu([answers.get(qid, "") for qid in golds], list(golds.values()),
                                       tokenize=self.options.bleu_tokenize)
        return {"exact_match": official["exact_match"], "f1": official["f1"], "bleu": bleu.score}

    def score_files(self, predictions, references, null_odds=None):
        """Scores of predictions.json ({question id: answer}) against a SQuAD file or a JSONL file
        with the gold answers (no model)."""
        answers = read_json_mapping(predictions, "predictions: {question id: answer text} (the predictions.json "
                                                 "that train and evaluate --out write)")
        wrong = [qid for qid, text in answers.items() if not isinstance(text, str)]
        if wrong:
            raise InputError(f"{predictions}: the answer of question id {wrong[0]} is not a string.")
        references = self.needs_references(references)
        dataset, lines = read_file(self.config.data, str(references), "validation")
        split = RawSplit("validation", dataset, "file", str(references), lines)
        self.setup_labels({"validation": split})
        golds = dict(zip(split.dataset[self.options.id_column], split.dataset[GOLD]))
        missing = [qid for qid in golds if qid not in answers]
        if missing:
            raise InputError(f"{predictions}: no answer for {len(missing)} of {len(golds)} questions "
                             f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}).")
        return json.dumps(self._scores(golds, answers), indent=1)

    def write_predictions(self, folder: Path, name: str, examples, predictions):
        """predictions.json: {question id: answer}, as SQuAD's official format (score squad reads it too)."""
        path = folder / f"{name}.json"
        path.write_text(json.dumps({p["id"]: p["text"] for p in predictions}, indent=1, ensure_ascii=False))
        return [path]

    def card_usage(self, folder: Path, name: str) -> str:
        o = self.options
        if self.tokenizer is None:  # export builds no run: whether the prompt is a chat comes from the folder
            self.prepare_tokenizer(AutoTokenizer.from_pretrained(folder))
        kwargs = ", ".join(f"{k}={v!r}" for k, v in self.generation_kwargs().items())
        call = (card_code.GENERATIVE_CHAT_CALL if self.chat else card_code.GENERATIVE_PLAIN_CALL).format(kwargs=kwargs)
        generator = card_code.GENERATOR_FROM_ADAPTER if prompt_tuning.is_adapter_folder(folder) else card_code.GENERATOR
        return card_code.GENERATIVE_USAGE.format(generator=generator.format(name=name), context_template=o.context_template,
                                                 question_template=o.question_template, call=call, **card_code.GENERATIVE_EXAMPLE)

    def examples_from_flags(self, flags):
        questions, contexts = flags.get("question") or [], flags.get("context") or []
        if not questions:
            if contexts:
                raise InputError("give a --question for every --context.")
            return None
        if contexts and len(questions) != len(contexts):
            raise InputError("give one --context for every --question, or none at all.")
        o = self.options
        columns = {o.id_column: [str(i) for i in range(len(questions))], o.question_column: questions}
        if contexts:
            columns[o.context_column] = contexts
        return Dataset.from_dict(columns)

    def show(self, examples, predictions):
        return [f"{p['text'] or '(empty)'}\t{q}" for p, q in zip(predictions, examples[self.options.question_column])]
