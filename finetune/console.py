"""What the toolkit's processes print: the libraries' own progress bars and load reports are
turned off, as the toolkit prints what a user needs."""

from __future__ import annotations

import logging
import os
import warnings


def quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets
    import transformers

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module="pyarrow")
    # accelerate warns "Removed shared tensor {'lm_head.weight'} while saving" at every checkpoint of
    # a decoder whose output layer is its input embedding (GPT-2, SmolLM2): tied on purpose, and
    # tied again on load (the resume tests compare weights). The line broke the progress bar.
    logging.getLogger("accelerate.utils.other").setLevel(logging.ERROR)
