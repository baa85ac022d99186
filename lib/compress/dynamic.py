"""ONNX Runtime dynamic INT8 (MatMulInteger): weights s8, activations u8 with ranges computed per call.

One recipe (:func:`dynamic_int8_file`) for every graph: the encoders' ``onnx-int8-dynamic`` format and
its per-tensor variant, and the rerankers.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Sequence

from lib.compress.export import artifact_dir, cached_onnx, fused_onnx
from lib.params import Params

log = logging.getLogger("lib.compress.dynamic")


def dynamic_int8_file(src: Path, out: Path, per_channel: bool = True, nodes_to_exclude: Sequence[str] = ()) -> Path:
    """Dynamic INT8 of the ONNX graph ``src``, built once into ``out``; ``nodes_to_exclude`` stay FP32.

    The fused graph only quantizes after ``quant_pre_process`` with ORT's optimizer skipped (stack
    notes: else "Unable to find data type for weight_name"); its output is cached beside ``out``."""
    from onnxruntime.quantization import QuantType, quant_pre_process, quantize_dynamic

    def build(tmp: Path) -> None:
        pre = cached_onnx(out.with_name(f"{src.stem}-preprocessed.onnx"),
                          lambda t: quant_pre_process(str(src), str(t), skip_optimization=True))
        quantize_dynamic(str(pre), str(tmp), per_channel=per_channel, weight_type=QuantType.QInt8,
                         nodes_to_exclude=list(nodes_to_exclude))
        log.info("dynamic INT8 of %s: %s", src, out)
    return cached_onnx(out, build)


def dynamic_int8_to(P: Params, per_channel: bool = True, nodes_to_exclude: Sequence[str] = ()) -> Path:
    """Dynamic INT8 of a params model's fused FP32 graph (``onnx-fp32``)."""
    tag = "per-channel" if per_channel else "per-tensor"
    if nodes_to_exclude:
        tag += "-x" + hashlib.sha1(",".join(sorted(nodes_to_exclude)).encode()).hexdigest()[:8]
    out = artifact_dir(P, "onnx-int8-dynamic") / f"model-{tag}.onnx"
    return dynamic_int8_file(fused_onnx(P), out, per_channel, nodes_to_exclude)


def dynamic_int8(P: Params) -> Path:
    """The ``onnx-int8-dynamic`` format: per-channel weights (per-tensor loses ~4 cosine points)."""
    return dynamic_int8_to(P, per_channel=True)
