"""Checkpoints that are either whole or absent.

Each checkpoint is written into a hidden temporary folder, flushed to disk, and renamed into
place; the rename is atomic, so a kill at any moment leaves the previous checkpoints intact. The
training position (step, epoch, batch within the epoch, best score) is written last, and a folder
without it is never taken for a checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

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
    if final.exists():
        old = final.with_name(f".old-{final.name}")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(final)
    # The rename itself is durable only once the parent folder's entry is flushed.
    fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_state(folder: Path, state: dict[str, Any]) -> None:
    (folder / STATE_NAME).write_text(json.dumps(state, indent=1))


def read_state(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / STATE_NAME).read_text())
    except (OSError, ValueError):
        return None


def complete(checkpoints: Path) -> list[Path]:
    """Whole checkpoints, oldest first."""
    if not checkpoints.is_dir():
        return []
    found = []
    for folder in checkpoints.glob(f"{PREFIX}*"):
        state = read_state(folder)
        if state is not None and folder.name[len(PREFIX):].isdigit():
            found.append((state["global_step"], folder))
    return [folder for _, folder in sorted(found)]


def latest(checkpoints: Path) -> Path | None:
    whole = complete(checkpoints)
    return whole[-1] if whole else None


def rotate(checkpoints: Path, keep_last: int) -> None:
    for folder in complete(checkpoints)[:-keep_last]:
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
