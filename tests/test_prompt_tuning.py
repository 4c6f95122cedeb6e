"""peft.method=prompt|prefix: virtual tokens learned in front of the input, on tiny random models.
The run trains the virtual tokens and the head only, its checkpoints hold just those, its saved
model is a peft adapter folder that evaluates to the run's metrics, the model card's code (peft's
AutoPeftModelFor*, no toolkit) gives `predict`'s answers, a killed run resumes exactly, and the
combinations that would compute something else exit 2 naming the method and the task."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
import torch
from safetensors.torch import load_file
from test_contract import CASES, _case, _cli
from test_peft import resumes_exactly, trained_a_few

from finetune.cli import main
from finetune.models import backbones

BY_ID = {c[0]: c for c in CASES}
# (case id, contract case, method): every task peft serves with virtual tokens
RUNS = [("classification", "classification", "prompt"), ("ner", "ner", "prompt"), ("squad", "squad", "prompt"),
        ("generative-prompt", "generative_qa", "prompt"), ("generative-prefix", "generative_qa", "prefix")]
TRAINED = ("prompt_encoder", "modules_to_save", "prompt_embeddings", "classifier.", "qa_outputs.", "score.")


@pytest.mark.parametrize("case_id, case, method", RUNS, ids=[r[0] for r in RUNS])
def test_virtual_tokens_train_and_the_adapter_folder_serves_the_run(case_id, case, method, request, tiny_files, tmp_path, capsys):
    _, task, backbone = BY_ID[case]
    name, overrides = _case(case, task, backbone, request, tiny_files)
    long_run = "train.max_steps=4" in overrides
    overrides = [o for o in overrides if not o.startswith(("train.lr=", "train.save_every=", "train.keep_last=",
                                                           "data.max_seq_length="))]
    overrides += ["train.max_steps=16"] if long_run else []
    if task.name == "generative_qa":
        # A tiny random LM's logits hardly depend on its input (LM head weights ~0.02): every step
        # sees the whole training set, so the loss's small fall shows instead of the batches' spread.
        overrides += ["train.batch_size=128", "train.max_steps=16", "max_new_tokens=2"]
    runs = tmp_path / "runs"
    printed = _cli(capsys, "train", name, *overrides, f"peft.method={method}", "peft.virtual_tokens=4", f"peft.lr={0.3 if task.name == 'generative_qa' else 0.05}",
                   "data.max_seq_length=56", "train.save_every=2", "train.keep_last=1", f"output_dir={runs}", "run_name=p")
    run = runs / "p"
    summary = trained_a_few(run, printed, method)

    # checkpoints and the saved model hold the virtual tokens and the head, nothing of the base model
    step = next(p for p in (run / "checkpoints").iterdir() if p.name.startswith("step-"))
    for saved in (load_file(str(step / "model.safetensors")), load_file(str(run / "checkpoints" / "best" / "adapter_model.safetensors"))):
        assert saved and all(any(t in key for t in TRAINED) for key in saved), sorted(saved)
    best = run / "checkpoints" / "best"
    assert (best / "adapter_config.json").is_file() and not (best / "model.safetensors").exists()

    # evaluate loads the folder (the pretrained base from disk, the adapter on it) and gives the run's
    # dev metrics: so the base model's weights did not change in training either
    _cli(capsys, "evaluate", str(run), "--out", str(tmp_path / "evaluated"))
    again = json.loads((tmp_path / "evaluated" / "metrics.json").read_text())["metrics"]
    for key, value in summary["metrics"].items():
        assert again[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key

    # the export's card: peft's AutoPeftModelFor* loads it with no toolkit code, and answers as predict does
    export = tmp_path / "export"
    _cli(capsys, "export", str(run), "--out", str(export))
    card = (export / "README.md").read_text()
    assert "library_name: peft" in card and "AutoPeftModelFor" in card
    assert not _card_disagreements(card, export, task.name, tmp_path, capsys)
    if method == "prompt":
        capsys.readouterr()
        assert main(["export", str(run), "--out", str(tmp_path / "onnx"), "--onnx"]) == 2
        assert "adapter folder" in capsys.readouterr().err


def _card_disagreements(card: str, export, task: str, tmp_path, capsys) -> list:
    """Run the card's code as a reader would, and `predict` on the card's own input: what differs."""
    snippet = card.split("```python\n")[1].split("```")[0].replace(f'"{export.name}"', f'"{export}"')
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet, "README.md", "exec"), {})
    card_says = printed.getvalue().strip()
    if task == "classification":
        text = "A gripping, beautifully acted film."
        shown = _predicted(capsys, export, "--text", text)
        label, probability, _ = shown.split("\t")
        return [] if eval(card_says)[label] == pytest.approx(float(probability), abs=1e-3) else [card_says, shown]
    if task == "ner":
        words = eval(card.split("words = ")[1].split("\n")[0])
        sentence = tmp_path / "sentence.conll"
        sentence.write_text("".join(f"{w}\n" for w in words))
        assert main(["predict", str(export), "--input", str(sentence), "--out", str(tmp_path / "pred.conll")]) == 0
        written = (tmp_path / "pred.conll").read_text().split()
        return [] if [tag for _, tag in eval(card_says)] == written[1::2] else [card_says, written]
    question = eval(card.split("question = ")[1].split("\n")[0])
    context = eval(card.split("context = ")[1].split("\n")[0])
    shown = _predicted(capsys, export, "--question", question, "--context", context)
    answer = shown.split("\t")[0]
    return [] if answer in (card_says, f"{card_says or '(no answer)'}", f"{card_says or '(empty)'}") else [card_says, shown]


def _predicted(capsys, export, *flags) -> str:
    capsys.readouterr()
    assert main(["predict", str(export), *flags]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_prompt_tuning_tags_as_a_manual_computation_does(tiny_bert, tmp_path, capsys):
    """NER on one window: the saved virtual tokens before the word embeddings, the pretrained BERT
    (segment 0 for them too) and the trained head on the text's positions give predict's tags."""
    from test_ner_crf import _a_training_sentence, _train
    from transformers import AutoTokenizer, BertModel

    assert main(_train(tiny_bert, tmp_path, "train.max_steps=8", "peft.method=prompt", "peft.virtual_tokens=3",
                       "peft.lr=0.05", "crf=false", "data.max_seq_length=40")) == 0, capsys.readouterr().err
    best = tmp_path / "crf" / "checkpoints" / "best"
    saved = load_file(str(best / "adapter_model.safetensors"))
    prompt = saved["prompt_embeddings"]
    head_w, head_b = (next(v for k, v in saved.items() if k.endswith(f"classifier.{p}")) for p in ("weight", "bias"))
    words = _a_training_sentence()
    tokenizer = AutoTokenizer.from_pretrained(best)
    inputs = tokenizer(words, is_split_into_words=True, return_tensors="pt")
    bert = BertModel.from_pretrained(backbones.resolve(str(tiny_bert)), add_pooling_layer=False).eval()
    with torch.no_grad():
        embedded = torch.cat([prompt[None], bert.get_input_embeddings()(inputs["input_ids"])], dim=1)
        length = embedded.shape[1]
        hidden = bert(inputs_embeds=embedded, attention_mask=torch.ones(1, length, dtype=torch.long),
                      token_type_ids=torch.zeros(1, length, dtype=torch.long)).last_hidden_state[0, 3:]
        tags = (hidden @ head_w.T + head_b).argmax(-1).tolist()
    names = json.loads((best / "config.json").read_text())["id2label"]
    ids = inputs.word_ids()
    manual = [names[str(tags[k])] for k, w in enumerate(ids) if w is not None and (k == 0 or ids[k - 1] != w)]
    sentence = tmp_path / "sentence.conll"
    sentence.write_text("".join(f"{w}\n" for w in words))
    assert main(["predict", str(tmp_path / "crf"), "--input", str(sentence), "--out", str(tmp_path / "pred.conll")]) == 0
    assert manual == (tmp_path / "pred.conll").read_text().split()[1::2]


def test_a_prompt_tuning_run_killed_mid_way_resumes_exactly(tiny_bert_dropout, sentiment_data, tmp_path):
    resumes_exactly(tiny_bert_dropout, sentiment_data, tmp_path, "adapter_model.safetensors", peft__method="prompt",
                    peft__virtual_tokens=4, peft__lr=0.05)


@pytest.mark.parametrize("config, backbone, extra, words", [
    ("sst2", "tiny_bert", ["peft.method=prefix"], "peft.method=prefix is not offered for classification"),
    ("swag", "tiny_bert", ["peft.method=prompt"], "peft.method=prompt is not offered for multiple_choice"),
    ("sst2", "tiny_llama", ["peft.method=prompt"], "on a decoder (LlamaForSequenceClassification)"),
    ("conll2003", "tiny_bert", ["peft.method=prompt", "crf=true"], "peft.method=prompt with crf=true"),
    ("sst2", "tiny_bert", ["peft.method=prompt", "peft.virtual_tokens=40"], "more than the 64 positions"),
])
def test_combinations_that_would_compute_otherwise_exit_2(config, backbone, extra, words, request, tmp_path, capsys):
    model = request.getfixturevalue(backbone)
    args = ["train", config, f"model={model}", "data.source=sample", "train.max_steps=2", "data.max_seq_length=32",
            f"output_dir={tmp_path}", "run_name=refused", *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err, err
    assert not (tmp_path / "refused").exists()


def test_an_adapter_folder_whose_base_model_is_gone_exits_2_naming_it(tiny_bert, sentiment_data, tmp_path, capsys):
    import shutil

    from conftest import tiny_args

    base = tmp_path / "base"
    shutil.copytree(tiny_bert, base)
    assert main(["train", "sst2", *tiny_args(sentiment_data, base, tmp_path / "runs", peft__method="prompt",
                                              peft__virtual_tokens=2, train__max_steps=2)]) == 0
    shutil.rmtree(base)
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "runs" / "tiny"), "--out", str(tmp_path / "evaluated")]) == 2
    err = capsys.readouterr().err
    assert str(base) in err and "base_model_name_or_path" in err and "adapter_config.json" in err, err
