"""The ``onnx-int8-smoothquant`` format: SmoothQuant W8A8 static INT8 of a params model with the searched
FP32 fallback, and its no-SmoothQuant ablation. Recipe: :mod:`lib.compress.static`; which MatMuls stay
FP32: :mod:`lib.compress.fallback`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from lib import atomic
from lib.compress.calibration import prepare_calibration
from lib.compress.export import artifact_dir, cached_onnx
from lib.compress.fallback import fallback_for, search_dir
from lib.compress.static import cached_static_int8, keep_tag, smoothed_fp32, static_int8
from lib.params import Params

log = logging.getLogger("lib.compress.smoothquant")


def smoothquant_int8_to(P: Params, alpha: float | None = None, quant_format: str | None = None,
                        keep_fp32: Sequence[str] | None = None) -> Path:
    """SmoothQuant W8A8 static INT8 of a params model (``onnx-int8-smoothquant`` and its variants).

    ``alpha`` / ``quant_format`` default to params; ``keep_fp32=None`` runs (or reuses) the
    sensitivity search for this alpha and format (:func:`lib.compress.fallback.fallback_for`).
    """
    alpha = P.smoothquant_alpha if alpha is None else alpha
    quant_format = quant_format or P.quant_format
    cal = prepare_calibration(P)
    if keep_fp32 is None:
        keep_fp32 = fallback_for(P, cal, alpha, quant_format)[0].keep_fp32
    name = f"model-a{alpha:.2f}-{quant_format}-{cal.key}-{keep_tag(keep_fp32)}.onnx"
    out = artifact_dir(P, "onnx-int8-smoothquant") / name

    def build(tmp: Path) -> None:
        # = the ORT hook (``smoothquant_alpha=alpha`` on ``cal.unfused``), but reusing the smoothed graph
        # and calibration ranges of the search instead of recalibrating (minutes on BERT-base).
        static_int8(smoothed_fp32(cal.unfused, cal.feeds, alpha, search_dir(P)), tmp, cal.feeds, quant_format,
                    exclude=keep_fp32)
        atomic.write_json(out.with_suffix(".json"),
                          {"alpha": alpha, "quant_format": quant_format, "keep_fp32": list(keep_fp32),
                           "calibration": cal.source, "calibration_sentences": cal.n_sentences,
                           "calibration_seq_len": cal.seq_len}, indent=1)
    return cached_onnx(out, build)


def plain_static_int8_to(P: Params, quant_format: str = "QDQ", keep_fp32: Sequence[str] = ()) -> Path:
    """Static INT8 without SmoothQuant (same calibration and fallback): the ablation baseline."""
    cal = prepare_calibration(P)
    out = artifact_dir(P, "onnx-int8-smoothquant") / f"model-nosq-{quant_format}-{cal.key}-{keep_tag(keep_fp32)}.onnx"
    return cached_static_int8(cal.unfused, out, cal.feeds, quant_format, exclude=keep_fp32)


def smoothquant_int8(P: Params) -> Path:
    """The ``onnx-int8-smoothquant`` format: alpha and quant format from params, searched FP32 fallback."""
    return smoothquant_int8_to(P)


def searched_keep_fp32(P: Params) -> list[str]:
    """The MatMuls the fallback search keeps FP32 for params' alpha and quant format (cached search)."""
    return list(fallback_for(P, prepare_calibration(P), P.smoothquant_alpha, P.quant_format)[0].keep_fp32)
