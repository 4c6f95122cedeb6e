"""glibc's malloc under ever-changing tensor shapes: why a run fixes its thresholds.

By default glibc raises its mmap threshold to the size of the largest block freed (up to 32 MiB). After
the first steps, the activations of a CPU training step (hundreds of KiB to a few MiB each, a different
size every batch as padding follows the longest example) then come from the heap instead of mmap, and a
heap gives memory back to the system only from its top: resident memory grows with fragmentation. On a
256-step SQuAD run (MiniLM, batch 16, evaluations every 80 steps) the median RSS went from 2.3 GB in the
first 200 s to 4.5 GB at the end, peak 6.7 GB. With both thresholds fixed at 128 KiB and 2 arenas (what
MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072 MALLOC_ARENA_MAX=2 would set), large blocks
are mmapped and returned when freed: 1.6 GB to 1.85 GB, peak 4.1 GB, the same losses and dev scores
(issue #24; `make bench` measures both in its memory table).

Setting them with mallopt() at start-up does what the variables do, without asking every user to export
them. A user's own MALLOC_* variables win, and FINETUNE_MALLOC=glibc keeps glibc's defaults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

# mallopt's parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
THRESHOLD = 128 * 1024
ARENAS = 2
USER_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX", "MALLOC_TOP_PAD_")
OPT_OUT = "FINETUNE_MALLOC"  # =glibc: leave the allocator as glibc sets it

_state: str | None = None


def tune() -> str:
    """Fix glibc's thresholds once per process; returns what the process's allocator is, for metrics.json."""
    global _state
    if _state is None:
        _state = _tune()
    return _state


def _tune() -> str:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "system default"
    if os.environ.get(OPT_OUT, "").lower() == "glibc":
        return f"glibc defaults ({OPT_OUT}=glibc)"
    given = [name for name in USER_VARIABLES if name in os.environ]
    if given:
        return f"glibc, as the environment sets it ({', '.join(given)})"
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    done = all(libc.mallopt(param, value) == 1 for param, value in
               ((M_MMAP_THRESHOLD, THRESHOLD), (M_TRIM_THRESHOLD, THRESHOLD), (M_ARENA_MAX, ARENAS)))
    return "glibc, mmap and trim thresholds 128 KiB, 2 arenas" if done else "glibc defaults (mallopt refused)"
