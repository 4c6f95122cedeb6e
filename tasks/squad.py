"""Extractive span QA (SQuAD v1.1 and v2.0, CMRC 2018) with sliding windows over long contexts.

Encoding: question + context as a pair, only the context truncated, windows of max_seq_length
overlapping by doc_stride tokens; offsets map each context token back to its characters. The
no-answer position is token 0 of a window: [CLS] for BERT-style encoders, the first token (BOS for
Llama, the first question token for GPT-2) for decoders, which have no CLS. Padding is on the right
so that position 0 is always the window's first real token.

Decoding follows the reference (BERT's run_squad / transformers' run_qa): for each question, the
n-best start/end pairs of every window, start <= end, at most max_answer_length tokens, both in the
context, scored start + end logit; the best over all windows wins. v2 compares the best span with
the null score (start + end logit at position 0, the minimum over the question's windows): the
difference is the question's null odds, and the answer is empty when it exceeds null_threshold.

Scoring is SQuAD's official metric, or CMRC 2018's (metric: cmrc, finetune/metrics/cmrc.py). CMRC
2018 dev, as distributed, has answers from extra annotators that are not verbatim in the context
(answer_start -1): with unlocated_answers: reference such an answer is a reference for scoring only,
never a training target.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset
from transformers import AutoModelForQuestionAnswering

from finetune.data import splits as data_io
from finetune.data.splits import RawSplit, is_test_split
from finetune.errors import InputError
from finetune.metrics import cmrc as cmrc_metrics
from finetune.metrics import squad as squad_metrics
from finetune.models import prompt_tuning
from tasks.base import Adapter, check_text, column_texts, require_columns
from tasks import card_code
from tasks.roles import CommandLineInput, ModelCard, PredictionFiles

NO_ANSWER = 0  # the window position that stands for "no answer here"

NO_SPAN_ODDS = 1e9  # null odds of a question with no valid span in any window (finite: JSON has no inf)


@dataclass
class SquadOptions:
    version_2: bool = False  # questions may have no answer (SQuAD v2.0)
    doc_stride: int = 128  # tokens of overlap between consecutive windows of one context
    max_answer_length: int = 30  # in tokens
    n_best: int = 20  # start and end candidates a window; answers kept in nbest_predictions.json
    null_threshold: float = 0.0  # v2: answer "" when null score - best span score exceeds it
    question_column: str = "question"  # columns of JSONL or hub data (SQuAD JSON is read into these)
    context_column: str = "context"  # the passage that holds the answer
    answers_column: str = "answers"  # {"text": [...], "answer_start": [...]}
    id_column: str = "id"  # question ids, the keys of predictions.json (missing: row numbers)
    # squad: EM / F1 of the official SQuAD scripts (v2: HasAns / NoAns, best threshold). cmrc: the
    # official CMRC 2018 script (F1 on the longest common substring of characters and words; EM
    # without punctuation), for Chinese
    metric: Literal["squad", "cmrc"] = "squad"
    # An answer whose text is not in its context (CMRC 2018 dev marks them answer_start -1). error:
    # stop the run, naming the question. reference: keep it as a reference for scoring, never as a
    # training target; a training question with no answer in its context is left out (counted).
    unlocated_answers: Literal["error", "reference"] = "error"


def locate_answer(context: str, text: str, start: int) -> tuple[int, str] | None:
    """(start, how) of an answer in its context. Exact offsets pass; as the reference
    implementations do for the few off-by-whitespace answers, surrounding whitespace is stripped and
    a misplaced offset is moved to the nearest occurrence of the text. None: not in the context."""
    if 0 <= start and context[start:start + len(text)] == text:
        return start, "exact"
    stripped = text.strip()
    lead = len(text) - len(text.lstrip())
    for candidate in (start + lead, start):  # the offset counts the text's leading whitespace, or not
        if stripped and 0 <= candidate and context[candidate:candidate + len(stripped)] == stripped:
            return candidate, "whitespace"
    if not stripped:
        return None
    found = [i for i in range(len(context)) if context.startswith(stripped, i)]
    if not found:
        return None
    nearest = min(found, key=lambda i: abs(i - start))
    between = context[min(nearest, start + lead):max(nearest, start + lead)]
    return nearest, "whitespace" if between and between.isspace() else "moved"


class SquadAdapter(Adapter, PredictionFiles, CommandLineInput, ModelCard):
    metrics_in_percent = True  # the official evaluation scripts report percentages
    Options = SquadOptions
    model_class = AutoModelForQuestionAnswering
    prompt_task_type, position_outputs = "QUESTION_ANS", True
    pipeline_task = None  # transformers 5 removed the question-answering pipeline
    hub_tag = "question-answering"
    output_keys = ("start_logits", "end_logits")
    label_keys = ("start_positions", "end_positions")
    decode_columns = ("offset_mapping",)

    def __init__(self, config):
        super().__init__(config)
        o = self.options
        if o.doc_stride >= config.data.max_seq_length:
            raise InputError(f"config key 'doc_stride' ({o.doc_stride}) must be smaller than data.max_seq_length "
                             f"({config.data.max_seq_length}).")
        if o.metric == "cmrc" and o.version_2:
            raise InputError("config key 'metric': cmrc scores answerable questions only (CMRC 2018 has no "
                             "unanswerable ones); set version_2=false, or metric=squad for SQuAD v2.0.")
        self.primary_metric = "best_f1" if o.version_2 else "f1"

    # -- checks -----------------------------------------------------------------------------
    def prepare_tokenizer(self, tokenizer):
        tokenizer.padding_side = "right"  # position 0 stays the window's first token: the no-answer slot
        return tokenizer

    def setup_labels(self, splits: dict[str, RawSplit], trained_config=None) -> None:
        o = self.options
        for name, split in splits.items():
            columns = split.dataset.column_names
            needed = {o.question_column: "question_column", o.context_column: "context_column"}
            if not is_test_split(self.config.data, name):
                needed[o.answers_column] = "answers_column"
            require_columns(split, needed)
            for column in (o.question_column, o.context_column):
                check_text(split, column)
            if o.id_column not in columns:
                split.dataset = split.dataset.add_column(o.id_column, [str(i) for i in range(len(split.dataset))])
            if o.answers_column in columns and not is_test_split(self.config.data, name):
                split.dataset = self._checked_answers(split)

    def _checked_answers(self, split: RawSplit) -> Dataset:
        """Every answer anchored at its text in the context (re-anchored when the offset is off, counted);
        with unlocated_answers=reference, an answer not in the context keeps answer_start -1 (a
        reference only), and a training question without any answer in its context is left out."""
        o = self.options
        keep_unlocated = o.unlocated_answers == "reference"
        counts = {"whitespace": 0, "moved": 0, "unlocated": 0}
        fixed_rows, left_out = [], []
        for row, (qid, context, answers) in enumerate(zip(split.dataset[o.id_column], split.dataset[o.context_column],
                                                          split.dataset[o.answers_column])):
            problem = self._answers_problem(context, answers)
            if problem:
                split.reject(row, f"{split.where(row)}: question id {qid}{problem}")
                continue
            starts, texts = [], []
            for text, start in zip(answers["text"], answers["answer_start"]):
                located = locate_answer(context, text, start)
                if located is None:  # only with keep_unlocated: _answers_problem refuses it otherwise
                    starts.append(-1)
                    texts.append(text)
                    counts["unlocated"] += 1
                    continue
                starts.append(located[0])
                texts.append(text if located[1] == "exact" else text.strip())
                if located[1] != "exact":
                    counts[located[1]] += 1
            if keep_unlocated and texts and all(s < 0 for s in starts) and split.name == "train":
                left_out.append(row)
            if starts != list(answers["answer_start"]) or texts != list(answers["text"]):
                fixed_rows.append((row, {"text": texts, "answer_start": starts}))
        if counts["whitespace"] or counts["moved"]:
            print(f"  {split.name}: {counts['whitespace']} answer(s) off by whitespace and {counts['moved']} with a "
                  f"misplaced answer_start were re-anchored to their text in the context.")
        if counts["unlocated"]:
            print(f"  {split.name}: {counts['unlocated']} answer(s) not in their context (answer_start -1 or wrong, "
                  f"text not found) kept as references for scoring only, never as training targets.")
        if left_out:
            split.leave_out(left_out)
            shown = ", ".join(split.dataset[o.id_column][r] for r in left_out[:5]) + (", ..." if len(left_out) > 5 else "")
            print(f"  {split.name}: {len(left_out)} question(s) with no answer in their context left out of "
                  f"training ({shown}).")
        if not fixed_rows:
            return split.dataset
        fixes = dict(fixed_rows)
        column = [fixes.get(i, a) for i, a in enumerate(split.dataset[o.answers_column])]
        return split.dataset.remove_columns(o.answers_column).add_column(o.answers_column, column)

    def _answers_problem(self, context, answers) -> str | None:
        """Why a question's answers cannot be trained on, and the fix (after ' question id X'); None: fine."""
        if not isinstance(context, str) or not isinstance(answers, dict) or not isinstance(answers.get("text"), list) \
                or not isinstance(answers.get("answer_start"), list) or len(answers["text"]) != len(answers["answer_start"]):
            return (": needs a context string and answers {\"text\": [...], \"answer_start\": [...]} with one offset a text, "
                    f"got {answers!r}.")
        if not self.options.version_2 and not answers["text"]:
            return " has no answer; SQuAD v1.1 needs one (set version_2=true for unanswerable questions)."
        for text, start in zip(answers["text"], answers["answer_start"]):
            if not isinstance(text, str) or not isinstance(start, int):
                return f": answer {text!r} (answer_start {start!r}) needs a text and an integer offset."
            if self.options.unlocated_answers == "error" and locate_answer(context, text, start) is None:
                return (f": answer {text!r} (answer_start {start!r}) is not in its context. Fix the answer text or "
                        f"its offset, or set unlocated_answers=reference to score with it but not train on it.")
        return None

    # -- encoding ---------------------------------------------------------------------------
    def texts(self, examples):
        # A passage is read once however many questions it has.
        return (column_texts(examples, [self.options.question_column])
                + column_texts(examples, [self.options.context_column], distinct=True))

    def encode(self, batch, indices, tokenizer, split):
        o = self.options
        questions = [q.lstrip() for q in batch[o.question_column]]  # leading spaces only waste window room
        encoded = tokenizer(
            questions, batch[o.context_column], truncation="only_second", max_length=self.config.data.max_seq_length,
            stride=o.doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True, padding=False,
        )
        sample_of = encoded.pop("overflow_to_sample_mapping")
        offsets_all = encoded.pop("offset_mapping")
        training = split == "train"
        encoded["example_index"] = [indices[s] for s in sample_of]
        if training:
            encoded["start_positions"], encoded["end_positions"] = [], []
        else:
            encoded["offset_mapping"] = []
        for i, offsets in enumerate(offsets_all):
            sequence_ids = encoded.sequence_ids(i)
            context = [k for k, s in enumerate(sequence_ids) if s == 1]
            if not training:
                # Only context tokens keep offsets: a span may start and end only there.
                encoded["offset_mapping"].append([list(o_) if sequence_ids[k] == 1 else [-1, -1] for k, o_ in enumerate(offsets)])
                continue
            answers = batch[o.answers_column][sample_of[i]]
            start_end = (NO_ANSWER, NO_ANSWER)
            # The first answer found in the context (answer_start -1: a reference only, see setup_labels).
            target = next((k for k, s in enumerate(answers["answer_start"]) if s >= 0), None)
            if target is not None and context:
                start_char = answers["answer_start"][target]
                end_char = start_char + len(answers["text"][target])
                first, last = context[0], context[-1]
                if offsets[first][0] <= start_char and offsets[last][1] >= end_char:  # whole answer in this window
                    start = first
                    while start <= last and offsets[start][0] <= start_char:
                        start += 1
                    end = last
                    while end >= first and offsets[end][1] >= end_char:
                        end -= 1
                    start_end = (start - 1, end + 1)
            encoded["start_positions"].append(start_end[0])
            encoded["end_positions"].append(start_end[1])
        return encoded

    def loss(self, outputs, batch):
        # Pad positions are not candidates: left in, an example's loss would depend on the batch it
        # is padded in, and accumulation or length grouping would change training.
        pad = batch["attention_mask"] == 0
        start_logits = outputs.start_logits.float().masked_fill(pad, float("-inf"))
        end_logits = outputs.end_logits.float().masked_fill(pad, float("-inf"))
        start = F.cross_entropy(start_logits, batch["start_positions"], reduction="sum")
        end = F.cross_entropy(end_logits, batch["end_positions"], reduction="sum")
        return (start + end) / 2

    def count_items(self, batch):
        return torch.tensor(batch["start_positions"].shape[0], device=batch["start_positions"].device)

    # -- decoding ---------------------------------------------------------------------------
    def decode(self, examples, features, outputs):
        o = self.options
        windows = defaultdict(list)
        for feature, example in enumerate(features["example_index"]):
            windows[example].append(feature)
        all_offsets = features["offset_mapping"]
        contexts, ids = examples[o.context_column], examples[o.id_column]
        predictions = []
        for example, (qid, context) in enumerate(zip(ids, contexts)):
            candidates, null_score = [], None
            for feature in windows[example]:
                offsets = all_offsets[feature]
                n = len(offsets)
                starts, ends = outputs["start_logits"][feature][:n], outputs["end_logits"][feature][:n]
                score = float(starts[NO_ANSWER] + ends[NO_ANSWER])
                null_score = score if null_score is None else min(null_score, score)
                best_starts = np.argsort(starts)[::-1][:o.n_best]
                best_ends = np.argsort(ends)[::-1][:o.n_best]
                for s in best_starts:
                    if offsets[s][0] < 0:
                        continue
                    for e in best_ends:
                        if offsets[e][0] < 0 or e < s or e - s + 1 > o.max_answer_length:
                            continue
                        candidates.append((float(starts[s] + ends[e]), offsets[s][0], offsets[e][1],
                                           float(starts[s]), float(ends[e])))
            candidates.sort(key=lambda c: -c[0])
            nbest = [{"text": context[c1:c2], "score": sc, "start_logit": sl, "end_logit": el}
                     for sc, c1, c2, sl, el in candidates[:o.n_best]]
            if o.version_2:
                nbest.append({"text": "", "score": null_score, "start_logit": None, "end_logit": None})
                nbest.sort(key=lambda c: -c["score"])
                nbest = nbest[:o.n_best]
            if not nbest:
                nbest = [{"text": "", "score": 0.0, "start_logit": None, "end_logit": None}]
            scores = np.array([c["score"] for c in nbest])
            probabilities = np.exp(scores - scores.max())
            probabilities /= probabilities.sum()
            for entry, p in zip(nbest, probabilities):
                entry["probability"] = float(p)
            best_span = candidates[0] if candidates else None
            # The best non-null span, kept apart from the answer: the threshold search needs it.
            prediction = {"id": qid, "nbest": nbest, "span": context[best_span[1]:best_span[2]] if best_span else ""}
            if o.version_2:
                span_score = best_span[0] if best_span else -np.inf
                # No span anywhere (an empty context): as sure as it gets that there is no answer.
                prediction["null_odds"] = float(null_score - span_score) if best_span else NO_SPAN_ODDS
                answer = "" if prediction["null_odds"] > o.null_threshold or best_span is None else context[best_span[1]:best_span[2]]
            else:
                answer = context[best_span[1]:best_span[2]] if best_span else ""
            prediction["text"] = answer
            predictions.append(prediction)
        return predictions

    def has_gold(self, examples, split):
        return self.options.answers_column in examples.column_names and not is_test_split(self.config.data, split)

    def _gold(self, examples) -> dict[str, list[str]]:
        o = self.options
        return {qid: list(a["text"]) for qid, a in zip(examples[o.id_column], examples[o.answers_column])}

    def score(self, predictions, examples):
        gold = self._gold(examples)
        if self.options.metric == "cmrc":
            scores = cmrc_metrics.cmrc2018_from_answers(gold, {p["id"]: p["text"] for p in predictions})
            return {"f1": scores["f1"], "exact_match": scores["exact_match"]}
        if self.options.version_2:
            # The official script on the best spans with --na-prob-thresh null_threshold: its main
            # keys equal those of the thresholded answers, and its best-threshold search can still
            # answer a question that the current threshold leaves empty (the answers file cannot).
            spans = {p["id"]: p["span"] for p in predictions}
            odds = {p["id"]: p["null_odds"] for p in predictions}
            return dict(squad_metrics.squad_v2_from_answers(gold, spans, odds, na_prob_thresh=self.options.null_threshold))
        return dict(squad_metrics.squad_v1_from_answers(gold, {p["id"]: p["text"] for p in predictions}))

    def score_files(self, predictions, references, null_odds=None):
        """What evaluate-v1.1.py / evaluate-v2.0.py (v2: --na-prob-file) or cmrc2018_evaluate.py print
        for the same files."""
        dataset = squad_metrics.load_squad_json(self.needs_references(references))
        answers = data_io.read_json_mapping(predictions, "predictions: {question id: answer text}")
        if self.options.metric == "cmrc":
            scores = cmrc_metrics.cmrc2018(dataset, answers)
            cmrc_metrics.print_unanswered(scores.missing)
            return cmrc_metrics.format_official(scores, predictions)
        if self.options.version_2:
            odds = data_io.read_json_mapping(null_odds, "null odds: {question id: number}") if null_odds else None
            return squad_metrics.format_v2(squad_metrics.squad_v2(dataset, answers, odds))
        scores = squad_metrics.squad_v1(dataset, answers)
        for message in squad_metrics.v1_messages(dataset, scores.missing):
            print(message, file=sys.stderr)
        return squad_metrics.format_v1(scores)

    def export_options(self, metrics: dict[str, float]) -> dict:
        """v2: the export answers with the threshold that scored best on dev."""
        if self.options.version_2 and "best_f1_thresh" in metrics:
            return {"null_threshold": float(metrics["best_f1_thresh"])}
        return {}

    # -- files ------------------------------------------------------------------------------
    def write_predictions(self, folder: Path, name: str, examples, predictions):
        """The official formats: predictions.json (id -> text), nbest_predictions.json, null_odds.json."""
        suffix = name[len("predictions"):]
        files = {folder / f"{name}.json": {p["id"]: p["text"] for p in predictions},
                 folder / f"nbest_{name}.json": {p["id"]: p["nbest"] for p in predictions}}
        if self.options.version_2:
            files[folder / f"null_odds{suffix}.json"] = {p["id"]: p["null_odds"] for p in predictions}
        for path, content in files.items():
            path.write_text(json.dumps(content, indent=1, ensure_ascii=False))
        return list(files)

    def examples_from_flags(self, flags):
        questions, contexts = flags.get("question") or [], flags.get("context") or []
        if not questions and not contexts:
            return None
        if len(questions) != len(contexts):
            raise InputError("give one --context for every --question.")
        return Dataset.from_dict({self.options.id_column: [str(i) for i in range(len(questions))],
                                  self.options.question_column: questions, self.options.context_column: contexts})

    def card_usage(self, folder: Path, name: str) -> str:
        o = self.options
        examples = card_code.SQUAD_EXAMPLES
        question, context = examples.get(self.config.language or "en", examples["en"])
        threshold = card_code.SQUAD_UNANSWERABLE.format(threshold=o.null_threshold) if o.version_2 else ""
        return card_code.SQUAD_USAGE.format(name=name, question=question, context=context,
                                            **card_code.span_loading(prompt_tuning.cut_positions(folder)),
                                            max_length=self.config.data.max_seq_length, stride=o.doc_stride,
                                            max_answer_length=o.max_answer_length, unanswerable=threshold)

    def show(self, examples, predictions):
        lines = []
        for prediction, question in zip(predictions, examples[self.options.question_column]):
            best = prediction["nbest"][0]
            lines.append(f"{prediction['text'] or '(no answer)'}\t{best['probability']:.3f}\t{question}")
        return lines

