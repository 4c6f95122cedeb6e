"""Memory on long CPU runs: what grows, and what a run does about it (issue #24, point 16).

Two things grow while a CPU run trains on batches whose shapes change every step (padding follows the
longest example), both measured with `make bench`'s memory table (SQuAD windows, batch 8, 120 steps,
three evaluations; early = median RSS over steps 10-30%, late = over the last 20%):

- oneDNN's primitive cache (bf16 matrix products go through oneDNN) keeps a compiled kernel and its
  buffers for each of up to 1,024 shapes. Capped at 16 entries, late RSS fell from 2,738 to 2,099 MB
  and the peak from 3,097 to 2,544 MB at the same speed (0.62 s a step; SST-2's bench: 168 against
  164 samples/s). Every policy but `glibc` caps it, unless ONEDNN_PRIMITIVE_CACHE_CAPACITY is set.
- glibc's malloc raises its mmap threshold to the largest block freed (up to 32 MiB); the activations
  then come from a heap that returns memory only from its top, so fragmentation stays resident.
  FINETUNE_MALLOC chooses what to do about it:
  - `default`: nothing more (the fixes below cost more time than they save memory, on this workload);
  - `trim`: malloc_trim(0) every RELEASE_EVERY optimizer steps and after every evaluation, handing
    back the free pages inside the heap: with the capped cache, peak 2,438 against 2,544 MB, 10% slower;
  - `mmap`: both thresholds fixed at 128 KiB with 2 arenas (what MALLOC_MMAP_THRESHOLD_=131072
    MALLOC_TRIM_THRESHOLD_=131072 MALLOC_ARENA_MAX=2 set): every large block mapped and unmapped, the
    lowest memory (measured without the cap: late 1,539 MB, peak 2,407 MB) and 67% slower (1.02 s a
    step against 0.61): for a machine short of memory;
  - `glibc`: touch nothing, the oneDNN cache included.
  A user's own MALLOC_* variables win over `trim` and `mmap`.
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
RELEASE_EVERY = 25  # optimizer steps between two malloc_trim calls (each costs a few milliseconds)
ONEDNN_CACHE = "16"  # oneDNN primitive cache entries (its default: 1024)
OURS = "FINETUNE_SET_ONEDNN_CACHE"  # marks the cache size as set here (child processes inherit both)
USER_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX", "MALLOC_TOP_PAD_")
POLICY = "FINETUNE_MALLOC"
POLICIES = ("default", "trim", "mmap", "glibc")

_state: tuple[str, str] | None = None  # (policy in force, what metrics.json records)
_libc = None


def tune() -> str:
    """Set the process's allocator once (before its first matrix product: oneDNN reads its cache size
    then); returns what it is, for metrics.json."""
    global _state
    if _state is None:
        _state = _tune()
    return _state[1]


def release() -> None:
    """Hand the heap's free pages back to the system (the trim policy only)."""
    if _state is not None and _state[0] == "trim":
        _libc.malloc_trim(0)


def _tune() -> tuple[str, str]:
    global _libc
    policy = os.environ.get(POLICY, "default").lower()
    if policy not in POLICIES:
        from finetune.errors import InputError

        raise InputError(f"{POLICY}={policy!r}: set it to one of {', '.join(POLICIES)} (or leave it unset: default).")
    if os.environ.pop(OURS, None):  # a parent run's setting, not the user's
        os.environ.pop("ONEDNN_PRIMITIVE_CACHE_CAPACITY", None)
    if policy == "glibc":
        return "glibc", f"as the system sets it ({POLICY}=glibc)"
    if "ONEDNN_PRIMITIVE_CACHE_CAPACITY" in os.environ:
        cache = f"oneDNN cache {os.environ['ONEDNN_PRIMITIVE_CACHE_CAPACITY']} (ONEDNN_PRIMITIVE_CACHE_CAPACITY)"
    else:
        os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"], os.environ[OURS] = ONEDNN_CACHE, "1"
        cache = f"oneDNN cache {ONEDNN_CACHE}"
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or policy == "default":
        return "default", f"{cache}, malloc as is"
    given = [name for name in USER_VARIABLES if name in os.environ]
    if given:
        return "default", f"{cache}, malloc as the environment sets it ({', '.join(given)})"
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    if policy == "trim":
        return "trim", f"{cache}, malloc_trim every {RELEASE_EVERY} steps and after each evaluation"
    done = all(_libc.mallopt(param, value) == 1 for param, value in
               ((M_MMAP_THRESHOLD, THRESHOLD), (M_TRIM_THRESHOLD, THRESHOLD), (M_ARENA_MAX, ARENAS)))
    return ("mmap", f"{cache}, malloc mmap and trim thresholds 128 KiB, 2 arenas") if done else \
        ("default", f"{cache}, malloc as is (mallopt refused)")
