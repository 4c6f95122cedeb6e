"""Model FLOPs utilisation (MFU), as nanoGPT reports it: the FLOPs a model's matmuls need for the
tokens it processed, per second, over this machine's matmul peak measured in the same run.

Per real token of a sequence of T real tokens, a transformer's forward costs 2N + 4·L·h·T
multiply-adds x 2 (N: the parameters of its matmuls, i.e. all but the embedding tables, which are
looked up, not multiplied; L layers of width h; the second term is attention's QK^T and AV), and a
training step three times that (forward, and backward's two products). Pad tokens are not model
FLOPs: a batch padded to 128 tokens does 128 tokens of work for fewer real ones, which MFU counts
as lost.
"""

from __future__ import annotations

import time

import torch

PEAK_SIZE = 2048  # square matmul of the peak: large enough that the machine's kernels reach their best


def _best_seconds(call, repeats: int) -> float:
    """The fastest of `repeats` timed calls, after two untimed ones (kernel choice, first-touch memory)."""
    for _ in range(2):
        call()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_peak(dtype: torch.dtype, size: int = PEAK_SIZE, repeats: int = 10, device: str = "cpu") -> float:
    """FLOP/s of the best of `repeats` size x size matmuls in `dtype` on `device` (the one the bench runs on)."""
    a, b = (torch.randn(size, size, device=device).to(dtype) for _ in range(2))

    def product():
        torch.matmul(a, b)
        if a.is_cuda:
            torch.cuda.synchronize()  # a launch returns at once; the product is done only here

    return 2 * size**3 / _best_seconds(product, repeats)


def int8_peak(size: int = PEAK_SIZE, repeats: int = 10) -> float:
    """Integer multiply-add rate of ONNX Runtime's int8 matmul (MatMulInteger, what dynamic
    quantization runs), counted as 2·n^3 operations a product."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["c"])], "peak",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [size, size]),
         helper.make_tensor_value_info("b", TensorProto.INT8, [size, size])],
        [helper.make_tensor_value_info("c", TensorProto.INT32, [size, size])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feed = {"a": rng.integers(0, 255, (size, size), dtype=np.uint8), "b": rng.integers(-127, 127, (size, size), dtype=np.int8)}
    return 2 * size**3 / _best_seconds(lambda: session.run(None, feed), repeats)


def shape(model: torch.nn.Module) -> dict:
    """N (matmul parameters), L and h of a transformers model (or a wrapper with .config)."""
    embeddings = sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters())
    total = sum(p.numel() for p in model.parameters())
    config = model.config
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer")
    hidden = getattr(config, "hidden_size", None) or getattr(config, "n_embd")
    return {"matmul_params": total - embeddings, "layers": layers, "hidden": hidden}


def forward_flops(lengths, dims: dict) -> float:
    """FLOPs of one forward over sequences of these real lengths."""
    n, layers, hidden = dims["matmul_params"], dims["layers"], dims["hidden"]
    return float(sum(2 * n * t + 4 * layers * hidden * t * t for t in lengths))


def training_flops_per_token(mean_length: float, dims: dict) -> float:
    """A training step's FLOPs per real token at the data's mean length (forward x 3)."""
    return 3 * (2 * dims["matmul_params"] + 4 * dims["layers"] * dims["hidden"] * mean_length)
