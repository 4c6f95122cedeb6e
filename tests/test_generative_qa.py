"""Generative QA on tiny random decoders (Llama and GPT-2 with LM heads, a vocabulary built here)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import run_cli

from finetune.engine.build import build
from finetune.errors import InputError
from finetune.models import peft_methods
from tasks import registry
from tasks.registry import load_config

PAIRS = [("France", "Paris"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Peru", "Lima"), ("Chile", "Santiago"),
         ("Japan", "Tokyo")]
FILLER = "old town by a long river with many bridges and a large square where people meet".split()
WORDS = ["Context", ":", "Question", "Answer", "?", ".", "the", "capital", "of", "is", "what", "city",
         *[w for pair in PAIRS for w in pair], *FILLER]
# A chat template in SmolLM2's layout, for the chat-prompt tests.
CHAT_TEMPLATE = ("{% for m in messages %}<s>{{ m['role'] }} : {{ m['content'] }}</s>{% endfor %}"
                 "{% if add_generation_prompt %}<s>assistant :{% endif %}")


def _causal(folder: Path, kind: str, chat: bool = False) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
    )

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for word in WORDS + ["user", "assistant"]:
        vocab.setdefault(word, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", eos_token="</s>", bos_token="<s>")
    if chat:
        tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    if kind == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_embd=32, n_layer=2, n_head=2, n_positions=128,
                                           resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=1, eos_token_id=2))
    else:
        model = LlamaForCausalLM(LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                             num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128,
                                             bos_token_id=1, eos_token_id=2))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("causal")
    return {"llama": _causal(root / "llama", "llama"), "gpt2": _causal(root / "gpt2", "gpt2"),
            "chat": _causal(root / "chat", "llama", chat=True)}


def _row(i: int, country: str, city: str, padding: int = 0) -> dict:
    filler = " ".join(FILLER[:padding])
    context = f"{filler} the capital of {country} is {city} ." if filler else f"the capital of {country} is {city} ."
    return {"id": f"q{i}", "question": f"what is the capital of {country} ?", "context": context, "answer": city}


@pytest.fixture(scope="module")
def qa_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qa")
    rows = [_row(i, c, a, padding=i % 4) for i, (c, a) in enumerate(PAIRS)]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows * 4))
    (folder / "dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def _config(model: Path, data: Path, *extra: str):
    return load_config("squad_generative", [f"model={model}", f"data.train={data / 'train.jsonl'}",
                                            f"data.validation={data / 'dev.jsonl'}", "data.max_seq_length=64", *extra])


# -- label masking ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_only_the_answer_and_end_of_sequence_carry_labels(kind, models_dir, qa_data):
    built = build(_config(models_dir[kind], qa_data), ["train"])
    tokenizer, features = built.tokenizer, built.features["train"]
    for i in range(len(PAIRS)):
        ids, labels = features[i]["input_ids"], features[i]["labels"]
        prompt = tokenizer(built.adapter.render(_row(i, *PAIRS[i])["question"], built.splits["train"].dataset[i]["context"]))["input_ids"]
        assert ids[:len(prompt)] == prompt and labels[:len(prompt)] == [-100] * len(prompt)
        answer = labels[len(prompt):]
        assert answer == ids[len(prompt):] and answer[-1] == tokenizer.eos_token_id
        assert tokenizer.decode(answer[:-1]) == PAIRS[i][1]


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_left_padded_batch_loss_on_kept_logits_equals_the_full_loss(kind, models_dir, qa_data):
    built = build(_config(models_dir[kind], qa_data), ["train"])
    features = built.features["train"].remove_columns(["length"])
    from finetune.engine import batching

    collate = batching.collator(built.tokenizer, False, built.adapter.collator_class)
    batch = collate([features[i] for i in range(4)])
    lengths = [len(features[i]["input_ids"]) for i in range(4)]
    width = max(lengths)
    assert batch["input_ids"].shape == (4, width)
    for row, length in enumerate(lengths):  # pads first, labels -100 on them
        assert batch["attention_mask"][row].tolist() == [0] * (width - length) + [1] * length
        assert batch["labels"][row, :width - length].eq(-100).all()
    answer_span = max(sum(1 for x in features[i]["labels"] if x != -100) for i in range(4))
    assert batch["logits_to_keep"] == answer_span + 1

    model = built.model.eval()
    inputs = {k: v for k, v in batch.items() if k not in ("labels", "example_index")}
    kept = built.adapter.loss(model(**inputs), batch)
    full_logits = model(**{k: v for k, v in inputs.items() if k != "logits_to_keep"}).logits
    full = F.cross_entropy(full_logits[:, :-1].flatten(0, 1), batch["labels"][:, 1:].flatten(), ignore_index=-100,
                           reduction="sum")
    assert kept.item() == pytest.approx(full.item(), rel=1e-5)
    assert built.adapter.count_items(batch) == sum(sum(1 for x in features[i]["labels"] if x != -100) for i in range(4))


# -- generation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, beams", [("llama", 1), ("gpt2", 1), ("llama", 3)])
def test_left_padded_batched_generation_equals_one_at_a_time(kind, beams, models_dir, qa_data):
    config = _config(models_dir[kind], qa_data, "max_new_tokens=6", f"num_beams={beams}")
    built = build(config, ["validation"])
    from finetune.engine import batching

    features = built.features["validation"].remove_columns(["length"])
    collate = batching.collator(built.tokenizer, False, built.adapter.collator_class)
    rows = [0, 3, 1, 2]  # contexts of different lengths: different amounts of padding
    assert len({len(features[i]["input_ids"]) for i in rows}) > 1
    model = built.model.eval()
    with torch.no_grad():
        batched = built.adapter.predict_step(model, collate([features[i] for i in rows]))["generated"]
        for position, i in enumerate(rows):
            alone = built.adapter.predict_step(model, collate([features[i]]))["generated"][0]
            assert built.adapter._text(batched[position].tolist()) == built.adapter._text(alone.tolist())
            assert batched[position, :len(alone)].tolist() == alone.tolist()


def test_long_contexts_are_cut_around_the_answer_for_training_and_from_the_end_for_evaluation(models_dir, tmp_path):
    row = {"id": "long", "question": "what is the capital of Peru ?", "answer": "Lima",
           "context": " ".join(FILLER * 3) + " the capital of Peru is Lima . " + " ".join(FILLER * 3)}
    for name in ("train", "dev"):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps(row) + "\n")
    built = build(_config(models_dir["llama"], tmp_path, "data.max_seq_length=40"), ["train", "validation"])
    tokenizer = built.tokenizer
    train, dev = built.features["train"][0], built.features["validation"][0]
    assert len(train["input_ids"]) <= 40 and len(dev["input_ids"]) <= 40
    prompt = tokenizer.decode([t for t, label in zip(train["input_ids"], train["labels"]) if label == -100])
    assert "the capital of Peru is Lima" in prompt and prompt.endswith("Question : what is the capital of Peru ? Answer :")
    assert tokenizer.decode(dev["input_ids"]).startswith("Context : old town by a long river")  # the start is kept
    assert dev["input_ids"][-len(tokenizer("Question : what is the capital of Peru ? Answer :")["input_ids"]):] == \
        tokenizer("Question : what is the capital of Peru ? Answer :")["input_ids"]


def test_a_question_too_long_for_the_window_is_an_input_error(models_dir, qa_data):
    with pytest.raises(InputError) as error:
        build(_config(models_dir["llama"], qa_data, "data.max_seq_length=8"), ["train"])
    assert "question id q0" in str(error.value) and "data.max_seq_length=8" in str(error.value)


def test_a_training_answer_too_long_for_the_window_is_left_out_and_named(models_dir, qa_data, tmp_path, capsys):
    # CMRC's trial set has a 435-character answer; it used to stop the whole run.
    rows = [json.loads(line) for line in (qa_data / "train.jsonl").read_text().splitlines()]
    long = {"id": "essay", "question": "why ?", "context": "because .", "answer": " ".join(FILLER * 4)}
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*rows[:3], long, *rows[3:]]))
    (tmp_path / "dev.jsonl").write_text((qa_data / "dev.jsonl").read_text())
    built = build(_config(models_dir["llama"], tmp_path), ["train"])
    assert "1 question(s) whose question and answer alone take more than data.max_seq_length=64 tokens left out " \
           "of training (essay)" in capsys.readouterr().out
    assert len(built.features["train"]) == len(rows)
    assert "essay" not in built.splits["train"].dataset["id"]


def test_chat_template_prompt_is_the_user_turn_and_the_answer_the_assistant_turn(models_dir, qa_data):
    built = build(_config(models_dir["chat"], qa_data), ["train"])
    tokenizer, feature, example = built.tokenizer, built.features["train"][0], built.splits["train"].dataset[0]
    message = f"Context: {example['context']}\nQuestion: {example['question']}\nAnswer:"
    expected = tokenizer.apply_chat_template([{"role": "user", "content": message}], add_generation_prompt=True,
                                             tokenize=True, return_dict=False)
    prompt_length = feature["labels"].count(-100)
    assert feature["input_ids"][:prompt_length] == list(expected)
    assert tokenizer.decode(feature["input_ids"][prompt_length:]) == "Paris </s>"


# -- data ---------------------------------------------------------------------------------------
def test_squad_files_train_on_the_first_answer_and_score_against_all(models_dir, tmp_path):
    squad = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "the capital of Peru is Lima .", "qas": [
        {"id": "a", "question": "what is the capital of Peru ?",
         "answers": [{"text": "Lima", "answer_start": 23}, {"text": "Lima .", "answer_start": 23}]}]}]}]}
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(squad))
    config = load_config("squad_generative", [f"model={models_dir['llama']}", f"data.train={path}",
                                              f"data.validation={path}", "data.max_seq_length=64"])
    built = build(config, ["train", "validation"])
    feature = built.features["train"][0]
    assert built.tokenizer.decode([t for t in feature["labels"] if t != -100]) == "Lima </s>"
    adapter, examples = built.adapter, built.splits["validation"].dataset
    assert examples[0]["gold_answers"] == ["Lima", "Lima ."]
    assert adapter.score([{"id": "a", "text": "Lima ."}], examples)["exact_match"] == 100.0


@pytest.mark.parametrize("line, message", [
    ({"question": "q", "context": "c"}, "no column 'answers' or 'answer'"),
    ({"question": "q", "answer": 3}, "line 2: question id 1: 'answer' must hold a non-empty answer"),
    ({"question": "q", "answer": ""}, "line 2: question id 1: 'answer' must hold a non-empty answer"),
])
def test_bad_answers_are_input_errors_naming_the_line(models_dir, tmp_path, line, message):
    good = {"question": "what is the capital of Peru ?", "answer": "Lima"}
    rows = [good, line] if "answer" in line else [line, line]
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = load_config("squad_generative", [f"model={models_dir['llama']}", f"data.train={path}", f"data.validation={path}",
                                              "data.max_seq_length=64"])
    with pytest.raises(InputError) as error:
        build(config, ["train"])
    assert message in str(error.value) and str(path) in str(error.value)


# -- a whole run: overfit, export, pipeline, predict, score ---------------------------------------
def _cli(capsys, *args: str) -> str:
    """The CLI in this process (no interpreter start-up); its stdout."""
    from finetune.cli import main

    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    assert code == 0, out.err[-2000:]
    return out.out


@pytest.fixture(scope="module", params=["llama", "chat"])
def trained(request, models_dir, qa_data, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"run-{request.param}")
    rows = [_row(i, c, a, padding=i % 4) for i, (c, a) in enumerate(PAIRS)]
    (out / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows * 25))
    result = run_cli("train", "squad_generative", f"model={models_dir[request.param]}", f"data.train={out / 'train.jsonl'}",
                     f"data.validation={qa_data / 'dev.jsonl'}", "data.max_seq_length=64", f"output_dir={out}",
                     "run_name=qa", "train.epochs=4", "train.lr=1e-2", "train.batch_size=4", "train.warmup_ratio=0",
                     "max_new_tokens=4", "train.group_by_length=false")  # copies of a row have one length
    assert result.returncode == 0, result.stderr[-3000:]
    return request.param, out / "qa"


def test_a_tiny_model_overfits_to_exact_match_100(trained):
    _, run = trained
    metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    assert metrics["exact_match"] == 100.0 and metrics["f1"] == 100.0
    predictions = json.loads((run / "predictions.json").read_text())
    assert predictions == {f"q{i}": city for i, (_, city) in enumerate(PAIRS)}


def test_export_card_pipeline_gives_the_toolkits_answer(trained, tmp_path, capsys):
    kind, run = trained
    export = tmp_path / "export"
    _cli(capsys, "export", str(run), "--out", str(export))
    card = (export / "README.md").read_text()
    assert "pipeline_tag: text-generation" in card
    assert ("messages = [" in card) == (kind == "chat")
    snippet = card.split("```python\n")[1].split("```")[0].replace(f'"{export.name}"', f'"{export}"')
    # The card's example asks its own question; ask one the tiny model learnt.
    snippet = snippet.replace("The Eiffel Tower was completed in 1889 and stands in Paris.", "the capital of France is Paris .")
    snippet = snippet.replace("When was the Eiffel Tower completed?", "what is the capital of France ?")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(snippet, {})
    predicted = _cli(capsys, "predict", str(export), "--question", "what is the capital of France ?",
                     "--context", "the capital of France is Paris .")
    assert printed.getvalue().strip() == predicted.split("\t")[0] == "Paris"
    without_context = _cli(capsys, "predict", str(export), "--question", "what is the capital of Chile ?")
    assert without_context.endswith("\twhat is the capital of Chile ?\n")


@pytest.mark.parametrize("trained", ["llama"], indirect=True)
def test_two_processes_generate_every_answer_once(trained, qa_data, tmp_path, capsys):
    """Generated ids of different lengths are padded with -100 across processes and gathered;
    7 questions give the two processes uneven shares."""
    from test_multiprocess import LAUNCH

    _, run = trained
    rows = [_row(i, c, a, padding=i % 4) for i, (c, a) in enumerate(PAIRS)] + [_row(6, "Peru", "Lima", padding=9)]
    dev = tmp_path / "dev.jsonl"
    dev.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _cli(capsys, "evaluate", str(run), f"data.validation={dev}", "max_new_tokens=8", "--out", str(tmp_path / "one"))
    two = run_cli("evaluate", str(run), f"data.validation={dev}", "max_new_tokens=8", "--out", str(tmp_path / "two"),
                  launcher=LAUNCH)
    assert two.returncode == 0, two.stderr[-3000:]
    one_answers, two_answers = (json.loads((tmp_path / n / "predictions.json").read_text()) for n in ("one", "two"))
    assert len(two_answers) == 7 and two_answers == one_answers
    assert (json.loads((tmp_path / "two" / "metrics.json").read_text())["metrics"]
            == json.loads((tmp_path / "one" / "metrics.json").read_text())["metrics"])


def test_score_command_scores_a_predictions_file(qa_data, tmp_path, capsys):
    import sacrebleu

    predictions = {f"q{i}": (city if i % 2 else f"the city of {city}") for i, (_, city) in enumerate(PAIRS)}
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps(predictions))
    scores = json.loads(_cli(capsys, "score", "squad_generative", "--predictions", str(path),
                             "--references", str(qa_data / "dev.jsonl")))
    assert scores["exact_match"] == pytest.approx(50.0)
    # "the city of X" against "X": precision 1/4, recall 1, F1 0.4 (SQuAD drops the article "the").
    assert scores["f1"] == pytest.approx(100 * (3 + 3 * 2 * (1 / 3) / (1 / 3 + 1)) / 6)
    expected = sacrebleu.corpus_bleu(list(predictions.values()), [[city for _, city in PAIRS]])
    assert scores["bleu"] == pytest.approx(expected.score, abs=1e-9)


def test_chinese_answers_score_with_the_cmrc_metric_and_chinese_bleu(tmp_path, capsys):
    """cmrc2018_generative: CMRC 2018's character F1 (SQuAD's whitespace F1 would give a partial
    Chinese answer 0) and BLEU over sacrebleu's zh tokenizer."""
    import sacrebleu

    from finetune.metrics import cmrc

    golds = {"q0": "眉州眉山", "q1": "北宋", "q2": "文学家"}
    answers = {"q0": "眉山", "q1": "北宋", "q2": "著名的文学家"}
    references = tmp_path / "dev.jsonl"
    references.write_text("".join(json.dumps({"id": q, "question": "？", "context": "。", "answer": a},
                                             ensure_ascii=False) + "\n" for q, a in golds.items()), encoding="utf-8")
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps(answers, ensure_ascii=False), encoding="utf-8")
    scores = json.loads(_cli(capsys, "score", "cmrc2018_generative", "--predictions", str(path),
                             "--references", str(references)))
    # 眉山 in 眉州眉山: LCS 2, P 1, R 1/2 -> 2/3; 北宋 exact; 文学家 in 著名的文学家: P 1/2, R 1 -> 2/3
    assert scores["f1"] == pytest.approx(100 * (2 / 3 + 1 + 2 / 3) / 3)
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(cmrc.cmrc2018_from_answers({q: [a] for q, a in golds.items()}, answers)["f1"])
    expected = sacrebleu.corpus_bleu(list(answers.values()), [list(golds.values())], tokenize="zh")
    assert scores["bleu"] == pytest.approx(expected.score, abs=1e-9)


def test_score_command_names_questions_without_an_answer(qa_data, tmp_path, capsys):
    from finetune.cli import main

    path = tmp_path / "predictions.json"
    path.write_text(json.dumps({"q0": "Paris"}))
    assert main(["score", "squad_generative", "--predictions", str(path), "--references", str(qa_data / "dev.jsonl")]) == 2
    assert "no answer for 5 of 6 questions (q1, q2" in capsys.readouterr().err


# -- LoRA -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["lora", "ia3"])
@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_the_saved_merged_model_computes_what_the_adapters_compute(method, kind, models_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    from tasks import registry

    config = load_config("squad_generative", [f"model={models_dir[kind]}", f"peft.method={method}", "lora.r=4"])
    model = peft_methods.apply(AutoModelForCausalLM.from_pretrained(models_dir[kind]), config, registry.get(config))
    with torch.no_grad():  # trained adapters: LoRA's B is zero and IA3's vectors one at first, which would hide a wrong merge
        for name, parameter in model.named_parameters():
            if "lora_B" in name or "ia3_l" in name:
                parameter.normal_(1.0 if "ia3_l" in name else 0.0, 0.5)
    peft_methods.save_pretrained(model, tmp_path)
    saved = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert not any(t in k for k in saved.state_dict() for t in ("lora_", "ia3_", "base_layer"))
    ids = torch.tensor([[1, 5, 6, 7, 8]])
    torch.testing.assert_close(saved(ids).logits, model.eval()(ids).logits, rtol=1e-5, atol=1e-5)  # eval: no LoRA dropout
    assert any("lora_B" in n or "ia3_l" in n for n, _ in model.named_parameters())  # the copy was merged, not the model


def test_lora_run_saves_plain_merged_weights_and_resumes_exactly_after_a_kill(models_dir, qa_data, tmp_path):
    """Only the targeted projections change, saved merged (no peft files). SIGKILL after step 5
    (checkpoints at 2 and 4): the resumed run ends with the uninterrupted run's weights and losses,
    LoRA dropout included."""
    from safetensors.torch import load_file

    def train(out, **env):
        return run_cli("train", "squad_generative", f"model={models_dir['llama']}", f"data.train={qa_data / 'train.jsonl'}",
                       f"data.validation={qa_data / 'dev.jsonl'}", "data.max_seq_length=64", f"output_dir={out}",
                       "run_name=lora", "train.max_steps=6", "train.save_every=2", "train.keep_last=3", "train.log_every=1",
                       "peft.lr=1e-2", "train.batch_size=4", "lora.enabled=true", "lora.r=4", "lora.dropout=0.3",
                       "lora.target_modules=[q_proj,v_proj]", "data.max_eval_samples=2", env=env)

    assert train(tmp_path / "whole").returncode == 0
    assert train(tmp_path / "cut", FINETUNE_TEST_KILL_AT_STEP="5").returncode == -9
    resumed = train(tmp_path / "cut")
    assert resumed.returncode == 0 and "step 4" in resumed.stdout, resumed.stderr[-2000:]
    best = tmp_path / "whole" / "lora" / "checkpoints" / "best"
    assert not (best / "adapter_config.json").exists()
    base = load_file(models_dir["llama"] / "model.safetensors")
    whole, cut = (load_file(p / "lora" / "checkpoints" / "best" / "model.safetensors") for p in (tmp_path / "whole", tmp_path / "cut"))
    assert whole.keys() == base.keys()
    changed = {k for k in whole if not torch.equal(whole[k], base[k])}
    assert changed and all(k.endswith(("q_proj.weight", "v_proj.weight")) for k in changed)
    for key in whole:
        torch.testing.assert_close(cut[key], whole[key], rtol=0, atol=1e-6, msg=key)
    losses = [[r["loss"] for r in map(json.loads, (p / "lora" / "log.jsonl").read_text().splitlines()) if "loss" in r]
              for p in (tmp_path / "whole", tmp_path / "cut")]
    assert len(losses[0]) == 6 and losses[1] == pytest.approx(losses[0], abs=1e-6)


def test_an_answer_cut_inside_a_chinese_character_drops_the_half_character():
    """Byte-level tokenizers spell a Chinese character in several tokens; max_new_tokens can stop
    between them, and the half character must not reach the answer as U+FFFD."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    backend = ByteLevelBPETokenizer()
    backend.train_from_iterator(["the cat"] * 5, vocab_size=260, min_frequency=1, special_tokens=["<eos>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend._tokenizer, eos_token="<eos>", pad_token="<eos>")
    adapter = registry.get(load_config("cmrc2018_generative", []))
    adapter.tokenizer = tokenizer
    ids = tokenizer("眉山", add_special_tokens=False)["input_ids"]
    assert len(ids) == 6  # 3 bytes a character, none merged
    assert adapter._text(ids) == "眉山" and adapter._text(ids[:5]) == "眉" and adapter._text(ids[:3]) == "眉"


def test_a_tied_decoder_checkpoints_without_accelerates_shared_tensor_warning(models_dir, qa_data, tmp_path):
    # GPT-2 ties lm_head to the input embedding; accelerate said "Removed shared tensor ..." at every
    # checkpoint, in the middle of the progress bar. The weights are tied again on load.
    result = run_cli("train", "squad_generative", f"model={models_dir['gpt2']}", f"data.train={qa_data / 'train.jsonl'}",
                     f"data.validation={qa_data / 'dev.jsonl'}", "data.max_seq_length=64", f"output_dir={tmp_path}",
                     "run_name=tied", "train.max_steps=2", "train.save_every=1", "train.batch_size=4", "max_new_tokens=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert list((tmp_path / "tied" / "checkpoints").glob("step-*"))
    assert "Removed shared tensor" not in result.stderr
