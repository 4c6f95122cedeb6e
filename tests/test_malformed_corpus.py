"""The malformed-file corpus (tests/malformed/, described in cases.yaml): each hand-made bad file,
given to `python -m finetune train` (the CLI's main, in-process), stops the run with exit status 2
and one `error:` paragraph naming the file, the line (or question id, or config key) and the fix,
with no traceback and before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from finetune import cli

CORPUS = Path(__file__).parent / "malformed"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))


def test_every_corpus_file_has_one_case():
    files = sorted(p.name for p in CORPUS.iterdir() if p.name != "cases.yaml")
    assert sorted(case["file"] for case in CASES) == files
    assert len(files) >= 30


def _config(case: dict, path: Path) -> str:
    if case["split"] == "config":
        return str(path)
    given = ROOT / case["task"]
    return str(given) if given.is_file() else case["task"]


def _data_args(case: dict, path: Path) -> list[str]:
    """The broken file as its split; the others as the config has them (the shipped samples) or none."""
    if case["split"] == "train":
        return [f"data.train={path}", "data.validation=null", "data.test=null"]
    if case["split"] == "validation":
        return [f"data.validation={path}", "data.test=null"]
    return []


@pytest.mark.parametrize("case", CASES, ids=[case["file"] for case in CASES])
def test_malformed_file_exits_2_naming_file_where_and_fix(case, tiny_bert, tiny_llama, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("FINETUNE_DATA", raising=False)  # relative data paths fall back to the shipped samples
    monkeypatch.chdir(ROOT)  # as a user runs it: relative paths of examples/ resolve
    path = CORPUS / case["file"]
    model = tiny_llama if case.get("model") == "llama" else tiny_bert
    out = tmp_path / "runs"
    args = ["train", _config(case, path), f"model={model}", f"output_dir={out}", "run_name=tiny",
            "data.max_seq_length=32", *_data_args(case, path), *case.get("overrides", [])]
    status = cli.main(args)
    captured = capsys.readouterr()
    message = captured.err.strip()
    print(message)  # shown when the test fails
    assert status == 2, captured.err[-3000:]
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    assert message.startswith("error:") and "\n\n" not in message, message
    for piece in (str(path), case["where"], case["fix"]):
        assert piece in message, f"{piece!r} not in: {message}"
    assert not out.exists(), "a run folder was written before the error"
