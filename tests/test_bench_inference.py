"""bench inference and MFU: FLOP counts worked by hand, the matmul peaks, and the inference table on a
tiny exported model (PyTorch and ONNX agree on the metric; every row has a speed and an MFU)."""

from __future__ import annotations

import json

import torch
from test_contract import CASES, _case, _cli

from finetune.apps.bench import flops, inference
from finetune.cli import main


def test_forward_flops_by_hand():
    dims = {"matmul_params": 10, "layers": 2, "hidden": 4}
    # t=3: 2*10*3 + 4*2*4*9 = 60 + 288; t=5: 100 + 800
    assert flops.forward_flops([3, 5], dims) == 1248
    assert flops.training_flops_per_token(3, dims) == 3 * (20 + 96)


def test_matmul_params_leave_out_the_embedding_tables(tiny_bert):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(tiny_bert)
    dims = flops.shape(model)
    linear_and_norms = sum(p.numel() for name, p in model.named_parameters() if "embeddings" not in name or "LayerNorm" in name)
    assert dims["matmul_params"] == linear_and_norms
    assert (dims["layers"], dims["hidden"]) == (model.config.num_hidden_layers, model.config.hidden_size)


def test_peaks_are_measured():
    assert flops.matmul_peak(torch.float32, size=128, repeats=2) > 1e7
    assert flops.int8_peak(size=128, repeats=2) > 1e7


def test_bench_inference_on_a_tiny_export(request, tiny_files, tmp_path, capsys):
    case = next(c for c in CASES if c[0] == "classification")
    name, overrides = _case(*case, request, tiny_files)
    _cli(capsys, "train", name, *overrides, f"output_dir={tmp_path}", "run_name=tiny")
    out = tmp_path / "bench"
    # A run folder: the bench exports it with both ONNX files itself.
    assert inference.main(["workloads=[sst2]", f"models={{sst2: {tmp_path / 'tiny'}}}", "batch_sizes=[1,4]",
                           f"out={out}"], "bench inference") == 0
    results = json.loads((out / "results.json").read_text())
    rows = results["workloads"]["sst2"]["rows"]
    expected = {"pytorch_fp32", "onnx_fp32", "onnx_int8"} | ({"pytorch_bf16"} if "bf16" in results["peaks"] else set())
    assert {r["variant"] for r in rows.values()} == expected and {r["batch_size"] for r in rows.values()} == {1, 4}
    for row in rows.values():
        assert row["samples_per_s"] > 0 and 0 < row["mfu"] < 1.5, row
        assert row["samples"] == 10  # the tiny dev set, every sentence
    for batch in (1, 4):  # ONNX fp32 decides exactly as PyTorch
        assert rows[f"onnx_fp32@{batch}"]["metrics"]["accuracy"] == rows[f"pytorch_fp32@{batch}"]["metrics"]["accuracy"]
    table = (out / "results.md").read_text()
    assert table in capsys.readouterr().out and "| onnx_int8 | 4 |" in table and "Matmul peaks" in table


def test_bench_inference_bad_key_exits_2(tmp_path, capsys):
    assert main(["bench", "inference", "batchsize=[1]"]) == 2
    assert "batch_sizes" in capsys.readouterr().err
