"""End to end on real data: the packaged MiniLM fine-tuned briefly on WNUT-17 and a CoNLL-2003
subset, scored with conlleval's semantics; the export gives the toolkit's entities through the
transformers pipeline on real sentences (words split into several subwords included).

Bounds calibrated on this project's 2-core machine (see the comments); CPU runs are deterministic.
"""

from __future__ import annotations

import json

import pytest
from conftest import run_cli, shown_entities

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def conll_run(real_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    # crf=false: the export is compared with the transformers pipeline, which tags by each word's argmax
    result = run_cli("train", "conll2003", "crf=false", f"output_dir={out}", "run_name=conll", "data.max_train_samples=1000",
                     "data.max_eval_samples=400", "train.epochs=1", "train.lr=1e-4", "train.batch_size=16",
                     env={"FINETUNE_DATA": str(real_data)}, timeout=900)
    assert result.returncode == 0, result.stderr
    return out / "conll"


def test_conll2003_subset_reaches_entity_f1(conll_run):
    metrics = json.loads((conll_run / "metrics.json").read_text())["metrics"]
    # Measured: F1 0.455 on the first 400 dev sentences after 1,000 training sentences (63 steps), with
    # conll2003.yaml's document_context 16 (0.472 with each sentence alone: one short epoch is too
    # little to learn to use the context); the config's full run reaches 0.923 on dev.
    assert metrics["f1"] >= 0.40
    assert {"f1_PER", "f1_LOC", "f1_ORG", "f1_MISC"} <= set(metrics)


def test_conll2003_export_matches_the_pipeline_on_real_sentences(conll_run, real_data, tmp_path):
    from transformers import pipeline

    from finetune.data.conll import read_conll

    exported = tmp_path / "export"
    assert run_cli("export", str(conll_run), "--out", str(exported)).returncode == 0
    sentences, _ = read_conll(str(real_data / "conll2003" / "valid.txt"))
    texts = [" ".join(words) for words in sentences["tokens"][400:440] if len(words) > 3]
    shown = run_cli("predict", str(exported), *[a for t in texts for a in ("--text", t)])
    assert shown.returncode == 0, shown.stderr
    toolkit = shown_entities(shown.stdout)
    pipe = pipeline("token-classification", model=str(exported), aggregation_strategy="first")
    found = [[(e["entity_group"], e["start"], e["end"]) for e in pipe(text)] for text in texts]
    assert sum(map(len, toolkit)) >= 20  # the comparison is about real entities
    assert found == toolkit


def test_wnut17_short_finetune_scores_dev_and_the_annotated_test(real_data, tmp_path):
    env = {"FINETUNE_DATA": str(real_data)}
    result = run_cli("train", "wnut17", f"output_dir={tmp_path}", "run_name=wnut", "data.max_train_samples=1500",
                     "train.epochs=1", "train.lr=1e-4", "train.batch_size=8", env=env, timeout=900)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "wnut" / "metrics.json").read_text())["metrics"]
    # Measured: dev F1 0.494 with the CRF (wnut17.yaml's since stop 37; 0.367 with the plain tagger)
    # after 1,500 training sentences in batches of 8 (188 steps; in batches of 16, 94 steps left the
    # plain tagger tagging everything O); the full 3-epoch run reaches 0.589 (median of 3 seeds).
    assert metrics["f1"] >= 0.42
    predicted = run_cli("predict", str(tmp_path / "wnut"), "--out", str(tmp_path / "test.conll"), env=env)
    assert predicted.returncode == 0, predicted.stderr
    scored = run_cli("score", "wnut17", "--predictions", str(tmp_path / "test.conll"))
    assert scored.returncode == 0, scored.stderr
    assert scored.stdout.startswith("processed 23394 tokens with 1079 phrases;")  # the whole test file
