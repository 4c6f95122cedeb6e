"""Checkpoints that are either whole or absent.

Each checkpoint is written into a hidden temporary folder, flushed to disk, and renamed into
place; the rename is atomic, so a kill at any moment leaves the previous checkpoints intact. The
training position (step, epoch, batch within the epoch, best score) is written last, with the size
of every file beside it; a folder without it, or whose files do not have those sizes, is never
taken for a checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from finetune.run import fault_injection

STATE_NAME = "trainer_state.json"
PREFIX = "step-"

def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def tmp_dir(checkpoints: Path, name: str) -> Path:
    return checkpoints / f".tmp-{name}"


def publish(tmp: Path, final: Path) -> None:
    """Move a fully written folder into place, replacing an older one of the same name."""
    _fsync_tree(tmp)
    old = final.with_name(f".old-{final.name}")
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)  # clean_partial() puts it back if the process dies before the next rename
    fault_injection.during_save(final.name, "rename")
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    # The rename itself is durable only once the parent folder's entry is flushed.
    fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sizes(folder: Path) -> dict[str, int]:
    return {path.relative_to(folder).as_posix(): path.stat().st_size
            for path in sorted(folder.rglob("*")) if path.is_file() and path.name != STATE_NAME}


def write_state(folder: Path, state: dict[str, Any]) -> None:
    """The training position, and the size of every file written before it (checked on load)."""
    (folder / STATE_NAME).write_text(json.dumps({**state, "files": _sizes(folder)}, indent=1))


def read_state(folder: Path) -> dict[str, Any] | None:
    """The position saved in a checkpoint folder, without its file list; None if not whole."""
    try:
        state = json.loads((folder / STATE_NAME).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("global_step"), int):
        return None
    problem = damage(folder, state.get("files"))
    if problem:
        print(f"warning: {folder} is not a whole checkpoint ({problem}); it is not used.", file=sys.stderr)
        return None
    state.pop("files", None)
    return state


def damage(folder: Path, expected: dict[str, int] | None) -> str | None:
    """What differs between a checkpoint folder and the files its state lists (None: nothing)."""
    if expected is None:  # written before file lists existed: only the state file can vouch for it
        return None
    for name, size in expected.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes, {size} were written"
    return None


def complete(checkpoints: Path) -> list[Path]:
    """Whole checkpoints, oldest first."""
    if not checkpoints.is_dir():
        return []
    found = []
    for folder in checkpoints.glob(f"{PREFIX}*"):
        if not folder.name[len(PREFIX):].isdigit():
            continue
        state = read_state(folder)
        if state is not None:
            found.append((state["global_step"], folder))
    return [folder for _, folder in sorted(found)]


def latest(checkpoints: Path) -> Path | None:
    whole = complete(checkpoints)
    return whole[-1] if whole else None


def rotate(checkpoints: Path, keep_last: int) -> None:
    """Remove all but the newest `keep_last` complete step checkpoints (0: all of them)."""
    whole = complete(checkpoints)
    for folder in whole[:max(len(whole) - keep_last, 0)]:
        shutil.rmtree(folder, ignore_errors=True)


def clean_partial(checkpoints: Path) -> None:
    """Remove what a killed write left behind; restore a best/ caught mid-replacement."""
    if not checkpoints.is_dir():
        return
    for folder in checkpoints.glob(".old-*"):
        final = folder.with_name(folder.name[len(".old-"):])
        if not final.exists():
            folder.rename(final)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    for folder in checkpoints.glob(".tmp-*"):
        shutil.rmtree(folder, ignore_errors=True)
