"""Which MatMuls stay FP32 in a static INT8 model: per-layer sensitivity, then the smallest fallback set.

Sensitivity (``P.sensitivity_method``): ``probe`` quantizes each linear MatMul alone and measures the
held-out mean cosine to FP32; ``qdq-debug`` ranks every MatMul by its own quantization noise in one
all-INT8 QDQ model (ONNX Runtime's quantization debugger). The search keeps the k most sensitive MatMuls
FP32, with the smallest k that reaches the target cosine, by exponential then binary search over k.
Every candidate is built by the one static recipe, :func:`lib.compress.static.static_int8`.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from lib import atomic
from lib.compress import qdq_debug
from lib.compress.calibration import Calibration
from lib.compress.export import artifact_dir
from lib.compress.graph import describe_matmul, linear_matmuls
from lib.compress.static import smoothed_fp32, static_int8
from lib.engines.ort import embed_onnx
from lib.evaluate.retrieval import mean_cosine
from lib.params import Params

log = logging.getLogger("lib.compress.fallback")


# Margin above the gate's cosine threshold that the fallback search aims for on its own held-out
# sentences, so that the gate (other texts) still holds.
SEARCH_COSINE_MARGIN = 0.004


def layer_sensitivity(P: Params, cal: Calibration, alpha: float | None,
                      quant_format: str = "QDQ") -> pd.DataFrame:
    """Mean cosine to FP32 on held-out sentences when *only one* linear MatMul is INT8.

    One-at-a-time probes isolate each layer's own error; the smoothed graph and the calibration
    cache are shared, so a probe costs one quantizer pass and one encode.
    """

    work = search_dir(P)
    work.mkdir(parents=True, exist_ok=True)
    src = smoothed_fp32(cal.unfused, cal.feeds, alpha, work) if alpha is not None else cal.unfused
    ref = embed_onnx(cal.unfused, P, cal.held_out)
    rows = []
    for i, node in enumerate(tqdm(linear_matmuls(src), desc="sensitivity", mininterval=5.0)):
        probe = static_int8(src, work / f"probe-{os.getpid()}.onnx", cal.feeds, quant_format, only=[node])
        cos = mean_cosine(ref, embed_onnx(probe, P, cal.held_out))
        rows.append({"node": node, **describe_matmul(node), "order": i, "cosine_only_this_int8": cos,
                     "loss": 1.0 - cos})
    (work / f"probe-{os.getpid()}.onnx").unlink(missing_ok=True)
    return pd.DataFrame(rows).sort_values("loss", ascending=False, kind="stable").reset_index(drop=True)


def layer_sensitivity_debug(P: Params, cal: Calibration, alpha: float | None,
                            n_sentences: int = 32) -> pd.DataFrame:
    """Fast proxy of :func:`layer_sensitivity` for large models: each MatMul's *own* quantization noise.

    One all-INT8 QDQ model with the search's calibration ranges, then ONNX Runtime's quantization
    debugger (``qdq_loss_debug``) on ``n_sentences`` held-out sentences gives the SQNR of every
    MatMul's input activation (before vs after its own Q/DQ pair) and of its weight; ``loss`` is the
    sum of the two noise-to-signal power ratios. One build and two instrumented runs instead of one
    build and encode per MatMul (72 on a BERT-base model). Columns as :func:`layer_sensitivity`,
    ``cosine_only_this_int8`` empty.
    """

    work = search_dir(P)
    work.mkdir(parents=True, exist_ok=True)
    src = smoothed_fp32(cal.unfused, cal.feeds, alpha, work) if alpha is not None else cal.unfused
    qdq = static_int8(src, work / f"sensitivity-qdq-{os.getpid()}.onnx", cal.feeds, "QDQ")
    feeds = qdq_debug.debug_feeds(P, cal.held_out, n_sentences, cal.seq_len)
    acts, weights = qdq_debug.qdq_debug(src, qdq, feeds)
    consumers, _, weight_users = qdq_debug.matmul_links(qdq)
    qdq.unlink(missing_ok=True)

    def noise(sqnr_db) -> float:
        return float(10 ** (-float(sqnr_db) / 10)) if sqnr_db is not None and np.isfinite(sqnr_db) else 0.0

    act_noise = {node: noise(r.qdq_sqnr_db) for r in acts[acts.role == "input"].itertuples()
                 for node in consumers.get(r.tensor, [])}
    w_noise = {weight_users[w]: noise(db) for w, db in zip(weights.weight, weights.sqnr_db) if w in weight_users}
    rows = [{"node": node, **describe_matmul(node), "order": i, "cosine_only_this_int8": float("nan"),
             "activation_noise": act_noise.get(node, float("nan")), "weight_noise": w_noise.get(node, 0.0),
             "loss": act_noise.get(node, float("nan")) + w_noise.get(node, 0.0)}
            for i, node in enumerate(linear_matmuls(src))]
    return pd.DataFrame(rows).sort_values("loss", ascending=False, kind="stable").reset_index(drop=True)


SENSITIVITY_METHODS = {"probe": "one MatMul INT8 at a time, mean cosine to FP32 on the held-out set",
                       "qdq-debug": "each MatMul's own quantization noise (ORT qdq_loss_debug SQNR of "
                                    "its input activation and weight) in one all-INT8 QDQ model"}


@dataclass
class FallbackSearch:
    """Result of the FP32-fallback search for one alpha and format."""

    alpha: float | None
    quant_format: str
    target_cosine: float
    keep_fp32: list[str]
    reached: bool
    steps: list[dict] = field(default_factory=list)
    calibration_source: str = ""
    calibration_sentences: int = 0
    held_out_sentences: int = 0
    calibration_seq_len: int = 0


def first_passing(n: int, ok: Callable[[int], bool]) -> tuple[int | None, list[int]]:
    """Smallest ``k`` in ``[0, n]`` with ``ok(k)``, by exponential then binary search (O(log n) calls
    instead of O(k)); returns ``(k or None, the k's evaluated in order)``.

    Assumes ``ok`` is monotone (keeping more MatMuls FP32 moves the model toward FP32). If it is not,
    the answer is still a ``k`` that passes with ``k - 1`` failing, never a failing one.
    Written here: bisect's key search needs a materialised sequence, not a costly predicate.
    """
    seen: dict[int, bool] = {}

    def check(k: int) -> bool:
        if k not in seen:
            seen[k] = ok(k)
        return seen[k]

    if check(0):
        return 0, list(seen)
    lo, hi = 0, min(1, n)            # ok(lo) is False
    while not check(hi):
        if hi == n:
            return None, list(seen)
        lo, hi = hi, min(2 * hi, n)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if check(mid) else (mid, hi)
    return hi, list(seen)


def search_dir(P: Params) -> Path:
    """Where the search, the alpha sweep and the final build share smoothed graphs and calibration ranges."""
    return artifact_dir(P, "onnx-int8-smoothquant") / "search"


def search_fp32_fallback(P: Params, cal: Calibration, alpha: float | None, quant_format: str,
                         sensitivity: pd.DataFrame, target_cosine: float | None = None,
                         max_fallback: int | None = None) -> FallbackSearch:
    """Keep the ``k`` most sensitive MatMuls in FP32, with the smallest ``k`` whose held-out mean
    cosine reaches ``target_cosine`` (default: the gate's threshold + :data:`SEARCH_COSINE_MARGIN`),
    found by :func:`first_passing` (one INT8 build per step: 11 steps instead of 19 for k = 18)."""

    target = target_cosine if target_cosine is not None else min(
        0.9999, P.gate_min_cosine + SEARCH_COSINE_MARGIN)
    work = search_dir(P)
    src = smoothed_fp32(cal.unfused, cal.feeds, alpha, work) if alpha is not None else cal.unfused
    ref = embed_onnx(cal.unfused, P, cal.held_out)
    order = list(sensitivity.node)
    limit = len(order) if max_fallback is None else min(max_fallback, len(order))
    cosines: dict[int, float] = {}
    bar = tqdm(desc="fallback search (exponential + binary)", total=None, mininterval=5.0)

    def ok(k: int) -> bool:
        cand = static_int8(src, work / f"candidate-{os.getpid()}.onnx", cal.feeds, quant_format, exclude=order[:k])
        cosines[k] = mean_cosine(ref, embed_onnx(cand, P, cal.held_out))
        bar.update()
        bar.set_postfix(n_fp32=k, cosine=f"{cosines[k]:.4f}")
        return cosines[k] >= target

    k, _ = first_passing(limit, ok)
    bar.close()
    (work / f"candidate-{os.getpid()}.onnx").unlink(missing_ok=True)
    steps = [{"n_fp32": i, "added": order[i - 1] if i else "", "mean_cosine": cosines[i]}
             for i in sorted(cosines)]
    keep = order[:k] if k is not None else order[:limit]
    return FallbackSearch(alpha, quant_format, target, keep, k is not None, steps, cal.source,
                          cal.n_sentences, len(cal.held_out), cal.seq_len)


def _search_record_path(P: Params, alpha: float | None, quant_format: str, cal: Calibration) -> Path:
    a = "none" if alpha is None else f"{alpha:.2f}"
    method = "" if P.sensitivity_method == "probe" else f"-{P.sensitivity_method}"
    # the target cosine decides where the search stops: a record searched for another gate is not ours
    target = f"-t{min(0.9999, P.gate_min_cosine + SEARCH_COSINE_MARGIN):.4f}"
    return artifact_dir(P, "onnx-int8-smoothquant") / f"search-a{a}-{quant_format}-{cal.key}{method}{target}.json"


def fallback_for(P: Params, cal: Calibration, alpha: float | None, quant_format: str = "QDQ",
                 sensitivity: pd.DataFrame | None = None) -> tuple[FallbackSearch, pd.DataFrame]:
    """The search result for (alpha, format, calibration), computed once and cached as JSON."""
    def compute() -> dict:
        sens = sensitivity
        if sens is None:
            sens = (layer_sensitivity(P, cal, alpha, quant_format) if P.sensitivity_method == "probe"
                    else layer_sensitivity_debug(P, cal, alpha))
        found = search_fp32_fallback(P, cal, alpha, quant_format, sens)
        return json.loads(json.dumps({"search": asdict(found), "sensitivity": sens.to_dict("records")},
                                     default=str))
    rec = atomic.cached_json(_search_record_path(P, alpha, quant_format, cal), compute, "search record",
                             check=lambda r: FallbackSearch(**r["search"]), indent=1)
    return FallbackSearch(**rec["search"]), pd.DataFrame(rec["sensitivity"])
