"""crf=true: the CRF's likelihood and Viterbi against brute-force enumeration, chains cut into
windows, windows merged exactly at decoding, training / export / reload on tiny encoders and
decoders (the card's plain-transformers code included), exact resume, and refused combinations."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_bert, run_cli
from safetensors.torch import load_file
from test_multiprocess import LAUNCH

from finetune.cli import main
from finetune.models import crf
from tasks import ner_crf, registry

LABELS = ["O", "B-X", "I-X", "B-Y", "I-Y"]
SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "conll2003"


def _random_crf(seed: int) -> crf.LinearChainCRF:
    torch.manual_seed(seed)
    model = crf.LinearChainCRF(LABELS)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
    return model


def _path_score(path, emissions, scores, opens, closes) -> float:
    transitions, start, end = crf.unpack(scores)
    total = sum(float(emissions[t, y]) for t, y in enumerate(path))
    total += sum(float(transitions[a, b]) for a, b in zip(path, path[1:]))
    return total + (float(start[path[0]]) if opens else 0.0) + (float(end[path[-1]]) if closes else 0.0)


def test_allowed_moves_are_bio():
    allowed, first = crf.allowed_moves(LABELS)
    assert first.tolist() == [True, True, False, True, False]
    assert allowed[:, 2].tolist() == [False, True, True, False, False]  # I-X after B-X or I-X only
    assert allowed[:, 4].tolist() == [False, False, False, True, True]
    assert allowed[:, [0, 1, 3]].all()  # O and any B- may follow anything


def test_negative_log_likelihood_equals_brute_force_enumeration():
    """Chains of 0-4 words in one padded batch, each edge setting: log Z over all 5^n paths
    (forbidden moves scoring FORBIDDEN) minus the gold path's score."""
    model = _random_crf(0)
    scores = model.scores().detach()
    generator = torch.Generator().manual_seed(1)
    cases = [(n, opens, closes) for n in range(5) for opens in (False, True) for closes in (False, True)]
    emissions = torch.randn(len(cases), 4, len(LABELS), generator=generator, dtype=torch.float64).float()
    gold = torch.tensor([[1, 2, 0, 3], [3, 4, 4, 0], [0, 1, 2, 2], [2, 2, 0, 3]] * 5)[:len(cases)]  # the last: I-X first
    mask = torch.tensor([[t < n for t in range(4)] for n, _, _ in cases])
    opens = torch.tensor([o for _, o, _ in cases])
    closes = torch.tensor([c for _, _, c in cases])
    got = crf.negative_log_likelihood(emissions, gold, mask, scores, opens, closes)
    for row, (n, o, c) in enumerate(cases):
        if n == 0:
            assert got[row] == 0
            continue
        e = emissions[row, :n].double()
        every = [_path_score(p, e, scores.double(), o, c) for p in itertools.product(range(len(LABELS)), repeat=n)]
        log_z = math.log(sum(math.exp(s - max(every)) for s in every)) + max(every)
        expected = log_z - _path_score(gold[row, :n].tolist(), e, scores.double(), o, c)
        assert float(got[row]) == pytest.approx(expected, rel=1e-6, abs=1e-4), (n, o, c)


def test_a_window_continuing_an_entity_is_scored_without_the_start():
    """A window whose first word is inside an entity (I-X) is a continuation: finite loss. As a
    sentence start the same chain is forbidden (its loss is of FORBIDDEN's size)."""
    scores = _random_crf(2).scores().detach()
    emissions = torch.zeros(2, 2, len(LABELS))
    tags, mask = torch.tensor([[2, 0], [2, 0]]), torch.ones(2, 2, dtype=torch.bool)
    loss = crf.negative_log_likelihood(emissions, tags, mask, scores, torch.tensor([False, True]), torch.tensor([True, True]))
    assert loss[0] < 20 and loss[1] > 5000


def test_viterbi_is_the_best_allowed_path():
    model = _random_crf(3)
    scores = model.scores().detach().numpy()
    rng = np.random.default_rng(4)
    for n in range(1, 6):
        emissions = rng.normal(size=(n, len(LABELS))) * 2
        best = max(itertools.product(range(len(LABELS)), repeat=n),
                   key=lambda p: _path_score(p, emissions, scores, True, True))
        assert crf.viterbi(emissions, scores) == list(best)
        assert all(crf.allowed_moves(LABELS)[0][a, b] for a, b in zip(best, best[1:]))
    assert crf.viterbi(np.zeros((0, len(LABELS))), scores) == []


def test_chains_move_the_labelled_positions_to_the_front():
    logits = torch.arange(2 * 5 * 3, dtype=torch.float).view(2, 5, 3)
    labels = torch.tensor([[-100, 1, -100, 2, -100], [-100, -100, -100, -100, -100]])
    emissions, tags, mask = ner_crf.chains(logits, labels)
    assert emissions.shape == (2, 2, 3)
    assert emissions[0].tolist() == [logits[0, 1].tolist(), logits[0, 3].tolist()]
    assert tags[0].tolist() == [1, 2] and mask.tolist() == [[True, True], [False, False]]


def test_windows_are_merged_before_viterbi():
    """Two windows of one sentence, the entity X crossing their border: the second window alone
    would have to start with I-X, which a sentence cannot; decoding the merged words keeps B-X I-X."""
    config = registry.load_config("conll2003", ["crf=true", "labels=[O, B-X, I-X]"])
    adapter = registry.get(config)
    adapter.labels = ["O", "B-X", "I-X"]
    scores = crf.LinearChainCRF(adapter.labels).scores().detach().numpy()  # zero scores, BIO rules
    from datasets import Dataset

    examples = Dataset.from_dict({"tokens": [["a", "b", "c", "d"]]})
    features = {"example_index": [0, 0], "word_index": [[-2, 0, 1, -1, -2], [-2, -1, 2, 3, -2]]}
    emission = {0: [5, 0, 0], 1: [0, 5, 0], 2: [0, 0, 5], 3: [5, 0, 0]}  # O, B-X | I-X, O
    logits = [np.array([[0, 0, 0]] + [emission[w] if w >= 0 else [9, 9, 9] for w in index[1:-1]] + [[0, 0, 0]], float)
              for index in features["word_index"]]
    predicted = adapter.decode(examples, features, {"logits": logits, "crf": [scores, scores]})
    assert predicted == [["O", "B-X", "I-X", "O"]]
    # the second window decoded alone (as a sentence) could not start with I-X
    assert crf.viterbi(np.array([emission[2], emission[3]], float), scores)[0] != 2


def _train(model: Path, out: Path, *extra: str, name: str = "crf") -> list[str]:
    return ["train", "conll2003", f"model={model}", "crf=true", f"data.train={SAMPLES / 'train.txt'}",
            f"data.validation={SAMPLES / 'valid.txt'}", "data.test=null", f"output_dir={out}", f"run_name={name}",
            "train.batch_size=8", "train.lr=5e-3", "train.warmup_ratio=0", "train.log_every=5",
            "data.max_seq_length=12", *extra]  # 12 tokens: longer sentences are windows


@pytest.fixture(scope="module")
def conll_bert(tmp_path_factory) -> Path:
    """A tiny BERT whose vocabulary holds the sample's words (lower-cased), so that it can learn them."""
    words = sorted({line.split()[0].lower() for line in (SAMPLES / "train.txt").read_text().splitlines() if line.strip()})
    words += [w.lower() for w in ner_crf.CARD_WORDS["en"]]
    return make_bert(tmp_path_factory.mktemp("models") / "conll_bert", 0.0,
                     ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(dict.fromkeys(words)))


def _a_training_sentence() -> list[str]:
    """The sample's first sentence with an entity of two words or more."""
    for block in (SAMPLES / "train.txt").read_text().split("\n\n"):
        rows = [line.split() for line in block.splitlines() if line.strip()]
        if sum(row[-1].startswith("I-") for row in rows) and 6 <= len(rows) <= 10:
            return [row[0] for row in rows]
    raise AssertionError("no such sentence in the sample")


@pytest.mark.parametrize("backbone", ["conll_bert", "tiny_gpt2"])
def test_crf_trains_exports_and_reloads(backbone, request, tmp_path, capsys):
    model = request.getfixturevalue(backbone)
    assert main(_train(model, tmp_path, "train.max_steps=60")) == 0, capsys.readouterr().err
    run = tmp_path / "crf"
    losses = [r["loss"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "loss" in r]
    assert losses[-1] < losses[0]
    saved = load_file(str(run / "checkpoints" / "best" / ner_crf.CRF_FILE))
    assert saved["transitions"][0, 2] == crf.FORBIDDEN and saved["start"][2] == crf.FORBIDDEN  # O -> I-LOC, start I-LOC
    assert saved["transitions"][1, 2] != 0  # B-LOC -> I-LOC learned
    dev = json.loads((run / "metrics.json").read_text())["metrics"]

    export = tmp_path / "export"
    assert main(["export", str(run), "--out", str(export)]) == 0
    from transformers import AutoModelForTokenClassification

    AutoModelForTokenClassification.from_pretrained(export)  # plain transformers loads the folder
    # evaluate on the export gives the dev metrics of training (CRF and windows included)
    assert main(["evaluate", str(export), f"data.validation={SAMPLES / 'valid.txt'}", "--out", str(tmp_path / "eval")]) == 0
    evaluated = json.loads((tmp_path / "eval" / "metrics.json").read_text())["metrics"]
    assert evaluated["f1"] == pytest.approx(dev["f1"], abs=1e-9) and evaluated["loss"] == pytest.approx(dev["loss"], rel=1e-5)

    # The card's code (plain transformers + numpy Viterbi) tags the card's sentence as the toolkit does.
    card = (export / "README.md").read_text()
    snippet = card.split("```python\n")[1].split("```")[0].replace('name = "export"', f'name = "{export}"')
    words = _a_training_sentence()  # in place of the card's: one the tiny model has learnt
    snippet = snippet.replace(repr(ner_crf.CARD_WORDS["en"]), repr(words))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet, "README.md", "exec"), {})
    card_tags = [tag for _, tag in eval(printed.getvalue())]
    sentence = tmp_path / "sentence.conll"
    sentence.write_text("".join(f"{w}\n" for w in words))
    capsys.readouterr()
    assert main(["predict", str(export), "--input", str(sentence), "--out", str(tmp_path / "pred.conll")]) == 0
    written = (tmp_path / "pred.conll").read_text().split()
    assert card_tags == written[1::2]
    if backbone == "conll_bert":  # it learnt: an entity in the card's sentence, not all O
        assert set(card_tags) != {"O"}, card_tags
        # ONNX: the graph outputs the CRF's scores beside the logits; evaluate on it decodes alike.
        assert main(["export", str(run), "--out", str(tmp_path / "onnx"), "--onnx"]) == 0
        assert main(["evaluate", str(tmp_path / "onnx" / "onnx" / "model.onnx"), f"data.validation={SAMPLES / 'valid.txt'}",
                     "--out", str(tmp_path / "eval_onnx")]) == 0
        on_onnx = json.loads((tmp_path / "eval_onnx" / "metrics.json").read_text())["metrics"]
        assert on_onnx["f1"] == dev["f1"]


def test_kill_and_resume_and_two_processes_give_the_same_crf_run(conll_bert, tmp_path):
    """SIGKILL after step 7 (checkpoints every 3): the resumed run ends with the same metrics and
    the same CRF as an uninterrupted one; evaluating it on two processes gives the same dev set
    predictions (every window exactly once, merged per sentence) and metrics."""
    def args(out: Path) -> list[str]:
        return _train(conll_bert, out, "train.max_steps=12", "train.save_every=3", "train.keep_last=3", "train.eval_every=6",
                      "seed=7")[1:]

    whole = run_cli("train", *args(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr[-3000:]
    killed = run_cli("train", *args(tmp_path / "cut"), env={"FINETUNE_TEST_KILL_AT_STEP": "7"})
    assert killed.returncode == -9
    resumed = run_cli("train", *args(tmp_path / "cut"))
    assert resumed.returncode == 0 and "Resuming from" in resumed.stdout, resumed.stderr[-3000:]
    a, b = (json.loads((tmp_path / r / "crf" / "metrics.json").read_text()) for r in ("whole", "cut"))
    for key, value in a["metrics"].items():
        assert b["metrics"][key] == pytest.approx(value, abs=1e-6), key
    ca, cb = (load_file(str(tmp_path / r / "crf" / "checkpoints" / "best" / ner_crf.CRF_FILE)) for r in ("whole", "cut"))
    for key in ca:
        torch.testing.assert_close(ca[key], cb[key], rtol=0, atol=1e-6, msg=key)

    two = tmp_path / "two"
    done = run_cli("evaluate", str(tmp_path / "whole" / "crf"), "--out", str(two), launcher=LAUNCH)
    assert done.returncode == 0, done.stderr[-3000:]
    one = tmp_path / "one"
    assert run_cli("evaluate", str(tmp_path / "whole" / "crf"), "--out", str(one)).returncode == 0
    assert (two / "predictions.conll").read_text() == (one / "predictions.conll").read_text()
    m1, m2 = (json.loads((d / "metrics.json").read_text())["metrics"] for d in (one, two))
    assert m2["f1"] == m1["f1"] and m2["loss"] == pytest.approx(m1["loss"], rel=1e-5)


def test_an_i_tag_opening_an_entity_is_read_as_its_start(tiny_bert, tmp_path, capsys):
    """A BIO file with I-MISC after O (conlleval reads an entity start there): the CRF, which
    forbids O -> I-, trains on it as B-MISC instead of a gold path scoring -1e4."""
    conll = tmp_path / "train.conll"
    conll.write_text("the O\ngood I-MISC\nfilm I-MISC\n\ngreat O\nbad B-MISC\n\n")
    args = ["train", "conll2003", f"model={tiny_bert}", f"data.train={conll}", f"data.validation={conll}", "data.test=null",
            f"output_dir={tmp_path}", "run_name=ner", "train.max_steps=2", "train.batch_size=2", "tag_scheme=bio",
            "train.log_every=1", "crf=true", "data.max_seq_length=32"]
    assert main(args) == 0, capsys.readouterr().err
    losses = [r["loss"] for r in map(json.loads, (tmp_path / "ner" / "log.jsonl").read_text().splitlines()) if "loss" in r]
    assert losses and max(losses) < 10, losses


@pytest.mark.parametrize("extra, words", [
    ("label_all_tokens=true", "label_all_tokens"),
    ("class_weights=balanced", "class_weights"),
])
def test_crf_refuses_options_it_cannot_honour(extra, words, tiny_bert, tmp_path, capsys):
    assert main(_train(tiny_bert, tmp_path, extra)) == 2
    err = capsys.readouterr().err
    assert "crf=true" in err and words in err, err
    assert not (tmp_path / "crf").exists()
