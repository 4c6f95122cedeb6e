"""The `pooling` option of the tasks whose head reads one vector a text (classification, regression,
multiple choice): settled when the backbone is known, printed, recorded, passed to the model class.

pooling=auto resolves to mean for a sentence-transformers backbone trained to mean-pool (the default
MiniLM), to model (the architecture's own head) otherwise (finetune.models.pooling).
"""

from __future__ import annotations

from finetune.models import pooling


class PooledHead:
    """Mixed into an adapter whose options have `pooling`."""

    pooling = "model"  # what a new head pools, until backbone_note resolves pooling=auto

    def backbone_note(self, path: str) -> str:
        self.pooling, why = pooling.resolve(self.options.pooling, path, self.config.peft_method)
        return pooling.describe(self.pooling, why)

    def objective_record(self) -> dict:
        return {**super().objective_record(), "pooling": self.pooling}

    def model_kwargs(self) -> dict:
        return {**super().model_kwargs(), **({"pooling": self.pooling} if self.pooling == "mean" else {})}
