"""End to end: the packaged SmolLM2-135M answers real SQuAD questions by writing them.

No SQuAD training file is available offline, so the run trains on articles that only the v1.1 dev
file has and evaluates on 40 questions of other articles (disjoint titles). Paragraphs of at most
550 characters keep a CPU run short. Calibrated on this machine (2 CPU cores):
- zero-shot (the base model, its chat template): EM 0.0, F1 16.5, BLEU 6.8 (it answers in sentences);
- after 6 steps of 8 questions (48 questions, lr 1e-4, about 50 s): EM 15.0, F1 27.7, BLEU 13.1.
With 300 training questions (19 steps) the same model reaches EM 31.7 / F1 44.1 / BLEU 33.5 on 120.
"""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

pytestmark = pytest.mark.e2e
SHORT = 550  # characters of context at most
COMMON = ["data.max_eval_samples=40", "data.max_seq_length=256", "max_new_tokens=12"]


def _short_paragraphs(articles):
    return [{"title": a["title"], "paragraphs": kept} for a in articles
            if (kept := [p for p in a["paragraphs"] if len(p["context"]) <= SHORT])]


@pytest.fixture(scope="module")
def splits(real_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("squad-generative")
    v1 = json.loads((real_data / "squad/dev-v1.1.json").read_text())["data"]
    v2_titles = {a["title"] for a in json.loads((real_data / "squad/dev-v2.0.json").read_text())["data"]}
    train = [a for a in v1 if a["title"] not in v2_titles]
    dev = [a for a in reversed(v1) if a["title"] not in {t["title"] for t in train}][:6]
    paths = {}
    for name, articles in (("train", train), ("dev", dev)):
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps({"version": "1.1", "data": _short_paragraphs(articles)}))
    return paths


def _metrics(folder):
    return json.loads((folder / "metrics.json").read_text())["metrics"]


def test_a_short_fine_tune_beats_the_zero_shot_base_model(splits, smollm2_cache, tmp_path):
    import sacrebleu

    env = {"FINETUNE_CACHE": str(smollm2_cache[0])}
    zero = run_cli("evaluate", "squad_generative", "model=smollm2", f"data.validation={splits['dev']}", *COMMON,
                   "--out", str(tmp_path / "zero-shot"), env=env, timeout=600)
    assert zero.returncode == 0, zero.stderr[-3000:]
    trained = run_cli("train", "squad_generative", "model=smollm2", f"data.train={splits['train']}",
                      f"data.validation={splits['dev']}", "data.max_train_samples=48", "train.batch_size=8",
                      "train.lr=1e-4", f"output_dir={tmp_path}", "run_name=run", *COMMON, env=env, timeout=900)
    assert trained.returncode == 0, trained.stderr[-3000:]
    before, after = _metrics(tmp_path / "zero-shot"), _metrics(tmp_path / "run")
    assert after["f1"] >= before["f1"] + 5, (before, after)
    assert after["exact_match"] >= before["exact_match"] + 5, (before, after)

    # BLEU on these real outputs equals sacrebleu's, every gold answer a reference.
    questions = [q for a in json.loads(splits["dev"].read_text())["data"] for p in a["paragraphs"] for q in p["qas"]][:40]
    for folder, metrics in ((tmp_path / "zero-shot", before), (tmp_path / "run", after)):
        answers = json.loads((folder / "predictions.json").read_text())
        golds = [[g["text"] for g in q["answers"]] for q in questions]
        streams = [[g[j] if j < len(g) else None for g in golds] for j in range(max(map(len, golds)))]
        expected = sacrebleu.corpus_bleu([answers[q["id"]] for q in questions], streams)
        assert metrics["bleu"] == pytest.approx(expected.score, abs=1e-9)
