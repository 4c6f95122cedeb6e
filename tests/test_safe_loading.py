"""Nothing a file hands the toolkit runs code, and no run writes outside the folder it was given."""

from __future__ import annotations

import json
import os
import pickle

import pytest
from conftest import run_cli, tiny_args


class _RunsCode:
    """A pickle that would create a file when unpickled, as a malicious checkpoint would run a command."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def test_checkpoints_hold_weights_as_safetensors(tiny_bert, sentiment_data, tmp_path):
    assert run_cli("train", "sst2", *tiny_args(sentiment_data, tiny_bert, tmp_path, train__max_steps=2)).returncode == 0
    checkpoints = tmp_path / "tiny" / "checkpoints"
    step = sorted(p.name for p in (checkpoints / "step-2").iterdir())
    # Model weights in safetensors; only the optimizer, scheduler and RNG states are torch files,
    # and those are read back with weights_only=True (next test).
    assert [n for n in step if not n.endswith(".json")] == ["model.safetensors", "optimizer.bin", "random_states_0.pkl",
                                                             "scheduler.bin"]
    # The rest is JSON: the run's position, and the tokenizer (vocab.add_tokens may have extended it).
    assert {"trainer_state.json", "tokenizer.json", "tokenizer_config.json"} <= set(step)
    assert not [p.name for p in (checkpoints / "best").iterdir() if p.suffix in (".bin", ".pkl", ".pt")]


def test_resume_refuses_a_checkpoint_file_that_would_run_code(tiny_bert, sentiment_data, tmp_path):
    args = tiny_args(sentiment_data, tiny_bert, tmp_path, train__max_steps=2, train__save_every=1)
    assert run_cli("train", "sst2", *args).returncode == 0
    folder = tmp_path / "tiny" / "checkpoints" / "step-2"
    marker = tmp_path / "code-ran"
    (folder / "optimizer.bin").write_bytes(pickle.dumps({"state": _RunsCode(marker)}))
    # Keep the file list right, as someone handing over a doctored checkpoint would.
    state = json.loads((folder / "trainer_state.json").read_text())
    state["files"]["optimizer.bin"] = (folder / "optimizer.bin").stat().st_size
    (folder / "trainer_state.json").write_text(json.dumps(state))
    (tmp_path / "tiny" / "metrics.json").unlink()

    resumed = run_cli("train", "sst2", *args)  # the same command continues the run: it loads step-2
    assert resumed.returncode == 2, resumed.stderr[-3000:]
    assert f"{folder}: a checkpoint file holds objects other than tensors" in resumed.stderr
    assert "weights_only=True" in resumed.stderr and "Traceback" not in resumed.stderr
    assert not marker.exists()


def test_a_config_cannot_construct_python_objects(tmp_path):
    marker = tmp_path / "code-ran"
    config = tmp_path / "evil.yaml"
    config.write_text(f"task: sst2\nrun_name: !!python/object/apply:os.makedirs ['{marker}']\n")
    result = run_cli("train", str(config))
    assert result.returncode == 2
    assert f"{config}, line 2: not valid YAML" in result.stderr and "Traceback" not in result.stderr
    assert not marker.exists()


@pytest.mark.parametrize("key, value", [("run_name", "../outside"), ("run_name", "/tmp/elsewhere"),
                                        ("data.extra_validation", "{'../x': dev.tsv}")])
def test_names_that_would_lead_out_of_the_run_folder_are_refused(key, value, tiny_bert, sentiment_data, tmp_path):
    out = tmp_path / "runs"
    result = run_cli("train", "sst2", *tiny_args(sentiment_data, tiny_bert, out), f"{key}={value}")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "must be a plain name" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written anywhere


def test_model_code_is_not_run_unless_asked(tiny_bert, sentiment_data, tmp_path):
    """A model folder whose config maps to its own Python (auto_map): refused with the key to set,
    and the code never runs."""
    import shutil

    folder = tmp_path / "custom"
    shutil.copytree(tiny_bert, folder)
    marker = tmp_path / "code-ran"
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="custom-bert", auto_map={"AutoConfig": "custom.Config",
                                                     "AutoModelForSequenceClassification": "custom.Model"})
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "custom.py").write_text(f"import os\nos.makedirs({str(marker)!r})\n"
                                      "from transformers import BertConfig as Config, BertForSequenceClassification as Model\n")
    result = run_cli("train", "sst2", *tiny_args(sentiment_data, folder, tmp_path / "runs"))
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"model={folder}: loading it would run Python code" in result.stderr
    assert "trust_remote_code=true" in result.stderr and "Traceback" not in result.stderr
    assert not marker.exists() and not (tmp_path / "runs").exists()
