"""ONNX export, the ORT-vs-torch parity gate, and quantization."""
