"""Dynamic int8 quantization of an ONNX export with ONNX Runtime's quantizer.

Weights of MatMul / Gemm (and attention) become int8 once; activations are quantized on the fly.
The instruction set decides one setting: without VNNI (AVX-512 VNNI or AVX-VNNI), x86's u8 x s8
multiply-add (vpmaddubsw) saturates on 8-bit values, and onnxruntime's documentation prescribes
7-bit weights (reduce_range) there; with VNNI the full 8 bits are exact.
"""

from __future__ import annotations

import platform
import tempfile
from pathlib import Path

from finetune.serve.onnx.runtime import require

VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}


def settings(flags: set[str] | None = None) -> dict:
    """What the quantizer is told on this machine, and why (recorded in export.json)."""
    flags = cpu_flags() if flags is None else flags
    vnni = sorted(set(VNNI_FLAGS) & flags)
    x86 = platform.machine().lower() in ("x86_64", "amd64", "i686")
    reduce_range = x86 and not vnni
    return {"weight_type": "int8", "per_channel": True, "reduce_range": reduce_range,
            "cpu": ", ".join(vnni) if vnni else ("x86 without VNNI" if x86 else platform.machine())}


def quantize(fp32: Path, out: Path, chosen: dict) -> None:
    require("onnxruntime")
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # Shape inference and graph clean-up first, as onnxruntime recommends before quantizing.
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        quantize_dynamic(prepared, out, weight_type=QuantType.QInt8, per_channel=chosen["per_channel"],
                         reduce_range=chosen["reduce_range"])
