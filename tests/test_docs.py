"""Every command the README and docs/ show works as written: the real parser accepts it, its task
config takes its overrides, and a `make` line names a real target (expanded by `make -n`). Also every
relative link in them leads to a file (and a heading) that exists.

Commands are the lines of fenced code blocks that start (after any `VAR=value ` prefix) with
`python -m finetune`, `.venv/bin/python -m finetune`, `finetune`, `make`, or a launcher's
`... -m finetune` (accelerate launch, torchrun). Placeholders pass as they are: run folders such as
runs/sst2-... are not opened, and PATH or /path/to/... are only ever values of text keys.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT

from finetune import cli
from finetune.config.schema import CONFIG_DIR

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
PYTHONS = ("python", "python3", ".venv/bin/python", "$(BIN)/python")
LAUNCHERS = ("accelerate", "torchrun")
# Commands that cannot be checked here, with the reason. Keep it short.
ALLOWED: dict[str, str] = {}


def _blocks(path: Path):
    """(line number, command text) of every line in a fenced block, `\\` continuations joined."""
    fence, pending, start = None, "", 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence else stripped
            continue
        if fence is None:
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        yield start, pending + stripped
        pending = ""


def _command(text: str) -> tuple[str, list[str]] | None:
    """("cli", argv after `-m finetune`) or ("make", argv after `make`); None for other lines."""
    try:
        words = shlex.split(text, comments=True)
    except ValueError:
        return None
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):  # FINETUNE_DATA=... make ...
        words = words[1:]
    if not words:
        return None
    if words[0] == "make":
        return "make", words[1:]
    if words[0] == "finetune":
        return "cli", words[1:]
    if words[0] in PYTHONS + LAUNCHERS and "-m" in words:
        at = words.index("-m")
        if words[at + 1:at + 2] == ["finetune"]:
            return "cli", words[at + 2:]
    return None


def _commands() -> list:
    params = []
    for path in DOCS:
        for number, text in _blocks(path):
            found = _command(text)
            if found and text not in ALLOWED:
                params.append(pytest.param(*found, id=f"{path.relative_to(ROOT)}:{number}"))
    return params


COMMANDS = _commands()


def _is_config(target: str) -> bool:
    return (CONFIG_DIR / f"{target}.yaml").is_file() or (target.endswith((".yaml", ".yml")) and (ROOT / target).is_file())


def check_cli(argv: list[str]) -> None:
    argv = [word for word in argv if word != "..."]  # an elided rest of a command
    try:
        args = cli.parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"python -m finetune {shlex.join(argv)}: the parser refused it (status {exc.code})")
    from tasks.registry import load_config

    target = getattr(args, "config", None) or getattr(args, "target", None) or getattr(args, "task", None)
    # train, keys and score take a task or config; evaluate also a run or model folder, not opened here.
    if args.command in ("train", "keys", "score") or (args.command == "evaluate" and _is_config(target)):
        load_config(ROOT / target if target.endswith((".yaml", ".yml")) else target, getattr(args, "overrides", []))
    elif args.command == "glue":
        from finetune.apps.glue import batch

        tasks = batch.parse_tasks(args.tasks)
        shared, per_task = batch.split_overrides(args.overrides, tasks)
        for task in tasks:
            load_config(task, shared + per_task.get(task, []))
    elif args.command == "bench" and args.overrides[:1] == ["inference"]:
        from finetune.apps.bench import inference

        inference.parse(args.overrides[1:])
    elif args.command == "bench":
        from finetune.apps.bench import bench

        bench.parse(args.overrides)


def check_make(argv: list[str]) -> None:
    """`make -n` prints what the target would run without running it; its finetune commands are checked too."""
    result = subprocess.run(["make", "-n", "--no-print-directory", *argv], check=False, cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "MAKEFLAGS": ""}, timeout=60)
    assert result.returncode == 0, f"make {shlex.join(argv)}: {result.stderr.strip()}"
    for line in result.stdout.splitlines():
        found = _command(line)
        if found and found[0] == "cli":
            check_cli(found[1])


@pytest.mark.parametrize("kind, argv", COMMANDS)
def test_command_in_docs_is_valid(kind, argv):
    (check_make if kind == "make" else check_cli)(argv)


def test_docs_show_commands():
    # The parser above must keep finding them: a change of fences or prefixes would pass silently.
    shown = {param.values[0] for param in COMMANDS}
    assert shown == {"cli", "make"} and len(COMMANDS) > 30, [param.id for param in COMMANDS]


def _anchor(heading: str) -> str:
    """GitHub's id of a heading: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_somewhere(path):
    text = path.read_text(encoding="utf-8")
    broken = []
    for link in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", link):  # http:, https:, mailto:
            continue
        file, _, anchor = link.partition("#")
        target = (path.parent / file).resolve() if file else path
        if not target.exists():
            broken.append(link)
        elif anchor and target.suffix == ".md":
            headings = re.findall(r"^#+ (.*)$", target.read_text(encoding="utf-8"), re.MULTILINE)
            if anchor not in {_anchor(h) for h in headings}:
                broken.append(link)
    assert not broken, f"{path.relative_to(ROOT)}: links to nothing: {', '.join(broken)}"
