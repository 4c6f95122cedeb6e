"""A trained model as an ONNX graph, through torch's own exporter (torch.onnx.export, dynamo).

optimum-onnx would be the first choice, but its releases pin transformers below 5, which this
toolkit runs on; torch's exporter traces the very model the toolkit trains, whatever the task head.
Every axis of every input is dynamic (batch, length, and the choices of multiple choice), and
the graph's outputs carry the adapter's names (logits; start_logits, end_logits).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import torch

from finetune.errors import InputError
from finetune.serve.onnx.runtime import require

OPSET = 18
INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # what the encoders' and decoders' heads take


class _Outputs(torch.nn.Module):
    """The model with only the outputs decode reads, as a tuple in the adapter's order: no loss, no
    hidden states, nothing the graph would carry for nobody."""

    def __init__(self, model: torch.nn.Module, names: tuple[str, ...]):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        inputs = {"attention_mask": attention_mask, "token_type_ids": token_type_ids}
        out = self.model(input_ids=input_ids, **{k: v for k, v in inputs.items() if v is not None})
        return tuple(out[name] for name in self.names)


def example_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """At least two rows and two positions: torch.export specialises an axis traced at size 1."""
    rows = next(iter(batch.values())).shape[0]
    if rows < 2:
        batch = {k: torch.cat([v, v]) for k, v in batch.items()}
    return batch


def export_graph(model: torch.nn.Module, batch: dict[str, torch.Tensor], output_names: tuple[str, ...],
                 path: Path) -> None:
    """Write `path` (and nothing else: weights inside the file) from one real batch of model inputs."""
    require("onnx", "onnxscript")
    batch = example_batch(batch)
    unknown = sorted(set(batch) - set(INPUTS))
    if unknown:
        raise InputError(f"ONNX export takes {', '.join(INPUTS)} as inputs; this model also needs {', '.join(unknown)}.")
    if any(v.shape[-1] < 2 for v in batch.values()):
        raise InputError("ONNX export: the example batch has one position; give data with longer texts.")
    dynamic = {name: {axis: torch.export.Dim.DYNAMIC for axis in range(value.dim())} for name, value in batch.items()}
    wrapped = _Outputs(model.eval(), output_names)
    log = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(log), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's own progress and deprecation chatter
        program = torch.onnx.export(wrapped, (), kwargs=batch, input_names=list(batch), output_names=list(output_names),
                                    dynamic_shapes=dynamic, opset_version=OPSET, dynamo=True,
                                    external_data=False, verbose=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    program.save(str(path), external_data=False)
