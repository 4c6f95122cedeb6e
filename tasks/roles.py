"""Optional roles of an adapter, for what only some tasks need. An adapter takes a role by
inheriting it; the engine asks `isinstance(adapter, Role)` before using one, and the registry's
contract test checks that an adapter with predict flags takes CommandLineInput."""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset

from finetune.errors import InputError


class PredictionFiles:
    """Predictions in the task's official file format, and scoring such a file without a model."""

    def write_predictions(self, folder: Path, name: str, examples: Dataset, predictions: list) -> list[Path]:
        """Write `folder/name.*` (and companion files, e.g. SQuAD's nbest); returns the files written."""
        raise NotImplementedError

    def score_files(self, predictions: Path, references: Path | None, null_odds: Path | None = None) -> str:
        """`python -m finetune score`: the official metrics of a predictions file, as text."""
        raise NotImplementedError

    def needs_references(self, references: Path | None) -> Path:
        if references is None:
            raise InputError(f"{self.config.task}: give the gold file with --references.")
        return references


class CommandLineInput:
    """Examples typed on the command line (`predict --text ...`; the flags are the registry's)."""

    def examples_from_flags(self, flags: dict[str, list[str]]) -> Dataset | None:
        raise NotImplementedError

    def show(self, examples: Dataset, predictions: list) -> list[str]:
        """One readable line per prediction."""
        return [str(p) for p in predictions]


class ModelCard:
    """How an exported folder is served: the transformers pipeline, the model card's code, and the
    options the dev set chose that travel with the model."""

    pipeline_task: str | None = None  # the transformers pipeline an export serves
    hub_tag: str | None = None  # the model card's pipeline_tag (default: pipeline_task)
    pipeline_kwargs: dict = {}  # arguments the pipeline needs to give the toolkit's predictions

    def card_usage(self, folder: Path, name: str) -> str | None:
        """Python for the card that uses the folder (published as `name`) with plain transformers,
        for tasks no pipeline serves; None: the pipeline call."""
        return None

    def export_options(self, metrics: dict[str, float]) -> dict:
        """Task options an export carries, chosen from the dev metrics (SQuAD v2's null threshold)."""
        return {}
