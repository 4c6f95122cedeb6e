"""A module around one transformers model that saves as that model alone.

The toolkit's own heads (multiple choice on decoders, zero-shot scoring, the NER CRF) hold a
transformers model and add to it; their saved folder is the inner model, so plain transformers
loads it. Parameters of their own (the CRF's) are saved beside it by the subclass.
"""

from __future__ import annotations

import torch


class Wrapper(torch.nn.Module):
    """Holds the inner model under the attribute `inner_name`."""

    inner_name: str

    def __init__(self, inner):
        super().__init__()
        setattr(self, self.inner_name, inner)

    @property
    def wrapped(self):
        return getattr(self, self.inner_name)

    @property
    def config(self):
        return self.wrapped.config

    def save_pretrained(self, folder, state_dict=None, **kwargs):
        # The inner model's entries only: plain transformers loads the folder.
        if state_dict is not None:
            prefix = f"{self.inner_name}."
            state_dict = {k.removeprefix(prefix): v for k, v in state_dict.items() if k.startswith(prefix)}
        self.wrapped.save_pretrained(folder, state_dict=state_dict, **kwargs)
