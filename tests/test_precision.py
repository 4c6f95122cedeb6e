"""train.precision: `auto` (the default) resolves to bf16 autocast only where the hardware runs bf16
natively; the run says which it chose and records it in metrics.json beside config.yaml's setting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import tiny_args

from finetune.cli import main
from finetune.engine import devices
from tasks.registry import load_config


def test_auto_is_the_default_of_every_task_config():
    # no shipped config pins fp32 against the schema's default
    for task in sorted(p.stem for p in (Path(__file__).parents[1] / "configs").glob("*.yaml")):
        assert load_config(task).train.precision == "auto", task


@pytest.mark.parametrize("setting, resolved, line", [
    ("auto", "bf16", "Precision: bf16 autocast (train.precision=auto: the hardware runs bf16 natively; train.precision=no for fp32)"),
    ("auto", "no", "Precision: fp32 (train.precision=auto: no native bf16 on this hardware)"),
    ("no", "no", "Precision: fp32 (train.precision=no)"),
    ("bf16", "bf16", "Precision: bf16 autocast (train.precision=bf16)"),
    ("fp16", "fp16", "Precision: fp16 autocast with loss scaling (train.precision=fp16)"),
])
def test_the_header_says_what_the_step_computes_in(setting, resolved, line):
    assert devices.describe_precision(setting, resolved) == line


def _losses(run) -> list[float]:
    return [r["loss"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "loss" in r]


@pytest.mark.parametrize("native", [True, False])
def test_auto_follows_the_hardware_and_the_run_records_what_ran(native, sentiment_data, tiny_bert, tmp_path, capsys,
                                                                 monkeypatch):
    """torch autocasts to bf16 on any CPU (emulated where it has no bf16 units), so the probe is patched
    both ways here: the run must follow it, print it and record it."""
    monkeypatch.setattr(devices, "native_bf16", lambda device: native)
    base = tiny_args(sentiment_data, tiny_bert, tmp_path, train__epochs=1, train__log_every=1)
    assert main(["train", "sst2", *base, "run_name=fp32"]) == 0, capsys.readouterr().err
    assert main(["train", "sst2", *base, "train.precision=auto", "run_name=auto"]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    summary = json.loads((tmp_path / "auto" / "metrics.json").read_text())
    assert yaml.safe_load((tmp_path / "auto" / "config.yaml").read_text())["train"]["precision"] == "auto"
    fp32, auto = _losses(tmp_path / "fp32"), _losses(tmp_path / "auto")
    assert json.loads((tmp_path / "fp32" / "metrics.json").read_text())["precision"] == "no"
    if native:
        assert summary["precision"] == "bf16" and "Precision: bf16 autocast (train.precision=auto" in printed
        # bf16 rounds the activations: the same data and seed give other losses, close to fp32's
        assert auto != fp32 and auto == pytest.approx(fp32, abs=0.05)
    else:
        assert summary["precision"] == "no" and "Precision: fp32 (train.precision=auto: no native bf16" in printed
        assert auto == fp32
