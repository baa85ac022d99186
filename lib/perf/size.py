"""Model size on disk: ONNX files with their external data, PyTorch weights, torch-int8 state dicts.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Sequence

from lib.engines.torch import load_torch_model, torch_int8

log = logging.getLogger("lib.perf.size")

MB = 2**20


def files_size_mb(files: Sequence[Path]) -> float:
    """Size of model files, each with its ONNX external-data file (``<name>.data``) when one is beside it,
    and an OpenVINO IR's ``.xml`` with its weights (``<name>.bin``). Missing files count 0: a format that
    was not built has no size, which the caller reports."""
    total = 0
    for f in map(Path, files):
        if f.is_file():
            total += f.stat().st_size
            beside = [f.with_suffix(f.suffix + ".data")] + ([f.with_suffix(".bin")] if f.suffix == ".xml" else [])
            total += sum(d.stat().st_size for d in beside if d.exists())
    return total / MB


def model_size_mb(fmt: str, model_dir: Path | None = None, onnx: Path | None = None) -> float:
    """On-disk size of what format ``fmt`` loads: its ONNX file (+ external data) or OpenVINO IR (``onnx``:
    the ``.xml``, weights counted) when it has one; for
    ``torch-int8`` the quantized state dict as ``torch.save`` writes it (the weights it would ship);
    else the PyTorch weight files of ``model_dir`` (safetensors, else .bin: a folder may hold both copies).
    The one size function of the gate and the benchmark."""
    if onnx is not None:
        return files_size_mb([Path(onnx)])
    if model_dir is None:
        raise ValueError(f"model_size_mb({fmt!r}): neither an ONNX file nor a model folder")
    folder = Path(model_dir)
    if fmt == "torch-int8":
        import torch

        buf = io.BytesIO()
        torch.save(torch_int8(load_torch_model(folder)).state_dict(), buf)
        return buf.getbuffer().nbytes / MB
    return files_size_mb(sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin")))
