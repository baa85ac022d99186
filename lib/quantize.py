"""INT8 quantization: ONNX Runtime dynamic INT8, SmoothQuant W8A8 static INT8, torchao INT8.

Builders ``f(P) -> Path`` are registered in :data:`lib.encode.ONNX_BUILDERS`, so any notebook can ask
for ``onnx-int8-dynamic`` or ``onnx-int8-smoothquant`` and get the artifact built on first use.

SmoothQuant goes through the same two library pieces as ONNX Runtime's hook
(``quantize_static(extra_options={"SmoothQuant": True})``): Neural Compressor 3.7.1's
``ORTSmoothQuant.transform`` (the FP32 smoothing) and ONNX Runtime's ``quantize_static``. We call them
one after the other instead of through the hook so that one smoothed model and one calibration cache
serve the whole alpha sweep and the per-layer sensitivity search (the hook recalibrates every call);
``tests/test_quantize.py`` checks that both routes give the same graph.

Which linear MatMuls stay in FP32 is chosen by :func:`search_fp32_fallback` (per-layer sensitivity,
then the smallest sensitivity-ordered fallback set whose held-out cosine reaches the target), never by name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from itertools import zip_longest
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import atomic
from .params import Params

log = logging.getLogger("lib.quantize")

QUANT_FORMATS = ("QOperator", "QDQ")
# Margin above the gate's cosine threshold that the fallback search aims for on its own held-out
# sentences, so that the gate (other texts) still holds.
SEARCH_COSINE_MARGIN = 0.004


# ---------------------------------------------------------------------------------------------
# Calibration text


def calibration_pool(P: Params) -> tuple[list[str], str]:
    """Sentences to calibrate on, and a label naming where they come from.

    MedSTS when ``P.medsts`` is set (the paper's choice); else STS-benchmark train sentences and HPO
    term definitions. BIOSSES is left out on purpose: all 100 pairs serve the gate's Spearman (its
    20-pair test split is too small for a 0.01 threshold), and the HPO lay terms are the gate's queries.
    """
    from .data import public

    if P.medsts:
        from . import paths
        from .data.medsts import read_medsts
        df = read_medsts(paths.project_path(P.medsts))
        texts = pd.unique(pd.concat([df.sentence1, df.sentence2]).astype(str))
        return [str(t) for t in np.random.default_rng(P.seed).permutation(texts)], f"MedSTS ({P.medsts})"
    stsb = "stsb-fr" if P.language == "fr" else "stsb-en"
    df = public.load_sts(stsb, "train")
    parts = [pd.unique(pd.concat([df.sentence1, df.sentence2]).astype(str)).tolist()]
    from .data.hpo import load_hpo
    defs = load_hpo().terms.definition.astype(str)
    parts.append([d for d in defs if len(d.split()) >= 4])
    # interleave so any prefix of the pool mixes the sources
    rng = np.random.default_rng(P.seed)
    shuffled = [list(rng.permutation(p)) for p in parts]
    pool = [s for group in zip_longest(*shuffled) for s in group if s is not None]
    return pool, f"{stsb} train + HPO definitions"


def calibration_split(P: Params) -> tuple[list[str], list[str], str]:
    """(calibration sentences, held-out search sentences, source label), disjoint, seeded."""
    pool, source = calibration_pool(P)
    n = P.calibration_size
    if len(pool) < 2 * n:
        raise ValueError(f"calibration needs 2 x calibration_size={n} sentences, source has {len(pool)}")
    return pool[:n], pool[n:2 * n], source


def fixed_shape_batches(tokenizer, texts: Sequence[str], input_names: Sequence[str], batch_size: int,
                        seq_len: int) -> list[dict[str, np.ndarray]]:
    """Calibration feeds of one fixed shape (Neural Compressor stacks them: shapes must agree).

    The last batch is completed with the first sentences again, so no sentence is dropped.
    """
    texts = list(texts)
    n_batches = max(1, -(-len(texts) // batch_size))
    padded = (texts * (1 + n_batches * batch_size // max(len(texts), 1)))[:n_batches * batch_size]
    out = []
    for i in range(n_batches):
        enc = tokenizer(padded[i * batch_size:(i + 1) * batch_size], padding="max_length",
                        truncation=True, max_length=seq_len, return_tensors="np")
        feed = {k: np.asarray(enc[k], dtype=np.int64) for k in input_names if k in enc}
        if "token_type_ids" in input_names and "token_type_ids" not in feed:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        out.append(feed)
    return out


class FeedReader:
    """ONNX Runtime ``CalibrationDataReader`` over prepared feeds (deep-copyable, rewindable)."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]):
        self.feeds = feeds
        self._i = 0

    def get_next(self) -> dict | None:
        if self._i >= len(self.feeds):
            return None
        self._i += 1
        return self.feeds[self._i - 1]

    def rewind(self) -> None:
        self._i = 0

    def __len__(self) -> int:
        return len(self.feeds)

    def __iter__(self) -> Iterator[dict]:
        return iter(self.feeds)


def calibration_seq_len(tokenizer, texts: Sequence[str], max_length: int) -> int:
    """One padding length for all calibration batches: the longest text (capped at max_length)."""
    lens = [len(x) for x in tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]]
    return int(min(max_length, max(lens)))


# ---------------------------------------------------------------------------------------------
# Graph inspection


def onnx_input_names(path: Path) -> list[str]:
    import onnx
    m = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    return [i.name for i in m.graph.input if i.name not in inits]


def linear_matmuls(path: Path) -> list[str]:
    """Names of the MatMul nodes whose weight is a constant: the model's linear layers.

    The attention score MatMuls (two activations) are not in the search space.
    """
    import onnx
    m = onnx.load(str(path), load_external_data=False)
    consts = {i.name for i in m.graph.initializer}
    consts |= {o for n in m.graph.node if n.op_type == "Constant" for o in n.output}
    return [n.name for n in m.graph.node if n.op_type == "MatMul" and n.input[1] in consts]


_KIND_PATTERNS = (("attention.*query", "q"), ("attention.*key", "k"), ("attention.*value", "v"),
                  ("attention.*output", "attn-out"), ("intermediate", "ffn-in"), ("output", "ffn-out"),
                  ("pooler", "pooler"))


def describe_matmul(name: str) -> dict:
    """Layer index and role (q/k/v/attn-out/ffn-in/ffn-out) read from an exported node name."""
    layer = re.search(r"layers?[._/](\d+)", name)
    kind = next((k for pat, k in _KIND_PATTERNS if re.search(pat, name)), "other")
    return {"layer": int(layer.group(1)) if layer else -1, "kind": kind}


def file_size_mb(path: Path) -> float:
    """Size of an ONNX model including any external-data file beside it."""
    total = path.stat().st_size
    data = path.with_suffix(path.suffix + ".data")
    if data.exists():
        total += data.stat().st_size
    return total / 2**20


# ---------------------------------------------------------------------------------------------
# Dynamic INT8 (MatMulInteger)


def dynamic_int8_to(P: Params, per_channel: bool = True, nodes_to_exclude: Sequence[str] = ()) -> Path:
    """Dynamic INT8 of the fused FP32 graph (weights s8, activations u8 per batch)."""
    from onnxruntime.quantization import QuantType, quant_pre_process, quantize_dynamic

    from .export import artifact_dir, cached_onnx, fused_onnx

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


# ---------------------------------------------------------------------------------------------
# SmoothQuant W8A8 (static)


@dataclass
class Calibration:
    """Everything the static builds of one params file share."""

    unfused: Path
    feeds: list[dict[str, np.ndarray]]
    held_out: list[str]
    source: str
    seq_len: int
    n_sentences: int

    @property
    def key(self) -> str:
        h = hashlib.sha256()
        for f in self.feeds:
            h.update(repr(f["input_ids"].shape).encode())
            h.update(f["input_ids"].tobytes())
        return h.hexdigest()[:10]


def prepare_calibration(P: Params) -> Calibration:
    """Unfused FP32 graph (SmoothQuant needs LayerNorm -> MatMul) and fixed-shape calibration feeds."""
    from .encode import load_tokenizer, resolve_model_dir
    from .export import unfused_onnx

    src = unfused_onnx(P)
    tok = load_tokenizer(resolve_model_dir(P))
    calib, held_out, source = calibration_split(P)
    seq_len = calibration_seq_len(tok, calib, P.max_length)
    feeds = fixed_shape_batches(tok, calib, onnx_input_names(src), min(P.batch_size, len(calib)), seq_len)
    return Calibration(src, feeds, held_out, source, seq_len, len(calib))


def smoothed_fp32(cal: Calibration, alpha: float, out_dir: Path) -> Path:
    """FP32 graph after SmoothQuant's scale migration (INC 3.7.1 ``ORTSmoothQuant``, the class the
    ONNX Runtime hook calls), saved once per alpha and calibration set."""
    import onnx
    from neural_compressor.adaptor.ox_utils.smooth_quant import ORTSmoothQuant

    from .export import cached_onnx

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


def onnx_encoder(P: Params, label: str, path: Path):
    """A ``BatchEncoder`` for any ONNX artifact (e.g. a variant of a registered format), with the
    same tokenising and pooling as every format; the fingerprint holds the model's and the file's content."""
    from .encode import BatchEncoder, load_tokenizer, onnx_forward, ort_session, resolve_model_dir
    from .fingerprint import file_digest, model_fingerprint

    model_dir = resolve_model_dir(P)
    fp = file_digest(path)[:12]
    return BatchEncoder(P.name, label, f"{model_fingerprint(model_dir)}-{label}-{fp}", load_tokenizer(model_dir),
                        P, onnx_forward(ort_session(path, P)), {"model_dir": str(model_dir), "onnx": str(path)})


def embed_onnx(path: Path, P: Params, texts: Sequence[str]) -> np.ndarray:
    """Sentence vectors from an ONNX file (no cache: search candidates are overwritten in place)."""
    return onnx_encoder(P, path.stem, path).encode(texts, progress=False)


def mean_cosine(ref: np.ndarray, other: np.ndarray) -> float:
    """Mean row-wise cosine of two L2-normalised matrices."""
    return float(np.mean(np.sum(ref * other, axis=1)))


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
    from . import outliers

    work = search_dir(P)
    work.mkdir(parents=True, exist_ok=True)
    src = smoothed_fp32(cal, alpha, work) if alpha is not None else cal.unfused
    qdq = static_int8(src, work / f"sensitivity-qdq-{os.getpid()}.onnx", cal, "QDQ")
    feeds = outliers.debug_feeds(P, cal.held_out, n_sentences, cal.seq_len)
    acts, weights = outliers.qdq_debug(src, qdq, feeds)
    consumers, _, weight_users = outliers.matmul_links(qdq)
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
    from .export import artifact_dir
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
    from .export import artifact_dir
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
    from .export import artifact_dir, cached_onnx

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
    from .export import artifact_dir, cached_onnx

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


# ---------------------------------------------------------------------------------------------
# PyTorch INT8


def torch_int8(model):
    """torchao dynamic INT8 (per-token activations, per-channel weights) on every nn.Linear.

    IPEX's static SmoothQuant cannot import beside torch 2.13 (stack notes); torchao runs here.
    """
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    quantize_(model, Int8DynamicActivationInt8WeightConfig())
    return model
