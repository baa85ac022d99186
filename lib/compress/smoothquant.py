"""SmoothQuant W8A8 static INT8 with a searched FP32 fallback.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from lib import atomic
from lib.compress import qdq_debug
from lib.compress.calibration import Calibration, FeedReader, prepare_calibration
from lib.compress.export import artifact_dir, cached_onnx
from lib.compress.graph import describe_matmul, linear_matmuls
from lib.engines.ort import embed_onnx
from lib.evaluate.retrieval import mean_cosine
from lib.params import Params

log = logging.getLogger("lib.compress.smoothquant")


QUANT_FORMATS = ("QOperator", "QDQ")


# Margin above the gate's cosine threshold that the fallback search aims for on its own held-out
# sentences, so that the gate (other texts) still holds.
SEARCH_COSINE_MARGIN = 0.004


def smoothed_fp32(cal: Calibration, alpha: float, out_dir: Path) -> Path:
    """FP32 graph after SmoothQuant's scale migration (INC 3.7.1 ``ORTSmoothQuant``, the class the
    ONNX Runtime hook calls), saved once per alpha and calibration set."""
    import onnx
    from neural_compressor.adaptor.ox_utils.smooth_quant import ORTSmoothQuant


    def build(tmp: Path) -> None:
        model = onnx.load(str(cal.unfused))
        sq = ORTSmoothQuant(model, ((f, None) for f in cal.feeds), False)
        sq.transform(alpha, True).save(str(tmp))
    return cached_onnx(out_dir / f"smoothed-a{alpha:.2f}-{cal.key}.onnx", build)


def static_int8(src: Path, out: Path, cal: Calibration, quant_format: str = "QDQ",
                exclude: Sequence[str] = (), only: Sequence[str] | None = None,
                smoothquant_alpha: float | None = None) -> Path:
    """``quantize_static`` of the linear MatMuls of ``src`` (u8 activations, s8 per-channel weights).

    ``exclude`` stay FP32; ``only`` restricts quantization to those nodes (sensitivity probes).
    With ``smoothquant_alpha`` the ONNX Runtime SmoothQuant hook does the smoothing itself.
    Calibration ranges are cached beside ``src`` (per calibration set) and reused.
    """
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    if quant_format not in QUANT_FORMATS:
        raise ValueError(f"quant_format must be one of {QUANT_FORMATS}, got {quant_format!r}")
    linear = linear_matmuls(src)
    nodes = [n for n in (only if only is not None else linear) if n not in set(exclude)]
    extra = {"MatMulConstBOnly": True}
    cache = None
    if smoothquant_alpha is not None:
        extra.update(SmoothQuant=True, SmoothQuantAlpha=float(smoothquant_alpha))
    else:
        cache = src.with_name(f"{src.stem}.calib-{cal.key}.json")
        _drop_unreadable_json(cache)
    with atomic.atomic_path(out) as tmp:
        quantize_static(str(src), str(tmp), FeedReader(cal.feeds),
                        calibration_cache_path=str(cache) if cache else None,
                        quant_format=getattr(QuantFormat, quant_format), op_types_to_quantize=["MatMul"],
                        nodes_to_quantize=nodes or ["__none__"], per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, extra_options=extra)
    return out


def _drop_unreadable_json(path: Path) -> None:
    """ONNX Runtime writes its calibration cache in place and trusts whatever it finds there: a file
    torn by an interrupted run is logged with its path and removed, so the ranges are recomputed."""
    if path.exists():
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            log.warning("calibration cache %s is unreadable (%s): removing it, ranges are recomputed", path, err)
            atomic.remove(path)


def layer_sensitivity(P: Params, cal: Calibration, alpha: float | None,
                      quant_format: str = "QDQ") -> pd.DataFrame:
    """Mean cosine to FP32 on held-out sentences when *only one* linear MatMul is INT8.

    One-at-a-time probes isolate each layer's own error; the smoothed graph and the calibration
    cache are shared, so a probe costs one quantizer pass and one encode.
    """

    work = search_dir(P)
    work.mkdir(parents=True, exist_ok=True)
    src = smoothed_fp32(cal, alpha, work) if alpha is not None else cal.unfused
    ref = embed_onnx(cal.unfused, P, cal.held_out)
    rows = []
    for i, node in enumerate(tqdm(linear_matmuls(src), desc="sensitivity", mininterval=5.0)):
        probe = static_int8(src, work / f"probe-{os.getpid()}.onnx", cal, quant_format, only=[node])
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
    src = smoothed_fp32(cal, alpha, work) if alpha is not None else cal.unfused
    qdq = static_int8(src, work / f"sensitivity-qdq-{os.getpid()}.onnx", cal, "QDQ")
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
    src = smoothed_fp32(cal, alpha, work) if alpha is not None else cal.unfused
    ref = embed_onnx(cal.unfused, P, cal.held_out)
    order = list(sensitivity.node)
    limit = len(order) if max_fallback is None else min(max_fallback, len(order))
    cosines: dict[int, float] = {}
    bar = tqdm(desc="fallback search (exponential + binary)", total=None, mininterval=5.0)

    def ok(k: int) -> bool:
        cand = static_int8(src, work / f"candidate-{os.getpid()}.onnx", cal, quant_format, exclude=order[:k])
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
    path = _search_record_path(P, alpha, quant_format, cal)
    if path.exists():
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
            return FallbackSearch(**rec["search"]), pd.DataFrame(rec["sensitivity"])
        except (ValueError, TypeError, KeyError) as err:
            log.warning("search record %s is unreadable (%s): removing it and searching again", path, err)
            atomic.remove(path)
    if sensitivity is None:
        sensitivity = (layer_sensitivity(P, cal, alpha, quant_format) if P.sensitivity_method == "probe"
                       else layer_sensitivity_debug(P, cal, alpha))
    found = search_fp32_fallback(P, cal, alpha, quant_format, sensitivity)
    atomic.write_json(path, {"search": asdict(found), "sensitivity": sensitivity.to_dict("records")},
                      indent=1, default=str)
    return found, sensitivity


def smoothquant_int8_to(P: Params, alpha: float | None = None, quant_format: str | None = None,
                        keep_fp32: Sequence[str] | None = None) -> Path:
    """SmoothQuant W8A8 static INT8 through ONNX Runtime's SmoothQuant hook.

    ``alpha`` / ``quant_format`` default to params; ``keep_fp32=None`` runs (or reuses) the
    sensitivity search for this alpha and format.
    """

    alpha = P.smoothquant_alpha if alpha is None else alpha
    quant_format = quant_format or P.quant_format
    cal = prepare_calibration(P)
    if keep_fp32 is None:
        keep_fp32 = fallback_for(P, cal, alpha, quant_format)[0].keep_fp32
    tag = hashlib.sha1(",".join(sorted(keep_fp32)).encode()).hexdigest()[:8]
    out = artifact_dir(P, "onnx-int8-smoothquant") / f"model-a{alpha:.2f}-{quant_format}-{cal.key}-{tag}.onnx"

    def build(tmp: Path) -> None:
        # = the ORT hook (``smoothquant_alpha=alpha`` on ``cal.unfused``; the test
        # ``test_decomposed_smoothquant_equals_the_ort_hook`` checks it), but reusing the smoothed
        # graph and calibration ranges of the search instead of recalibrating (minutes on BERT-base).
        static_int8(smoothed_fp32(cal, alpha, search_dir(P)), tmp, cal, quant_format, exclude=keep_fp32)
        atomic.write_json(out.with_suffix(".json"),
                          {"alpha": alpha, "quant_format": quant_format, "keep_fp32": list(keep_fp32),
                           "calibration": cal.source, "calibration_sentences": cal.n_sentences,
                           "calibration_seq_len": cal.seq_len}, indent=1)
    return cached_onnx(out, build)


def plain_static_int8_to(P: Params, quant_format: str = "QDQ", keep_fp32: Sequence[str] = ()) -> Path:
    """Static INT8 without SmoothQuant (same calibration and fallback): the ablation baseline."""

    cal = prepare_calibration(P)
    tag = hashlib.sha1(",".join(sorted(keep_fp32)).encode()).hexdigest()[:8]
    out = artifact_dir(P, "onnx-int8-smoothquant") / f"model-nosq-{quant_format}-{cal.key}-{tag}.onnx"
    return cached_onnx(out, lambda tmp: static_int8(cal.unfused, tmp, cal, quant_format, exclude=keep_fp32))


def smoothquant_int8(P: Params) -> Path:
    """The ``onnx-int8-smoothquant`` format: alpha and quant format from params, searched FP32 fallback."""
    return smoothquant_int8_to(P)


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
        src = smoothed_fp32(cal, a, work) if a is not None else cal.unfused
        cand = static_int8(src, work / f"sweep-{os.getpid()}.onnx", cal, quant_format, exclude=keep_fp32)
        vec = embed_onnx(cand, P, cal.held_out)
        cos = np.sum(ref * vec, axis=1)
        rows.append({"alpha": a, "smoothquant": a is not None, "quant_format": quant_format,
                     "n_fp32": len(keep_fp32), "mean_cosine": float(cos.mean()),
                     "min_cosine": float(cos.min())})
    (work / f"sweep-{os.getpid()}.onnx").unlink(missing_ok=True)
    return pd.DataFrame(rows)
