"""Static INT8 (W8A8) of a graph's linear MatMuls: the one static recipe, SmoothQuant an option of it.

Every static build in the compendium goes through :func:`static_int8` (u8 activations with calibrated
MinMax ranges, s8 per-channel weights, ``MatMulConstBOnly``): the ``onnx-int8-smoothquant`` format and
its ablations, the fallback search's candidates and probes (:mod:`lib.compress.fallback`), the alpha
sweep (:mod:`lib.compress.alpha_sweep`), the quantization debugger's QDQ models (notebook 07) and the
rerankers. SmoothQuant's scale migration is INC 3.7.1's ``ORTSmoothQuant`` (the class ONNX Runtime's
``SmoothQuant`` hook calls), applied once per alpha and calibration set by :func:`smoothed_fp32`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Sequence

from lib import atomic
from lib.compress.calibration import FeedReader, feeds_key
from lib.compress.export import cached_onnx
from lib.compress.graph import linear_matmuls

log = logging.getLogger("lib.compress.static")


QUANT_FORMATS = ("QOperator", "QDQ")


def smoothed_fp32(src: Path, feeds: list[dict], alpha: float, out_dir: Path, folding: bool = True) -> Path:
    """FP32 graph after SmoothQuant's scale migration, saved once per source, alpha, feeds and folding.

    ``folding=True`` folds the scales into the preceding LayerNorm / weights (what quantization uses);
    ``folding=False`` keeps each 1/s as a ``<node>_smooth_scale`` initializer feeding a ``Mul`` in front
    of its MatMul, so the smoothed activations can be read from the graph (notebook 07's Figure 4)."""
    import onnx
    from neural_compressor.adaptor.ox_utils.smooth_quant import ORTSmoothQuant

    def build(tmp: Path) -> None:
        sq = ORTSmoothQuant(onnx.load(str(src)), ((f, None) for f in feeds), False)
        sq.transform(alpha, folding).save(str(tmp))
    name = "smoothed" if folding else "smoothed-unfolded"
    return cached_onnx(Path(out_dir) / f"{name}-a{alpha:.2f}-{feeds_key(feeds)}.onnx", build)


def static_int8(src: Path, out: Path, feeds: list[dict], quant_format: str = "QDQ",
                exclude: Sequence[str] = (), only: Sequence[str] | None = None,
                smoothquant_alpha: float | None = None) -> Path:
    """``quantize_static`` of the linear MatMuls of ``src`` into ``out`` (written atomically, always).

    ``exclude`` stay FP32; ``only`` restricts quantization to those nodes (sensitivity probes). With
    ``smoothquant_alpha`` the ONNX Runtime SmoothQuant hook does the smoothing itself (a test checks it
    equals :func:`smoothed_fp32` then this). Calibration ranges are cached beside ``src`` per feeds key
    and reused (ORT's calibrator keeps every MatMul tensor of every batch in memory: recomputing them is
    the slow part of a build).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if quant_format not in QUANT_FORMATS:
        raise ValueError(f"quant_format must be one of {QUANT_FORMATS}, got {quant_format!r}")
    linear = linear_matmuls(src)
    nodes = [n for n in (only if only is not None else linear) if n not in set(exclude)]
    extra = {"MatMulConstBOnly": True}
    cache = None
    if smoothquant_alpha is not None:
        extra.update(SmoothQuant=True, SmoothQuantAlpha=float(smoothquant_alpha))
    else:
        cache = Path(src).with_name(f"{Path(src).stem}.calib-{feeds_key(feeds)}.json")
        # ORT writes its calibration cache in place and trusts whatever it finds there: a file torn by
        # an interrupted run is logged and removed, so the ranges are recomputed
        atomic.load_or_remove(cache, lambda p: json.loads(p.read_text(encoding="utf-8")), "calibration cache")
    with atomic.atomic_path(out) as tmp:
        quantize_static(str(src), str(tmp), FeedReader(feeds),
                        calibration_cache_path=str(cache) if cache else None,
                        quant_format=getattr(QuantFormat, quant_format), op_types_to_quantize=["MatMul"],
                        nodes_to_quantize=nodes or ["__none__"], per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, extra_options=extra)
    return out


def cached_static_int8(src: Path, out: Path, feeds: list[dict], quant_format: str = "QDQ",
                       exclude: Sequence[str] = ()) -> Path:
    """:func:`static_int8` built once into ``out`` (a loadable file there is reused)."""
    return cached_onnx(out, lambda tmp: static_int8(src, tmp, feeds, quant_format, exclude=exclude))


def keep_tag(keep_fp32: Sequence[str]) -> str:
    """Short digest of a set of FP32-kept node names (part of artifact file names)."""
    return hashlib.sha1(",".join(sorted(keep_fp32)).encode()).hexdigest()[:8]
