"""finetune: fine-tune, evaluate and export transformers models for the classic NLP tasks.

From Python: `from finetune import train, evaluate, predict, export` (finetune/api.py). They are
imported on first use, so that `python -m finetune --help` does not load torch for them.
"""

from finetune.errors import InputError, RunStopped

__all__ = ["train", "evaluate", "predict", "export", "Run", "InputError", "RunStopped"]
_API = ("train", "evaluate", "predict", "export", "Run")


def __getattr__(name: str):
    if name in _API:
        from finetune import api

        return getattr(api, name)
    raise AttributeError(f"module 'finetune' has no attribute {name!r}")
