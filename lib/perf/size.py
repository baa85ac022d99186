"""Model size on disk (ONNX files with their external data; PyTorch state dicts).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

log = logging.getLogger("lib.perf.size")


def model_size_mb(encoder) -> float:
    """On-disk size of what a format loads: the ONNX file (+ external data), the PyTorch weight
    files, or for torch-int8 the quantized state dict as ``torch.save`` writes it."""

    info = getattr(encoder, "info", {})
    if "onnx" in info:
        return file_size_mb(Path(info["onnx"]))
    folder = Path(info["model_dir"])
    if getattr(encoder, "fmt", "") == "torch-int8":
        import torch

        from lib.engines.torch import load_torch_model, torch_int8
        buf = io.BytesIO()
        torch.save(torch_int8(load_torch_model(folder)).state_dict(), buf)
        return buf.getbuffer().nbytes / 2**20
    weights = [p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin")]
    return sum(p.stat().st_size for p in weights) / 2**20



def file_size_mb(path: Path) -> float:
    """Size of an ONNX model including any external-data file beside it."""
    total = path.stat().st_size
    data = path.with_suffix(path.suffix + ".data")
    if data.exists():
        total += data.stat().st_size
    return total / 2**20
