"""ONNX Runtime dynamic INT8 (MatMulInteger): weights s8 per channel, activations u8 per batch.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Sequence

from lib.compress.export import artifact_dir, cached_onnx, fused_onnx
from lib.params import Params

log = logging.getLogger("lib.compress.dynamic")


def dynamic_int8_to(P: Params, per_channel: bool = True, nodes_to_exclude: Sequence[str] = ()) -> Path:
    """Dynamic INT8 of the fused FP32 graph (weights s8, activations u8 per batch)."""
    from onnxruntime.quantization import QuantType, quant_pre_process, quantize_dynamic


    src = fused_onnx(P)
    out_dir = artifact_dir(P, "onnx-int8-dynamic")
    tag = "per-channel" if per_channel else "per-tensor"
    if nodes_to_exclude:
        tag += "-x" + hashlib.sha1(",".join(sorted(nodes_to_exclude)).encode()).hexdigest()[:8]
    out = out_dir / f"model-{tag}.onnx"

    def build(tmp: Path) -> None:
        # The fused graph only quantizes after shape inference with ORT's optimizer skipped (stack notes).
        pre = cached_onnx(out_dir / "model-preprocessed.onnx",
                          lambda t: quant_pre_process(str(src), str(t), skip_optimization=True))
        quantize_dynamic(str(pre), str(tmp), per_channel=per_channel, weight_type=QuantType.QInt8,
                         nodes_to_exclude=list(nodes_to_exclude))
        log.info("dynamic INT8 (%s): %s", tag, out)
    return cached_onnx(out, build)


def dynamic_int8(P: Params) -> Path:
    """The ``onnx-int8-dynamic`` format: per-channel weights (per-tensor loses ~4 cosine points)."""
    return dynamic_int8_to(P, per_channel=True)


def dynamic_int8_file(src: Path, out: Path, per_channel: bool = True, nodes_to_exclude: Sequence[str] = ()) -> Path:
    """Dynamic INT8 of any ONNX graph file, built once into ``out`` (the same recipe as
    :func:`dynamic_int8_to`, for graphs that are not a params model's sentence encoder: the rerankers
    of ``lib.rerank``). ``nodes_to_exclude`` stay FP32."""
    from onnxruntime.quantization import QuantType, quant_pre_process, quantize_dynamic

    def build(tmp: Path) -> None:
        pre = cached_onnx(out.with_name(f"{src.stem}-preprocessed.onnx"),
                          lambda t: quant_pre_process(str(src), str(t), skip_optimization=True))
        quantize_dynamic(str(pre), str(tmp), per_channel=per_channel, weight_type=QuantType.QInt8,
                         nodes_to_exclude=list(nodes_to_exclude))
        log.info("dynamic INT8 of %s: %s", src, out)
    return cached_onnx(out, build)
