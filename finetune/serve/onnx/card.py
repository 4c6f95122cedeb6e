"""The model card's ONNX section: what the parity check measured, and code that runs the graph."""

from __future__ import annotations

USAGE = """import onnxruntime as ort
from transformers import AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained("{name}")
session = ort.InferenceSession("{name}/{file}")  # from the Hub: huggingface_hub.hf_hub_download("{name}", "{file}")
names = {{i.name for i in session.get_inputs()}}
inputs = tokenizer({example}, return_tensors="np")
outputs = session.run(None, {{k: v for k, v in inputs.items() if k in names}})  # {outputs}"""


def _speed(record: dict) -> str:
    return f"{record['features_per_s']:.1f}"


def onnx_card_section(record: dict, name: str) -> str:
    primary = record["primary_metric"]
    parity = record["parity"]
    rows = [f"| PyTorch (fp32) | | {record['pytorch']['metrics'][primary]:.4f} | {_speed(record['pytorch'])} |",
            f"| `{record['onnx']['file']}` | {max(parity['max_abs_diff'].values()):.2g} | "
            f"{record['onnx']['metrics'][primary]:.4f} | {_speed(record['onnx'])} |"]
    if "int8" in record:
        q = record["int8"]
        rows.append(f"| `{q['file']}` (dynamic int8) | | {q['metrics'][primary]:.4f} | {_speed(q)} |")
    return f"""
## ONNX

`{record['onnx']['file']}`: exported with {record['exporter']}; every input axis is dynamic. Checked at export on
{parity['examples']} examples ({parity['features']} features) of `{parity['data']}`: the largest difference of any
output from PyTorch must be at most {parity['tolerance']:g}, and the metrics must be the same.

| model | max abs difference | {primary} | features / s (this machine, forward only) |
|---|---|---|---|
{chr(10).join(rows)}

```python
{USAGE.format(name=name, file=record['onnx']['file'], example='["a text"]', outputs=', '.join(record['outputs']))}
```

or `python -m finetune predict {name}/{record['onnx']['file']} ...`: the toolkit's own windows and decoding.
"""
