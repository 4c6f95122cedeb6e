"""`python -m finetune keys` and the key tables of docs/configuration.md: read from the dataclasses'
source comments, every key explained, and the committed tables exactly what the code generates."""

from __future__ import annotations

import dataclasses
import re

import pytest
from conftest import ROOT, run_cli

from finetune import cli
from finetune.config import keys
from tasks.registry import TASKS

REGENERATE = "make docs (or: python -m finetune.config.keys --write docs/configuration.md)"


@dataclasses.dataclass
class Documented:
    """A docstring line is code: the first field's help does not reach up into it."""

    # above,
    # on two lines
    both: int = 1  # and trailing
    trailing: str = "x"  # only trailing

    # a comment block ends at a blank line, so this one belongs to nobody
    # (it says what the fields below share)

    silent: bool = False
    from_metadata: float = dataclasses.field(default=0.5, metadata={"help": "metadata wins"})  # not this
    nested: list[str] = dataclasses.field(  # an annotation over several lines
        default_factory=lambda: ["a", "b"])


def test_field_help_reads_comments_above_and_trailing():
    assert keys.field_help(Documented) == {
        "both": "above, on two lines and trailing",
        "trailing": "only trailing",
        "silent": "",
        "from_metadata": "metadata wins",
        "nested": "an annotation over several lines",
    }


def test_rows_show_types_and_defaults_as_yaml_writes_them():
    rows = {k.key: k for k in keys.rows(Documented)}
    assert (rows["both"].type, rows["both"].default) == ("int", "1")
    assert (rows["silent"].type, rows["silent"].default) == ("bool", "false")
    assert (rows["nested"].type, rows["nested"].default) == ("a list of str", "[a, b]")
    assert [keys.show(v) for v in (None, "no", "", "a: b", {"x": 1.5}, "Q: {q}\n")] == [
        "null", '"no"', '""', '"a: b"', "{x: 1.5}", '"Q: {q}\\n"']


def _line(out: str, key: str) -> str:
    """The line `keys` printed for `key` (key, type, value), and the help lines under it."""
    match = re.search(rf"^  {re.escape(key)} +(.*)\n((?:  {{6,}}.*\n)*)", out, re.MULTILINE)
    assert match, f"{key} not printed:\n{out}"
    return match.group(1) + " | " + " ".join(match.group(2).split())


def test_keys_prints_every_base_key_and_the_tasks_own(capsys):
    assert cli.main(["keys", "conll2003"]) == 0
    out = capsys.readouterr().out
    for row in keys.base_rows() + keys.rows(TASKS[[t.name for t in TASKS].index("ner")].adapter_class().Options):
        assert row.type in _line(out, row.key)
    # The YAML's value where conll2003.yaml sets the key, the dataclass default elsewhere, then the help.
    assert _line(out, "train.batch_size") == ("int; 16 in the config (default 32) | the global batch: split across "
                                              "processes under `accelerate launch`")
    assert _line(out, "data.format").startswith("one of auto, csv, tsv, json, jsonl, squad, conll; conll in the config "
                                                 "(default auto) | squad: the nested SQuAD JSON")
    assert _line(out, "data.hub_rename").startswith("a mapping of names to str; {ner_tags: tags} in the config (default {})")
    assert _line(out, "label_all_tokens") == "bool; default false | label every subword, not only a word's first"
    assert _line(out, "tag_scheme").startswith("one of auto, bio, iob1, bioes; auto in the config (default auto) | ")
    assert "Keys of the ner adapter" in out


def test_keys_of_an_unknown_task_exits_2():
    result = run_cli("keys", "sst3")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error:") and "Traceback" not in result.stderr
    assert "sst2" in result.stderr  # the closest task name, and the list of tasks


@pytest.mark.parametrize("name", ["base"] + [task.name for task in TASKS])
def test_every_key_has_help(name):
    if name == "base":
        rows, where = keys.base_rows(), "finetune/config/schema.py"
    else:
        options = next(task for task in TASKS if task.name == name).adapter_class().Options
        rows, where = keys.rows(options), f"{options.__module__.replace('.', '/')}.py ({options.__name__})"
    silent = [row.key for row in rows if not row.help]
    assert not silent, (f"{where}: no help for {', '.join(silent)}. Put a comment on the field's line or the line "
                        f"above it (it is the key's help in `python -m finetune keys` and docs/configuration.md), "
                        f"then run {REGENERATE}.")


def test_docs_key_tables_are_the_generated_ones():
    path = ROOT / "docs" / "configuration.md"
    text = path.read_text(encoding="utf-8")
    tables = keys.doc_tables()
    blocks = re.findall(r"<!-- keys:begin (\S+) -->", text)
    assert sorted(blocks) == sorted(tables), (f"{path}: key blocks {blocks}, but the tables are {list(tables)}: add a "
                                              f"`<!-- keys:begin NAME -->` / `<!-- keys:end -->` pair per table, then "
                                              f"run {REGENERATE}.")
    assert keys.write_blocks(text, tables) == text, (f"{path}: the key tables differ from the dataclasses'. "
                                                     f"Regenerate them: {REGENERATE}.")
