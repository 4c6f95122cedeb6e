"""ONNX export (export --onnx): the graph, the runtime that evaluate and predict use, the parity check, int8."""
