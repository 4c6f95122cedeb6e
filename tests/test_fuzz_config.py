"""Property-based test of the config reader: random damage to the real task configs.

Every config in configs/ is damaged at random (a line dropped, truncated or duplicated, a value
replaced by one of the wrong type, a tab in the indentation, a key misspelt, a byte that is not
UTF-8, a YAML tag that would build a Python object, ...) and read as `train` reads it, with a
random command-line override too. The outcome must be a config or an InputError that names the
file (or the command line) and the line or the key; never another exception, and never a Python
object built from the file.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from finetune.config.schema import CONFIG_DIR, RunConfig
from finetune.errors import InputError
from tasks.registry import load_config

CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))
# 150 damaged configs a run, drawn over all the task configs: about 3 s.
EXAMPLES = 150
WRONG_VALUES = ["[1, 2]", "{a: 1}", "null", "yes", "-3", "1e999", ".nan", "'text'", "0x1f", "", "~", "[]", "2026-11-24",
                "!!python/object/apply:os.getcwd []", "!!binary aGk=", "&anchor 3", "*missing"]
KEY_LINE = re.compile(r"^(\s*)([A-Za-z_][\w.]*):(.*)$")
LINE_OR_KEY = re.compile(r"line \d+|'[\w.]+'|\b[a-z_]+\.[a-z_]+\b|\b(task|model|labels|run_name|metrics)\b")


@st.composite
def damaged(draw) -> tuple[str, bytes, list[str]]:
    path = draw(st.sampled_from(CONFIGS))
    lines = path.read_text(encoding="utf-8").split("\n")
    keyed = [i for i, line in enumerate(lines) if KEY_LINE.match(line)]
    kind = draw(st.sampled_from(["drop", "truncate", "duplicate", "wrong_value", "tab", "misspell", "bad_byte",
                                 "unindent", "override"]))
    i = draw(st.sampled_from(keyed))
    indent, key, value = KEY_LINE.match(lines[i]).groups()
    overrides: list[str] = []
    if kind == "drop":
        del lines[i]
    elif kind == "truncate":
        lines[i] = lines[i][:draw(st.integers(0, len(lines[i])))]
    elif kind == "duplicate":
        lines.insert(i, lines[i])
    elif kind == "wrong_value":
        lines[i] = f"{indent}{key}: {draw(st.sampled_from(WRONG_VALUES))}"
    elif kind == "tab":
        lines[i] = "\t" + lines[i]
    elif kind == "misspell":
        lines[i] = f"{indent}{key}x:{value}"
    elif kind == "unindent":
        lines[i] = lines[i].lstrip()
    elif kind == "override":
        overrides = [f"{draw(st.sampled_from(['train.lr', 'train.epochs', 'data.bad_rows', 'train.precision', 'labels', 'run_name', 'train.batch_size', 'data.max_seq_length', 'lora.r']))}"
                     f"={draw(st.sampled_from(WRONG_VALUES + ['2', '0', 'auto', '../x']))}"]
    data = "\n".join(lines).encode("utf-8")
    if kind == "bad_byte":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b"\xff" + data[at:]
    return path.name, data, overrides


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None)
@given(case=damaged())
def test_a_damaged_config_is_read_or_refused_with_its_place(case, tmp_path_factory):
    name, data, overrides = case
    path = tmp_path_factory.mktemp("config") / name
    path.write_bytes(data)
    try:
        config = load_config(path, overrides)
    except InputError as exc:
        message = str(exc)
        # The file (or the command line, for an override) and the line or the key; an adapter's own
        # option checks name the key ("config key 'metrics': ...").
        assert str(path) in message or message.startswith(("command line", "config key")), message
        assert LINE_OR_KEY.search(message), message
        assert "Traceback" not in message
        return
    assert isinstance(config, RunConfig)
    # Whatever was read is plain data: no YAML tag built a Python object.
    def plain(value) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (str, int, float, bool))
    assert plain(config.to_dict())
