"""Multi-label classification end to end on real text: CoNLL-2003 sentences labelled with the set of
entity types they contain (examples/entity_types/make_data.py), the packaged MiniLM, 2,000 training
sentences for one epoch (63 steps), 500 dev sentences. Calibrated on this machine with exactly these
settings: micro F1 0.317 at the default threshold 0.5 (63 steps leave the sigmoids timid), 0.684 at
the best global threshold (0.35), 0.720 with a threshold a label. The bounds are on the tuned
figures, leave room for another CPU's rounding, and sit far above what answering every type for
every sentence scores (micro F1 0.49 on these 500)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT, run_cli

pytestmark = pytest.mark.e2e


def test_entity_type_sets_of_real_sentences(real_data, tmp_path):
    made = subprocess.run([sys.executable, str(ROOT / "examples/entity_types/make_data.py"), str(real_data / "conll2003"),
                           str(tmp_path / "data")], capture_output=True, text=True, cwd=ROOT)
    assert made.returncode == 0, made.stderr
    assert "14041 sentences" in made.stdout and "3250 sentences" in made.stdout
    first = json.loads((tmp_path / "data" / "train.jsonl").read_text().splitlines()[0])
    assert first == {"sentence": "EU rejects German call to boycott British lamb .", "types": ["MISC", "ORG"]}

    result = run_cli("train", "examples/entity_types/entity_types.yaml", f"data.dir={tmp_path / 'data'}",
                     f"output_dir={tmp_path}", "run_name=types", "data.max_train_samples=2000",
                     "data.max_eval_samples=500", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "types" / "metrics.json").read_text())["metrics"]
    assert metrics["best_micro_f1"] >= 0.62 and metrics["best_per_label_micro_f1"] >= 0.65, metrics
    assert 0.05 <= metrics["best_threshold"] <= 0.95
    assert set(f"f1_{t}" for t in ("LOC", "MISC", "ORG", "PER")) <= set(metrics)
