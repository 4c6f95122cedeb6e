"""Turn plain dicts (from YAML) and `key=value` strings (from the command line) into typed dataclasses.

Every value is checked against the dataclass field's annotation, and every key against the field
names, so a typo fails at start-up with the key, the expected type and the closest valid key,
instead of hours later (or never).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from typing import Any, Literal, Union

import yaml

from finetune.errors import InputError

_NONE_WORDS = {"null", "none", "~", ""}


def type_name(tp: Any) -> str:
    """A readable name for a type annotation: `int`, `float or null`, `one of linear, cosine`."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else type_name(a) for a in typing.get_args(tp))
    if origin is list:
        (item,) = typing.get_args(tp)
        return f"a list of {type_name(item)}"
    if origin is dict:
        _, item = typing.get_args(tp)
        return f"a mapping of names to {type_name(item)}"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def closest(key: str, candidates: list[str], aliases: dict[str, str] | None = None) -> str:
    """' (did you mean X?)' for the nearest candidate, or '' when nothing is near. Aliases map
    familiar names (learning_rate) to keys (train.lr), so near-misses of those are found too."""
    leaf = key.rsplit(".", 1)[-1]
    for word in (key, leaf):
        near = difflib.get_close_matches(word, list(aliases or {}), n=1, cutoff=0.8)
        if near:
            return f" (did you mean {aliases[near[0]]}?)"
    match = difflib.get_close_matches(key, candidates, n=1, cutoff=0.5)
    if not match:
        # Misspelt leaf under the right section ("train.epocs"): compare leaves too.
        leaves = {c.rsplit(".", 1)[-1]: c for c in candidates}
        near = difflib.get_close_matches(leaf, list(leaves), n=1, cutoff=0.6)
        match = [leaves[near[0]]] if near else []
    return f" (did you mean {match[0]}?)" if match else ""


def _bad(key: str, tp: Any, value: Any, where: str) -> InputError:
    shown = repr(value) if not isinstance(value, str) else f"'{value}'"
    return InputError(
        f"{where}: config key '{key}' expects {type_name(tp)}, got {shown} "
        f"({type(value).__name__}). Fix the value, e.g. {key}=<{type_name(tp)}>."
    )


class Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2's booleans: only true and false. YAML 1.1 (PyYAML's default) also reads yes / no /
    on / off, in any case, as booleans, which turns `labels: [No, Yes]` into [false, true]; here
    they stay words, and a boolean key still takes them (check_value)."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


_BOOL_WORDS = {"yes": True, "no": False, "on": True, "off": False, "true": True, "false": False}


def check_value(value: Any, tp: Any, key: str, where: str, aliases: dict[str, str] | None = None) -> Any:
    """Return `value` as type `tp`, or raise InputError naming the key."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return check_value(value, arg, key, where)
            except InputError:
                continue
        raise _bad(key, tp, value, where)
    if origin is Literal:
        choices = typing.get_args(tp)
        # YAML 1.1 reads `precision: no` as false; among word choices it means the word.
        if isinstance(value, bool) and not any(isinstance(c, bool) for c in choices):
            value = "yes" if value else "no"
        if value in choices:
            return value
        raise _bad(key, tp, value, where)
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise _bad(key, tp, value, where)
        return [check_value(v, item, f"{key}[{i}]", where) for i, v in enumerate(value)]
    if origin is dict:
        _, item = typing.get_args(tp)
        if not isinstance(value, dict):
            raise _bad(key, tp, value, where)
        return {str(k): check_value(v, item, f"{key}.{k}", where) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _bad(key, tp, value, where)
        return build(tp, value, where, prefix=f"{key}.", aliases=aliases)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _BOOL_WORDS:  # `header: no` (YAML 1.1's booleans)
            return _BOOL_WORDS[value.lower()]
        raise _bad(key, tp, value, where)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _bad(key, tp, value, where)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as text; it means the number
            try:
                return float(value)
            except ValueError:
                pass
        raise _bad(key, tp, value, where)
    if tp is str:
        if isinstance(value, str):
            return value
        # YAML reads `run_name: 001` or `labels: [0, 1]` as numbers; they mean the text.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise _bad(key, tp, value, where)
    raise TypeError(f"unsupported annotation {tp!r} for {key}")


def field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def all_keys(cls: type, prefix: str = "") -> list[str]:
    """Every dotted key a dataclass accepts, nested sections included."""
    keys = []
    for name, tp in field_types(cls).items():
        keys.append(prefix + name)
        if dataclasses.is_dataclass(tp):
            keys.extend(all_keys(tp, prefix=f"{prefix}{name}."))
    return keys


def build(cls: type, data: dict, where: str, prefix: str = "", aliases: dict[str, str] | None = None) -> Any:
    """Build dataclass `cls` from `data`, refusing unknown keys and wrong types."""
    types_ = field_types(cls)
    for key in data:
        if key not in types_:
            raise InputError(
                f"{where}: unknown config key '{prefix}{key}'"
                f"{closest(prefix + str(key), all_keys(cls, prefix), aliases)}. "
                f"Valid keys here: {', '.join(prefix + k for k in types_)}."
            )
    kwargs = {name: check_value(value, types_[name], prefix + name, where, aliases) for name, value in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in kwargs]
        raise InputError(f"{where}: missing config key(s) {', '.join(prefix + m for m in missing)}") from exc


def parse_cli_value(raw: str, tp: Any) -> Any:
    """A command-line string as the value YAML would give, keeping text fields as text."""
    args = typing.get_args(tp) if typing.get_origin(tp) in (Union, types.UnionType) else (tp,)
    if type(None) in args and raw.strip().lower() in _NONE_WORDS:
        return None
    words = {c for a in args if typing.get_origin(a) is Literal for c in typing.get_args(a) if isinstance(c, str)}
    if str in args or raw in words:
        return raw  # `run_name=001` must stay "001", not become 1; `train.precision=no` stays "no"
    try:
        return yaml.load(raw, Loader=Yaml12Loader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError:
        return raw


def to_dict(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def flatten(data: dict, prefix: str = "") -> dict:
    """{"train": {"lr": 1}} -> {"train.lr": 1}: nested config mappings as dotted keys."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
