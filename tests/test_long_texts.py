"""long_input=windows: texts longer than the model as overlapping windows, one prediction a text:
the aggregation by hand, the windows against the tokenizer's own tokens, a tiny run, the same files
from two processes as from one, and a bad stride exiting 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli, tiny_args
from test_multiprocess import LAUNCH
from transformers import AutoTokenizer

from finetune.cli import main
from tasks import long_texts


def test_a_texts_logits_are_its_windows_mean_or_max():
    logits = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 0.0]])
    assert long_texts.per_example(logits, [0, 0, 1], 2, "mean").tolist() == [[2.0, 3.0], [5.0, 0.0]]
    assert long_texts.per_example(logits, [0, 0, 1], 2, "max").tolist() == [[3.0, 4.0], [5.0, 0.0]]
    assert long_texts.per_example(logits, [0, 1, 2], 3, "mean") is logits  # one window a text: untouched


def test_windows_cover_the_text_and_overlap_by_the_stride(tiny_bert):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    text = " ".join(["the good movie was very dull and the plot"] * 2)
    body = tokenizer(text, add_special_tokens=False)["input_ids"]
    windows = long_texts.windows(tokenizer, [text, "fine"], None, 8, 2)
    assert windows["overflow_to_sample_mapping"] == [0] * (len(windows["input_ids"]) - 1) + [1]
    pieces = [ids[1:-1] for ids in windows["input_ids"][:-1]]  # between [CLS] and [SEP]
    assert all(len(ids) <= 8 for ids in windows["input_ids"]) and all(len(p) == 6 for p in pieces[:-1])
    for a, b in zip(pieces, pieces[1:]):
        assert a[-2:] == b[:2]  # consecutive windows share `stride` tokens
    assert pieces[0] + [t for p in pieces[1:] for t in p[2:]] == body  # and together are the text


def _windowed(sentiment_data, tiny_bert, out, **extra):
    return tiny_args(sentiment_data, tiny_bert, out, data__max_seq_length=6, long_input="windows", **extra)


def test_a_windowed_run_predicts_once_a_text_in_order(sentiment_data, tiny_bert, tmp_path, capsys):
    assert main(["train", "sst2", *_windowed(sentiment_data, tiny_bert, tmp_path, window_aggregate="max")]) == 0
    run = tmp_path / "tiny"
    dev_rows = sentiment_data["dev"].read_text().splitlines()[1:]
    predictions = (run / "predictions.tsv").read_text().splitlines()[1:]
    assert [p.split("\t")[0] for p in predictions] == [str(i) for i in range(len(dev_rows))]
    assert [p.split("\t")[2] for p in predictions] == [r.split("\t")[1] for r in dev_rows]
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["data"]["validation"]["rows"] == len(dev_rows)
    # more windows than texts were trained on: the sentences are longer than 6 - 2 tokens
    from finetune.engine.build import prepare
    from tasks.registry import load_config

    config = load_config("sst2", _windowed(sentiment_data, tiny_bert, tmp_path))
    features = prepare(config, ["validation"]).features["validation"]
    assert len(features) > len(dev_rows) and sorted(set(features["example_index"])) == list(range(len(dev_rows)))


def test_two_processes_write_the_files_one_process_writes(sentiment_data, tiny_bert, tmp_path, capsys):
    assert main(["train", "sst2", *_windowed(sentiment_data, tiny_bert, tmp_path)]) == 0
    run = tmp_path / "tiny"
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_cli("evaluate", str(run), "--out", str(one)).returncode == 0
    done = run_cli("evaluate", str(run), "--out", str(two), launcher=LAUNCH)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (two / "predictions.tsv").read_text() == (one / "predictions.tsv").read_text()
    first, second = (json.loads((d / "metrics.json").read_text())["metrics"] for d in (one, two))
    assert second == pytest.approx(first, abs=1e-6)


def test_a_stride_as_long_as_the_window_exits_2(sentiment_data, tiny_bert, tmp_path, capsys):
    assert main(["train", "sst2", *_windowed(sentiment_data, tiny_bert, tmp_path, window_stride=4)]) == 2
    assert "window_stride" in capsys.readouterr().err
