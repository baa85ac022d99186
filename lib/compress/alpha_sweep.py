"""SmoothQuant's alpha swept on held-out sentences, with a fixed FP32-fallback set (notebook 03).
"""

from __future__ import annotations

import logging
import os
from typing import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from lib.compress.calibration import prepare_calibration
from lib.compress.fallback import search_dir
from lib.compress.static import smoothed_fp32, static_int8
from lib.engines.ort import embed_onnx
from lib.params import Params

log = logging.getLogger("lib.compress.alpha_sweep")


def alpha_sweep(P: Params, alphas: Sequence[float] | None = None, quant_format: str = "QDQ",
                keep_fp32: Sequence[str] = ()) -> pd.DataFrame:
    """Held-out mean / min cosine to FP32 per alpha with a fixed FP32-fallback set (``None`` = no
    SmoothQuant, plain static INT8), so alphas are compared on the same layers."""

    cal = prepare_calibration(P)
    work = search_dir(P)
    work.mkdir(parents=True, exist_ok=True)
    ref = embed_onnx(cal.unfused, P, cal.held_out)
    rows = []
    for a in tqdm([None, *(alphas if alphas is not None else P.alpha_sweep)], desc="alpha sweep"):
        src = smoothed_fp32(cal.unfused, cal.feeds, a, work) if a is not None else cal.unfused
        cand = static_int8(src, work / f"sweep-{os.getpid()}.onnx", cal.feeds, quant_format, exclude=keep_fp32)
        vec = embed_onnx(cand, P, cal.held_out)
        cos = np.sum(ref * vec, axis=1)
        rows.append({"alpha": a, "smoothquant": a is not None, "quant_format": quant_format,
                     "n_fp32": len(keep_fp32), "mean_cosine": float(cos.mean()),
                     "min_cosine": float(cos.min())})
    (work / f"sweep-{os.getpid()}.onnx").unlink(missing_ok=True)
    return pd.DataFrame(rows)


def sweep_with_and_without_fallback(P: Params, keep_fp32: Sequence[str], quant_format: str | None = None
                                    ) -> pd.DataFrame:
    """Notebook 03's sweep: every alpha with no MatMul kept FP32, then with the searched fallback set."""
    qf = quant_format or P.quant_format
    return pd.concat([alpha_sweep(P, quant_format=qf, keep_fp32=()),
                      alpha_sweep(P, quant_format=qf, keep_fp32=keep_fp32)], ignore_index=True)
