"""What a run does about memory growth on long CPU runs (issue #24, point 16; finetune/engine/allocator.py).

Each case runs in a fresh interpreter: mallopt changes the whole process, and the pattern below
needs an allocator nobody has used for large blocks yet."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import run_cli

# A large block freed (glibc then raises its mmap threshold to its size), then 200 blocks of 1 MiB
# written and all but the last freed: what a step's activations of changing sizes do, in small.
# Then the loop's release() (what it calls every few steps and after an evaluation).
PATTERN = """
import ctypes, os, sys
from finetune.engine import allocator
state = allocator.tune()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
MB = 2**20
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB
big = libc.malloc(4 * MB); ctypes.memset(big, 1, 4 * MB); libc.free(big)
before = rss_mb()
blocks = [libc.malloc(MB) for _ in range(200)]
for block in blocks:
    ctypes.memset(block, 1, MB)
for block in blocks[:-1]:
    libc.free(block)
freed = rss_mb() - before
allocator.release()
print(f"{freed:.0f}\\t{rss_mb() - before:.0f}\\t{state}\\t{os.environ.get('ONEDNN_PRIMITIVE_CACHE_CAPACITY')}")
"""

glibc_linux = pytest.mark.skipif(sys.platform != "linux" or os.confstr("CS_GNU_LIBC_VERSION") is None,
                                 reason="mallopt and malloc_trim are glibc's")


def _run(**env: str) -> tuple[float, float, str, str]:
    """(MB still resident after the frees, after release(), what tune() said, oneDNN's cache size)."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("MALLOC_", "ONEDNN_")) and k not in ("FINETUNE_MALLOC", "FINETUNE_SET_ONEDNN_CACHE")}
    done = subprocess.run([sys.executable, "-c", PATTERN], env={**clean, **env}, capture_output=True, text=True, check=True)
    freed, released, state, cache = done.stdout.strip().split("\t")
    return float(freed), float(released), state, cache


@glibc_linux
def test_the_default_caps_onednn_cache_and_leaves_malloc_as_it_is():
    freed, released, state, cache = _run()
    assert state == "oneDNN cache 16, malloc as is" and cache == "16"
    assert freed > 150 and released > 150  # 199 freed MiB stay in the process: glibc's own behaviour


@glibc_linux
def test_glibc_touches_nothing_not_even_a_parent_runs_cache_size():
    # A bench worker inherits the setting its parent run made; under glibc it must not keep it.
    freed, released, state, cache = _run(FINETUNE_MALLOC="glibc", ONEDNN_PRIMITIVE_CACHE_CAPACITY="16",
                                         FINETUNE_SET_ONEDNN_CACHE="1")
    assert state == "as the system sets it (FINETUNE_MALLOC=glibc)" and cache == "None"
    assert released > 150


@glibc_linux
def test_the_trim_policy_gives_freed_blocks_back_at_each_release():
    freed, released, state, _ = _run(FINETUNE_MALLOC="trim")
    assert state == "oneDNN cache 16, malloc_trim every 25 steps and after each evaluation"
    assert freed > 150  # the steps between two releases run on glibc's own heap, system calls spared
    assert released < 20  # only the block still held


@glibc_linux
def test_the_mmap_policy_never_keeps_them():
    freed, released, state, _ = _run(FINETUNE_MALLOC="mmap")
    assert state == "oneDNN cache 16, malloc mmap and trim thresholds 128 KiB, 2 arenas"
    assert freed < 20 and released < 20


@glibc_linux
def test_the_users_own_variables_win():
    freed, released, state, cache = _run(FINETUNE_MALLOC="trim", MALLOC_ARENA_MAX="4", ONEDNN_PRIMITIVE_CACHE_CAPACITY="64")
    assert state == "oneDNN cache 64 (ONEDNN_PRIMITIVE_CACHE_CAPACITY), malloc as the environment sets it (MALLOC_ARENA_MAX)"
    assert cache == "64" and released > 150  # nothing was changed behind the user's back


@glibc_linux
def test_an_unknown_policy_is_exit_2_naming_the_choices(tmp_path):
    done = run_cli("train", "sst2", f"output_dir={tmp_path}", env={"FINETUNE_MALLOC": "jemalloc"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "FINETUNE_MALLOC='jemalloc': set it to one of default, trim, mmap, glibc" in done.stderr
    assert not any(tmp_path.iterdir())


# 20 shapes of a bf16 matrix product, twice: oneDNN creates a primitive per shape, and finds it in its
# cache the second time round only if the cache holds 20 (its own default holds 1,024).
SHAPES = """
import os, torch
from finetune.engine import allocator
allocator.tune()  # after torch's import, as in a run: oneDNN reads the size at its first primitive
os.environ["ONEDNN_VERBOSE"] = "2"
weight = torch.randn(64, 64)
for cycle in range(2):
    for rows in range(2, 22):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            torch.nn.functional.linear(torch.randn(rows, 64), weight)
"""


def _cache_events(**env: str) -> tuple[int, int]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ONEDNN_", "DNNL_")) and k != "FINETUNE_MALLOC"}
    done = subprocess.run([sys.executable, "-c", SHAPES], env={**clean, **env}, capture_output=True, text=True, check=True)
    lines = (done.stdout + done.stderr).splitlines()
    return sum("create:cache_hit" in line for line in lines), sum("create:cache_miss" in line for line in lines)


def test_the_onednn_cache_cap_takes_effect_when_set_after_torchs_import():
    hits, misses = _cache_events(FINETUNE_MALLOC="glibc")
    if not misses:
        pytest.skip("this CPU's bf16 products do not go through oneDNN")
    assert hits == 20 and misses == 20  # oneDNN's own cache: the second round hits
    hits, misses = _cache_events()
    assert hits == 0 and misses == 40  # capped at 16: 20 shapes in turn evict each other
