"""Olive: the search over ONNX Runtime optimizations and its version-guarded shims."""
