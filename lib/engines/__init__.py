"""Engines: resolve a model, tokenise, run it (PyTorch or ONNX Runtime), cache its vectors."""
