"""The key reference: every config key with its type, default and one-line help, read from the
dataclasses themselves (as HfArgumentParser does for --help), so schema.py and each adapter's
`Options` stay the one place a key is declared and explained.

Help is a field's `metadata["help"]` when it has one, else its source comments: the comment lines
directly above the field, then the comment trailing it. `python -m finetune keys TASK` prints the
rows for a task; `python -m finetune.config.keys --write docs/configuration.md` (`make docs`)
regenerates the tables between `<!-- keys:begin NAME -->` and `<!-- keys:end -->` in a Markdown file.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import io
import json
import re
import shutil
import textwrap
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune.config import typed
from finetune.config.schema import RunConfig


@dataclass(frozen=True)
class Key:
    key: str  # dotted: train.lr
    type: str  # as typed.type_name writes it: `float or null`
    default: str  # the dataclass default, as YAML would write it: null, true, [a, b]
    help: str
    config_value: str | None = None  # the task YAML's value, where the YAML sets the key


@functools.cache
def field_help(cls: type) -> dict[str, str]:
    """Field name -> help: metadata["help"], else the comments above the field and trailing it."""
    source = textwrap.dedent(inspect.getsource(cls))
    comments: dict[int, tuple[str, bool]] = {}  # line -> (text, alone on its line)
    code_lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            text = token.string.lstrip("#").strip()
            comments[token.start[0]] = (text, token.start[0] not in code_lines)
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                                tokenize.ENDMARKER):
            code_lines.update(range(token.start[0], token.end[0] + 1))
    (class_node,) = ast.parse(source).body
    out = {}
    for node in class_node.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above = []
        line = node.lineno - 1
        while line in comments and comments[line][1]:  # a comment block ends at a blank or code line
            above.insert(0, comments[line][0])
            line -= 1
        trailing = [comments[n][0] for n in range(node.lineno, node.end_lineno + 1)
                    if n in comments and not comments[n][1]]
        out[node.target.id] = " ".join(above + trailing)
    for f in dataclasses.fields(cls):
        if f.metadata.get("help"):
            out[f.name] = f.metadata["help"]
    return out


def show(value: Any) -> str:
    """A value as it would be written in YAML or on the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        # Quote only what would not read back as the same text (empty, newlines, YAML syntax).
        plain = value and not re.search(r"[\n:#{}\[\],'\"]|^\s|\s$", value) and value.lower() not in (
            "null", "none", "true", "false", "yes", "no", "~")
        return value if plain else json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    return str(value)


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def rows(cls: type, values: Any = None, prefix: str = "", set_keys: frozenset[str] = frozenset()) -> list[Key]:
    """One Key per leaf field of dataclass `cls` (nested sections dotted: train.lr). `values`: an
    instance (a loaded config) and `set_keys` the dotted keys its YAML set: their values are shown too."""
    hints = typed.field_types(cls)
    helps = field_help(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.name == "options":  # RunConfig's slot for the adapter's own keys: listed on their own
            continue
        key, tp, default = prefix + f.name, hints[f.name], _default(f)
        if dataclasses.is_dataclass(tp):
            out.extend(rows(tp, getattr(values, f.name) if values is not None else None, f"{key}.", set_keys))
            continue
        shown = "required" if default is dataclasses.MISSING else show(default)
        given = show(getattr(values, f.name)) if values is not None and key in set_keys else None
        out.append(Key(key, typed.type_name(tp), shown, helps.get(f.name, ""), given))
    return out


def base_rows(config: RunConfig | None = None, set_keys: frozenset[str] = frozenset()) -> list[Key]:
    """The keys every task understands; with `config`, its values."""
    return rows(RunConfig, config, set_keys=set_keys)


def keys_set_in(yaml_data: dict, options_cls: type | None) -> frozenset[str]:
    """The dotted keys a task YAML sets: its sections flattened, up to the dataclass fields (a
    mapping field such as data.hub_rename counts as one key, not one per entry)."""
    known = set(typed.all_keys(RunConfig)) | set(typed.all_keys(options_cls) if options_cls else [])
    out = set()
    for dotted in typed.flatten(yaml_data):
        parts = dotted.split(".")
        for n in range(len(parts), 0, -1):
            if ".".join(parts[:n]) in known:
                out.add(".".join(parts[:n]))
                break
    return frozenset(out)


def _cell(text: str, code: bool = False) -> str:
    # A `|` ends the cell, even in code; outside code a `<task>` would be read as an HTML tag and vanish.
    text = text.replace("|", "\\|")
    return f"`{text}`" if code else text.replace("<", "&lt;")


def markdown_table(keys: list[Key]) -> str:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for k in keys:
        lines.append(f"| {_cell(k.key, code=True)} | {_cell(k.type)} | {_cell(k.default, code=True)} | {_cell(k.help)} |")
    return "\n".join(lines) + "\n"


def plain_text(keys: list[Key], width: int | None = None) -> str:
    """For the terminal: key, type and value on one line, the help wrapped under it (as --help)."""
    width = width or min(shutil.get_terminal_size((100, 24)).columns, 120)
    column = max(len(k.key) for k in keys) + 4
    lines = []
    for k in keys:
        if k.config_value is None:
            value = f"default {k.default}"
        else:
            value = f"{k.config_value} in the config ({'required' if k.default == 'required' else f'default {k.default}'})"
        lines.append(f"  {k.key.ljust(column - 2)}{k.type}; {value}")
        lines.extend(textwrap.wrap(k.help, width, initial_indent=" " * column, subsequent_indent=" " * column))
    return "\n".join(lines) + "\n"


BEGIN = re.compile(r"<!-- keys:begin (\S+) -->\n.*?<!-- keys:end -->", re.DOTALL)


def write_blocks(text: str, tables: dict[str, str]) -> str:
    """`text` with every `<!-- keys:begin NAME -->` ... `<!-- keys:end -->` block holding tables[NAME]."""
    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name not in tables:
            raise KeyError(f"<!-- keys:begin {name} -->: no key table named '{name}'. Names: {', '.join(tables)}.")
        return f"<!-- keys:begin {name} -->\n{tables[name]}<!-- keys:end -->"
    return BEGIN.sub(fill, text)


def doc_tables() -> dict[str, str]:
    """The tables docs/configuration.md holds: `base`, then one per registered adapter's own keys,
    with the dataclass defaults. The registry is imported here, in the entry point, so the rest of
    this module (and the config package) knows no task."""
    from tasks.registry import TASKS

    tables = {"base": markdown_table(base_rows())}
    for task in TASKS:
        tables[task.name] = markdown_table(rows(task.adapter_class().Options))
    return tables


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m finetune.config.keys",
                                description="Regenerate the key tables of a Markdown file from the dataclasses.")
    p.add_argument("--write", metavar="FILE", required=True, help="e.g. docs/configuration.md")
    args = p.parse_args(argv)
    path = Path(args.write)
    old = path.read_text(encoding="utf-8")
    new = write_blocks(old, doc_tables())
    if new != old:
        path.write_text(new, encoding="utf-8")
    print(f"{path}: {'rewritten' if new != old else 'already up to date'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
