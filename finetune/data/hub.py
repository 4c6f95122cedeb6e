"""Whether the Hugging Face hub can be asked: a run with `data.source=auto` reads a task's hub
dataset before the shipped samples when it can, so that an online user's first run trains on real
data, and an offline user's run falls back to the samples at once instead of waiting on retries."""

from __future__ import annotations

import functools
import os
import threading

PROBE_SECONDS = 4.0  # DNS included: the probe runs in a thread that is abandoned after this long


def offline_by_setting() -> bool:
    """HF_HUB_OFFLINE (or datasets' own HF_DATASETS_OFFLINE) set to a true value."""
    from huggingface_hub import constants

    def true(name: str) -> bool:
        return os.environ.get(name, "").upper() in ("1", "ON", "YES", "TRUE")

    # constants holds the value at import time; the environment may have been set since
    return bool(constants.HF_HUB_OFFLINE) or true("HF_HUB_OFFLINE") or true("HF_DATASETS_OFFLINE")


@functools.cache  # once a process: every split of a run asks
def reachable() -> bool:
    """The hub answers an HTTP request (any status) within PROBE_SECONDS, through huggingface_hub's
    own session (its proxies and endpoint, HF_ENDPOINT included)."""
    if offline_by_setting():
        return False
    answered, done = threading.Event(), threading.Event()

    def probe() -> None:
        from huggingface_hub import constants
        from huggingface_hub.utils import get_session

        try:
            get_session().head(constants.ENDPOINT, timeout=PROBE_SECONDS)
            answered.set()
        except Exception:  # DNS, refused, proxy, TLS: all mean "not from here"
            pass
        finally:
            done.set()

    threading.Thread(target=probe, daemon=True).start()
    done.wait(PROBE_SECONDS)
    return answered.is_set()
