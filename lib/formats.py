"""Format registry: each format's artifact builder and engine, imported explicitly (no strings).

A format is a name in params (``formats:``): ``fp32-torch`` and ``torch-int8`` run on the PyTorch
engine; the ONNX formats run on the ONNX Runtime engine and the OpenVINO formats (``ov-fp32``, ``ov-int8``)
on the OpenVINO engine, each over an artifact that its builder makes on first use (so any notebook can
run alone). This is the only module that knows both the builders
(:mod:`lib.compress`) and the engines (:mod:`lib.engines`), which is why it sits above both.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from lib import atomic
from lib.compress.dynamic import dynamic_int8
from lib.compress.export import fused_onnx
from lib.compress.olive.search import olive_best, olive_session_options
from lib.compress.openvino import ov_fp32, ov_int8
from lib.compress.smoothquant import smoothquant_int8
from lib.engines.encoder import Encoder
from lib.engines.hub import resolve_model_dir
from lib.engines.openvino import compile_ir, ov_encoder
from lib.engines.ort import onnx_encoder, ort_session
from lib.engines.torch import load_torch_encoder
from lib.params import GATE_CHOSEN, Params

log = logging.getLogger("lib.formats")

TORCH_FORMATS = ("fp32-torch", "torch-int8")
# Each ONNX format's builder: params -> path of its .onnx artifact (built on first use, content-keyed).
ONNX_BUILDERS: dict[str, Callable[[Params], Path]] = {
    "onnx-fp32": fused_onnx,
    "onnx-int8-dynamic": dynamic_int8,
    "onnx-int8-smoothquant": smoothquant_int8,
    "olive-best": olive_best,
}
# Each OpenVINO format's builder: params -> path of its IR's model.xml (built on first use, content-keyed).
OV_BUILDERS: dict[str, Callable[[Params], Path]] = {
    "ov-fp32": ov_fp32,
    "ov-int8": ov_int8,
}
# ONNX Runtime SessionOptions a format was tuned with (applied over lib.engines.ort's defaults).
SESSION_OPTIONS: dict[str, Callable[[Params], dict]] = {
    "olive-best": olive_session_options,
}


def onnx_artifact(P: Params, fmt: str) -> Path:
    """Path of a format's ONNX model, built on first use (so any notebook can run alone)."""
    return ONNX_BUILDERS[fmt](P)


def artifact(P: Params, fmt: str) -> Path:
    """Path of an ONNX or OpenVINO format's model file (``.onnx``, or the IR's ``model.xml``), built on first use."""
    if fmt in OV_BUILDERS:
        return OV_BUILDERS[fmt](P)
    return onnx_artifact(P, fmt)


def load_encoder(P: Params, fmt: str = "fp32-torch") -> Encoder:
    """An encoder for params ``P`` in format ``fmt``: the PyTorch engine for ``TORCH_FORMATS``, the one
    ONNX Runtime engine (:class:`lib.engines.ort.OrtEncoder`) for every ONNX format, with the session
    options the format was tuned with (``olive-best``), the OpenVINO engine
    (:class:`lib.engines.openvino.OvEncoder`) for ``OV_BUILDERS``. Every format shares tokens and pooling.

    The encoder's ``fingerprint`` is content-keyed: the model folder's bytes, the format, the engine
    library versions, the engine's batching and (for ONNX formats) the artifact file's bytes, so cached
    vectors can never be handed to another model, another build or another runtime.
    """
    if fmt in TORCH_FORMATS:
        return load_torch_encoder(P, int8=fmt == "torch-int8")
    if fmt in ONNX_BUILDERS:
        extra = SESSION_OPTIONS[fmt](P) if fmt in SESSION_OPTIONS else None
        path, session = _onnx_session_healing(P, fmt, extra)
        return onnx_encoder(P, fmt, path, model_dir=resolve_model_dir(P), session=session)
    if fmt in OV_BUILDERS:
        path, compiled = _ov_compiled_healing(P, fmt)
        return ov_encoder(P, fmt, path, model_dir=resolve_model_dir(P), compiled=compiled)
    if fmt == GATE_CHOSEN:
        raise ValueError(f"{GATE_CHOSEN!r} is not a model format: it stands for the INT8 format 03's gate chose "
                         "(lib.report.formats_to_run resolves it from results/<name>/03-quantize.json)")
    raise ValueError(f"unknown format {fmt!r}; known: "
                     f"{', '.join(TORCH_FORMATS + tuple(ONNX_BUILDERS) + tuple(OV_BUILDERS))}")


def _ov_compiled_healing(P: Params, fmt: str):
    """Build (or reuse) an OpenVINO format's IR and compile it; an IR that fails to compile is logged with
    its path, its folder removed and rebuilt once (as :func:`_onnx_session_healing`)."""
    path = OV_BUILDERS[fmt](P)
    try:
        return path, compile_ir(path, P.threads)
    except Exception as err:  # OpenVINO raises RuntimeError subclasses of its own for a bad IR
        log.warning("artifact %s failed to compile (%s: %s): removing it and rebuilding", path,
                    type(err).__name__, err)
        atomic.remove(path.parent)
        path = OV_BUILDERS[fmt](P)
        return path, compile_ir(path, P.threads)


def _onnx_session_healing(P: Params, fmt: str, extra_options: dict | None = None):
    """Build (or reuse) a format's artifact and open it; an artifact that fails to load is logged
    with its path, removed and rebuilt once (a truncated file must never be trusted or kept)."""
    path = onnx_artifact(P, fmt)
    try:
        return path, ort_session(path, P, extra_options)
    except Exception as err:  # onnxruntime raises its own exception types for a bad model file
        log.warning("artifact %s failed to load (%s: %s): removing it and rebuilding", path,
                    type(err).__name__, err)
        atomic.remove(path)
        path = onnx_artifact(P, fmt)
        return path, ort_session(path, P, extra_options)
