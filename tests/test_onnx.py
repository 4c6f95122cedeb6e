"""export --onnx on every task it covers (tiny random models): the graph equals PyTorch on the dev
set, evaluate and predict on the ONNX file give the run's metrics and files, int8 round-trips, and
broken or refused exports exit 2 with nothing left behind."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_contract import CASES, _case, _cli

from finetune.cli import main
from finetune.run.folder import SUMMARY_NAME
from finetune.serve.onnx import quantize as int8

ONNX_CASES = [c for c in CASES if c[0] != "generative_qa"]
NUMBER = re.compile(r"-?\d+\.\d+(?:e-?\d+)?")


def _same_up_to_rounding(a: str, b: str, tolerance: float = 2e-4) -> None:
    """Equal text, numbers within `tolerance` (a probability printed to 4 decimals can round the
    other way when the two runtimes differ by 1e-7)."""
    assert NUMBER.sub("#", a) == NUMBER.sub("#", b)
    for x, y in zip(NUMBER.findall(a), NUMBER.findall(b)):
        assert float(x) == pytest.approx(float(y), abs=tolerance)


def _trained_export(case, task, backbone, request, tiny_files, tmp_path, capsys, *flags) -> tuple[Path, Path]:
    name, overrides = _case(case, task, backbone, request, tiny_files)
    runs = tmp_path / "runs"
    _cli(capsys, "train", name, *overrides, f"output_dir={runs}", "run_name=onnx")
    export = tmp_path / "export"
    _cli(capsys, "export", str(runs / "onnx"), "--out", str(export), "--onnx", *flags)
    return runs / "onnx", export


@pytest.mark.parametrize("case, task, backbone", ONNX_CASES, ids=[c[0] for c in ONNX_CASES])
def test_onnx_export_equals_pytorch_and_evaluates_to_the_runs_files(case, task, backbone, request, tiny_files,
                                                                   tmp_path, capsys):
    # int8 round trips on two tasks (a sentence's logits, a window's start / end logits): enough for
    # the quantizer, and the suite's time goes to the parity of every task.
    quantized = case in ("classification", "squad")
    run, export = _trained_export(case, task, backbone, request, tiny_files, tmp_path, capsys,
                                  *(["--quantize", "int8", "--max-metric-drop", "100"] if quantized else []))
    record = json.loads((export / "export.json").read_text())
    assert max(record["parity"]["max_abs_diff"].values()) <= 1e-4, record["parity"]
    assert record["onnx"]["metrics"] == pytest.approx(record["pytorch"]["metrics"], abs=1e-4)
    metrics = json.loads((run / SUMMARY_NAME).read_text())["metrics"]
    assert record["pytorch"]["metrics"][record["primary_metric"]] == pytest.approx(metrics[record["primary_metric"]])
    card = (export / "README.md").read_text()
    assert "## ONNX" in card and ("model_quantized.onnx" in card) == quantized and str(tmp_path) not in card

    written = sorted(p.name for p in run.iterdir() if p.name.startswith(("predictions", "nbest_", "null_odds")))
    for file in ("model.onnx", "model_quantized.onnx") if quantized else ("model.onnx",):
        evaluated = tmp_path / f"evaluated-{file}"
        _cli(capsys, "evaluate", str(export / "onnx" / file), "--out", str(evaluated))
        again = json.loads((evaluated / SUMMARY_NAME).read_text())["metrics"]
        if file == "model.onnx":  # the same predictions as the run's; int8 only has to run
            for key, value in metrics.items():
                assert again[key] == pytest.approx(value, abs=1e-4 if key == "loss" else 1e-6), key
            for name in written:
                if name.endswith(".png"):
                    continue  # a picture of the confusion counts, which the .tsv beside it compares
                _same_up_to_rounding((evaluated / name).read_text(), (run / name).read_text())
        else:
            assert again.keys() == metrics.keys()


@pytest.mark.parametrize("case_name, flags", [
    ("classification", ["--text", "good great fine", "--text", "bad awful"]),
    ("squad", ["--question", "who won", "--context", "the red team won the game"]),
])
def test_predict_on_the_onnx_file_prints_what_pytorch_prints(case_name, flags, request, tiny_files, tmp_path, capsys):
    case = next(c for c in ONNX_CASES if c[0] == case_name)
    _, export = _trained_export(*case, request, tiny_files, tmp_path, capsys)
    from_torch = _cli(capsys, "predict", str(export), *flags)
    from_onnx = _cli(capsys, "predict", str(export / "onnx" / "model.onnx"), *flags)
    assert from_torch.strip()
    _same_up_to_rounding(from_onnx, from_torch)


def test_the_card_code_runs_the_graph(request, tiny_files, tmp_path, capsys):
    case = next(c for c in ONNX_CASES if c[0] == "classification")
    _, export = _trained_export(*case, request, tiny_files, tmp_path, capsys)
    card = (export / "README.md").read_text()
    code = card.split("## ONNX")[1].split("```python\n")[1].split("```")[0].replace(f'"{export.name}', f'"{export}')
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["outputs"][0].shape == (1, 2)


def test_a_graph_that_differs_is_refused_naming_the_output_and_example(request, tiny_files, tmp_path, capsys,
                                                                       monkeypatch):
    from finetune.serve.onnx import graph

    forward = graph._Outputs.forward

    def shifted(self, input_ids, attention_mask=None, token_type_ids=None):  # the graph off by 1e-3
        return tuple(t + 1e-3 for t in forward(self, input_ids, attention_mask, token_type_ids))

    monkeypatch.setattr(graph._Outputs, "forward", shifted)
    case = next(c for c in ONNX_CASES if c[0] == "classification")
    name, overrides = _case(*case, request, tiny_files)
    _cli(capsys, "train", name, *overrides, f"output_dir={tmp_path}", "run_name=onnx")
    export = tmp_path / "export"
    code = main(["export", str(tmp_path / "onnx"), "--out", str(export), "--onnx"])
    err = capsys.readouterr().err
    assert code == 2 and "logits differs from PyTorch by 0.001" in err and "example" in err, err
    assert not export.exists() and not list(tmp_path.glob(".tmp-*")), "a failed check left files behind"


@pytest.mark.parametrize("damage", ["truncated", "static"])
def test_a_broken_onnx_file_exits_2_naming_it(damage, request, tiny_files, tmp_path, capsys):
    import torch
    from transformers import AutoModelForSequenceClassification

    case = next(c for c in ONNX_CASES if c[0] == "classification")
    _, export = _trained_export(*case, request, tiny_files, tmp_path, capsys)
    path = export / "onnx" / "model.onnx"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:  # traced at one fixed length: every other batch is the wrong shape
        model = AutoModelForSequenceClassification.from_pretrained(export).eval()
        ids = torch.ones(2, 5, dtype=torch.long)
        torch.onnx.export(model, (), str(path), kwargs={"input_ids": ids, "attention_mask": ids, "token_type_ids": 0 * ids},
                          input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"],
                          dynamo=False)
    code = main(["evaluate", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and str(path) in err, err


def test_int8_losing_more_than_allowed_is_refused_with_the_figures(request, tiny_files, tmp_path, capsys, monkeypatch):
    from finetune.serve.onnx import parity

    original = parity.Parity.onnx

    def worse(self, path):  # the int8 graph as one that gets every third example wrong
        result = original(self, path)
        if path.name == "model_quantized.onnx":
            result.metrics = {k: v - 0.34 for k, v in result.metrics.items()}
        return result

    monkeypatch.setattr(parity.Parity, "onnx", worse)
    case = next(c for c in ONNX_CASES if c[0] == "classification")
    name, overrides = _case(*case, request, tiny_files)
    _cli(capsys, "train", name, *overrides, f"output_dir={tmp_path}", "run_name=onnx")
    code = main(["export", str(tmp_path / "onnx"), "--out", str(tmp_path / "export"), "--onnx", "--quantize", "int8"])
    err = capsys.readouterr().err
    assert code == 2 and "loses 34.00 points" in err and "--max-metric-drop 1" in err, err
    assert not (tmp_path / "export").exists()


def test_refusals_exit_2_with_the_reason(request, tiny_files, tmp_path, capsys, monkeypatch):
    assert main(["export", str(tmp_path), "--quantize", "int8"]) == 2
    assert "is for --onnx" in capsys.readouterr().err
    case = next(c for c in CASES if c[0] == "generative_qa")
    name, overrides = _case(*case, request, tiny_files)
    _cli(capsys, "train", name, *overrides, f"output_dir={tmp_path}", "run_name=gen")
    assert main(["export", str(tmp_path / "gen"), "--out", str(tmp_path / "export"), "--onnx"]) == 2
    assert "generative QA" in capsys.readouterr().err and not (tmp_path / "export").exists()
    import importlib.util

    find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "onnxruntime" else find(n, *a))
    assert main(["export", str(tmp_path / "gen"), "--out", str(tmp_path / "export"), "--onnx"]) == 2
    assert "pip install 'finetune[onnx]'" in capsys.readouterr().err


def test_quantizer_settings_follow_the_instruction_set():
    assert int8.settings({"avx2", "avx512_vnni"})["reduce_range"] is False
    without = int8.settings({"avx2"})
    assert without["reduce_range"] is (int8.platform.machine().lower() in ("x86_64", "amd64", "i686"))
