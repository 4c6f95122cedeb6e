"""Bad input through the real command line: exit status 2, one `error:` paragraph on stderr that names
the file and line (or the key) and the fix, no traceback, and no training started."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, run_cli, sentiment_rows, tiny_args, write_tsv


def assert_input_error(result, *expected: str) -> str:
    """Exit 2 with one `error:` paragraph holding every expected piece; returns the message."""
    assert result.returncode == 2, f"exit {result.returncode}\nstdout:\n{result.stdout[-2000:]}\nstderr:\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    message = result.stderr.strip()
    print(message)  # shown when a test fails
    assert message.startswith("error:"), result.stderr[-3000:]
    assert "\n\n" not in message, f"more than one paragraph:\n{message}"
    for piece in expected:
        assert piece in message, f"{piece!r} not in:\n{message}"
    return message


def assert_no_training(out: Path) -> None:
    run = out / "tiny"
    assert not (run / "metrics.json").exists()
    assert not list(run.glob("checkpoints/step-*")) and not (run / "checkpoints" / "best").exists()


# -- broken data files --------------------------------------------------------------------------------
# Each case: (which data key the broken file replaces, its bytes, what the message must hold besides
# the file's path). Line numbers count the header as line 1.

def _tsv(rows: list[str], header: str = "sentence\tlabel") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


GOOD = [f"{text}\t{label}" for text, label in sentiment_rows(10, seed=7)]

DATA_CASES = {
    # line 5 = the 4th data row, with one field instead of two
    "missing_field_line5": ("train", _tsv(GOOD[:3] + ["the film was good"] + GOOD[3:]),
                            ["line 5", "1 fields where the header has 2", "one value per column"]),
    "no_label_column": ("train", _tsv(GOOD, header="sentence\tpolarity"),
                        ["'label'", "polarity", "label_column="]),
    # line 7 = the 6th data row
    "train_label_2_line7": ("train", _tsv(GOOD[:5] + ["a good film\t2"] + GOOD[5:]),
                            ["line 7", "label '2'", "['0', '1']", "config key 'labels'"]),
    "dev_label_2": ("validation", _tsv(GOOD[:2] + ["a dull plot\t2"] + GOOD[2:]),
                    ["line 4", "label '2'", "['0', '1']", "Fix the row"]),
    "empty": ("train", b"", ["empty", "header row"]),
    "header_only": ("train", b"sentence\tlabel\n", ["no data rows", "right file"]),
    # line 4: a latin-1 e-acute in the 3rd data row
    "latin1_line4": ("train", _tsv(GOOD[:2]) + "caf\xe9 was lovely\t1\n".encode("latin-1") + _tsv(GOOD[2:])[len("sentence\tlabel\n"):],
                     ["line 4", "not UTF-8", "0xe9", "Re-save the file as UTF-8"]),
}


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_bad_data_file_exits_2_naming_file_and_line(case, tiny_bert, sentiment_data, tmp_path):
    key, content, expected = DATA_CASES[case]
    broken = tmp_path / ("dev.tsv" if key == "validation" else "train.tsv")
    broken.write_bytes(content)
    data = {**sentiment_data, "dev" if key == "validation" else "train": broken}
    out = tmp_path / "out"
    result = run_cli("train", "sst2", *tiny_args(data, tiny_bert, out))
    assert_input_error(result, str(broken), *expected)
    assert_no_training(out)


# -- config errors ------------------------------------------------------------------------------------

def test_misspelt_key_in_yaml_file(tiny_bert, sentiment_data, tmp_path):
    text = (ROOT / "configs" / "sst2.yaml").read_text()
    assert "  epochs: 3\n" in text
    config = tmp_path / "my_sst2.yaml"
    config.write_text(text.replace("  epochs: 3\n", "  epocs: 3\n"))
    out = tmp_path / "out"
    result = run_cli("train", str(config), *tiny_args(sentiment_data, tiny_bert, out))
    assert_input_error(result, str(config), "'train.epocs'", "train.epochs")
    assert_no_training(out)


CLI_CASES = {
    "misspelt_key": (["train.batchsize=8"], ["'train.batchsize'", "did you mean train.batch_size"]),
    "wrong_type": (["train.epochs=many"], ["'train.epochs'", "expects float", "'many'", "train.epochs=<float>"]),
    "missing_model": (["model=/nonexistent/x"], ["model=/nonexistent/x", "no such folder", "Give a model folder"]),
    "fp16_on_cpu": (["train.precision=fp16"], ["train.precision=fp16", "CUDA GPU", "bf16"]),
    # A hub id that is not cached, offline (run_cli sets HF_HUB_OFFLINE): the tokenizer is loaded
    # first, and it used to end in transformers' 60-line OSError traceback with exit 1.
    "hub_id_offline": (["model=finetune-tests/never-cached"],
                       ["model=finetune-tests/never-cached", "not in the Hugging Face cache",
                        "HF_HUB_OFFLINE is set", "local model folder", "minilm, smollm2"]),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_bad_command_line_value(case, tiny_bert, sentiment_data, tmp_path):
    extra, expected = CLI_CASES[case]
    out = tmp_path / "out"
    # Later overrides win, so these replace tiny_args' own values.
    result = run_cli("train", "sst2", *tiny_args(sentiment_data, tiny_bert, out), *extra)
    assert_input_error(result, *expected)
    assert_no_training(out)


def test_evaluate_a_hub_id_offline_exits_2(sentiment_data, tmp_path):
    result = run_cli("evaluate", "sst2", "model=finetune-tests/never-cached", f"data.validation={sentiment_data['dev']}",
                     f"output_dir={tmp_path}")
    assert_input_error(result, "model=finetune-tests/never-cached", "not in the Hugging Face cache", "run once online")


def test_unknown_task_suggests_closest(tiny_bert, sentiment_data, tmp_path):
    out = tmp_path / "out"
    result = run_cli("train", "sst3", *tiny_args(sentiment_data, tiny_bert, out))
    assert_input_error(result, "'sst3'", "did you mean sst2")
    assert_no_training(out)


# -- score ----------------------------------------------------------------------------------------------

def test_score_prediction_outside_labels(sentiment_data, tmp_path):
    dev_rows = len(sentiment_data["dev"].read_text().splitlines()) - 1
    rows = [(i, "1", "1") for i in range(dev_rows)]
    rows[3] = (3, "positive", "1")  # line 5: header + rows 0, 1, 2, 3
    predictions = write_tsv(tmp_path / "predictions.tsv", ["index", "prediction", "label"], rows)
    result = run_cli("score", "sst2", "--predictions", str(predictions), "--references", str(sentiment_data["dev"]))
    assert_input_error(result, str(predictions), "line 5", "'positive'", "['0', '1']")


# -- a run folder resumed with other settings -------------------------------------------------------

def test_resuming_a_run_with_other_settings_is_refused_and_changes_nothing(tiny_bert, sentiment_data, tmp_path):
    out = tmp_path / "out"
    args = tiny_args(sentiment_data, tiny_bert, out, train__epochs=1)
    first = run_cli("train", "sst2", *args)
    assert first.returncode == 0, first.stderr[-3000:]
    run = out / "tiny"
    # The same command again continues (here: finds the run finished); keys that change no weight may differ.
    again = run_cli("train", "sst2", *args, "train.log_every=1", "train.keep_last=1")
    assert again.returncode == 0, again.stderr[-3000:]
    config, metrics = (run / "config.yaml").read_text(), (run / "metrics.json").read_text()
    # It used to "resume", train nothing and rewrite config.yaml with settings never used.
    other = run_cli("train", "sst2", *args, "train.lr=1e-3", "train.epochs=2")
    assert_input_error(other, str(run), "train.lr: 0.01 there, 0.001 now", "train.epochs: 1.0 there, 2.0 now",
                       "run_name=<new name>")
    assert (run / "config.yaml").read_text() == config and (run / "metrics.json").read_text() == metrics
    # A new name is a new run with the new settings.
    fresh = run_cli("train", "sst2", *args, "train.lr=1e-3", "run_name=tiny-lr")
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert "lr: 0.001" in (out / "tiny-lr" / "config.yaml").read_text()


# -- help ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["predict", "score", "export", "evaluate"])
def test_help_gives_every_argument_a_meaning_and_no_training_example(command, capsys):
    from finetune.cli import main

    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    text = capsys.readouterr().out
    assert done.value.code == 0
    if command in ("predict", "score"):  # they train nothing: a training key is a misleading example
        assert "train.epochs" not in text, text
    positionals = text.split("positional arguments:")[1].split("options:")[0]
    for line in positionals.strip("\n").split("\n"):
        if line.startswith("  ") and not line.startswith("    "):  # an argument's own line
            assert len(line.split()) > 1, f"{command}: {line.strip()} has no help:\n{text}"


def test_make_help_lists_every_target():
    makefile = (ROOT / "Makefile").read_text()
    targets = makefile.split(".PHONY:")[1].split("\n")[0].split()
    shown = [line for line in makefile.split("help:")[1].split("\n\n")[0].split("\n") if "@echo" in line]
    for target in set(targets) - {"help"}:
        assert any(f'"make {target}' in line for line in shown), f"make help does not show {target}"
