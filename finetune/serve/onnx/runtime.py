"""An ONNX file run by ONNX Runtime behind the interface of the PyTorch model it was exported from.

evaluate and predict take `OnnxModel` wherever they take a transformers model: the same features,
batches, decoding (SQuAD windows and n-best, NER word alignment, the multiple-choice reshape) and
output files, so the official scores of both can be compared with `score`. Only the forward pass
differs: inputs go to ONNX Runtime as numpy arrays and its outputs come back as torch tensors.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
from transformers.utils import ModelOutput

from finetune.errors import InputError

INSTALL = "pip install 'finetune[onnx]'"  # the extra: onnx, onnxruntime, onnxscript (torch's exporter)
FOLDER = "onnx"  # inside an exported folder, as optimum and transformers.js lay it out
FP32_NAME = "model.onnx"
INT8_NAME = "model_quantized.onnx"


def require(*modules: str) -> None:
    """A user without the extra gets the install command, not an ImportError."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise InputError(f"ONNX needs {', '.join(missing)}, which is not installed. Run: {INSTALL}")


def is_onnx_file(path: str | Path) -> bool:
    return str(path).endswith(".onnx")


def model_folder(onnx_file: str | Path) -> Path:
    """The exported folder an ONNX file belongs to (EXPORT/onnx/model.onnx -> EXPORT): its tokenizer,
    config and finetune.yaml are the ONNX model's too."""
    path = Path(onnx_file)
    return path.parent.parent if path.parent.name == FOLDER else path.parent


def session(path: str | Path, threads: int | None = None):
    """An ONNX Runtime CPU session using as many threads as torch does, so that the two compare."""
    require("onnxruntime")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.log_severity_level = 3  # warnings about unused initialisers and the like are not the user's
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail / InvalidGraph / NoSuchFile types
        raise InputError(f"{path}: ONNX Runtime cannot load it ({str(exc).strip().splitlines()[0]}). "
                         f"Export it again: python -m finetune export RUN --onnx") from exc


class OnnxModel(torch.nn.Module):
    """forward(**inputs) -> ModelOutput of the names the graph was exported with (logits, or
    start_logits and end_logits). `config` is the transformers config of the exported folder."""

    def __init__(self, path: str | Path, config=None, threads: int | None = None):
        super().__init__()
        self.path = Path(path)
        self.config = config
        self.session = session(path, threads)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    @classmethod
    def from_pretrained(cls, path, trust_remote_code=False, **_):
        from finetune.models.mean_pooling import load_config

        if not Path(path).is_file():
            raise InputError(f"{path}: no such ONNX file. `python -m finetune export RUN --onnx` writes "
                             f"EXPORT/{FOLDER}/{FP32_NAME}.")
        config = load_config(model_folder(path), trust_remote_code=trust_remote_code)
        return cls(path, config)

    def forward(self, **inputs: torch.Tensor) -> ModelOutput:
        missing = [name for name in self.input_names if name not in inputs]
        if missing:
            raise InputError(f"{self.path}: the graph takes {', '.join(self.input_names)} but the batch has no "
                             f"{', '.join(missing)}. Was it exported for another task or tokenizer?")
        device = next(iter(inputs.values())).device
        feed = {name: inputs[name].cpu().numpy() for name in self.input_names}
        try:
            outputs = self.session.run(self.output_names, feed)
        except Exception as exc:  # a graph traced at fixed shapes, or broken after export
            shapes = ", ".join(f"{k} {list(v.shape)}" for k, v in feed.items())
            raise InputError(f"{self.path}: ONNX Runtime cannot run it on a batch of {shapes} "
                             f"({str(exc).strip().splitlines()[0]}). Export it again: python -m finetune export RUN "
                             f"--onnx") from exc
        return ModelOutput(**{name: torch.from_numpy(np.ascontiguousarray(value)).to(device)
                              for name, value in zip(self.output_names, outputs)})
