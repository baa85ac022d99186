"""Format registry: each format's artifact builder and engine, imported explicitly (no strings).

A format is a name in params (``formats:``): ``fp32-torch`` and ``torch-int8`` run on the PyTorch
engine; the ONNX formats run on the ONNX Runtime engine over an artifact that their builder makes on
first use (so any notebook can run alone). This is the only module that knows both the builders
(:mod:`lib.compress`) and the engines (:mod:`lib.engines`), which is why it sits above both.

Builders are keyed by model kind (:data:`BUILDERS`): a bi-encoder's formats are built from its params,
a reranker's (:mod:`lib.engines.cross`) from its model folder, by the same recipes (export, fusion,
dynamic INT8, static INT8 with SmoothQuant), and both run on the one ORT engine (:func:`load_reranker`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from lib import atomic
from lib.compress.dynamic import dynamic_int8, dynamic_int8_file, dynamic_int8_to
from lib.compress.export import artifact_dir_of, fused_onnx, fused_onnx_of, unfused_onnx_of
from lib.compress.graph import linear_matmuls
from lib.compress.olive.search import olive_best, olive_session_options
from lib.compress.smoothquant import plain_static_int8_to, searched_keep_fp32, smoothquant_int8, smoothquant_int8_to
from lib.compress.static import cached_static_int8, keep_tag, smoothed_fp32
from lib.compress.calibration import feeds_key
from lib.engines.encoder import Encoder
from lib.engines.hub import resolve_model_dir
from lib.engines.ort import OrtEncoder, onnx_encoder, ort_session
from lib.engines.torch import load_torch_encoder
from lib.params import Params


TORCH_FORMATS = ("fp32-torch", "torch-int8")
# Each ONNX format's builder: params -> path of its .onnx artifact (built on first use, content-keyed).
ONNX_BUILDERS: dict[str, Callable[[Params], Path]] = {
    "onnx-fp32": fused_onnx,
    "onnx-int8-dynamic": dynamic_int8,
    "onnx-int8-smoothquant": smoothquant_int8,
    "olive-best": olive_best,
}
# Variants: ablations of a registered format that 03's gate evaluates beside it (``gate_variants``), named
# ``<format>:<variant>``; they run on the same engine and are never chosen (lib.gate.choose).
VARIANT_BUILDERS: dict[str, Callable[[Params], Path]] = {
    "onnx-int8-dynamic:per-tensor": lambda P: dynamic_int8_to(P, per_channel=False),
    # SmoothQuant in the quant format that params did not pick, with the searched fallback of the one it did
    "onnx-int8-smoothquant:QOperator": lambda P: smoothquant_int8_to(P, quant_format="QOperator",
                                                                     keep_fp32=searched_keep_fp32(P)),
    "onnx-int8-smoothquant:QDQ": lambda P: smoothquant_int8_to(P, quant_format="QDQ",
                                                               keep_fp32=searched_keep_fp32(P)),
    "onnx-int8-smoothquant:no-fallback": lambda P: smoothquant_int8_to(P, keep_fp32=[]),
    "onnx-int8-static:no-smoothquant": lambda P: plain_static_int8_to(P, P.quant_format, searched_keep_fp32(P)),
}


def variants(P: Params) -> list[str]:
    """The variants 03's gate evaluates for ``P`` (the SmoothQuant quant format params did not pick)."""
    other_qf = "QDQ" if P.quant_format == "QOperator" else "QOperator"
    return [v for v in VARIANT_BUILDERS if not v.startswith("onnx-int8-smoothquant:Q") or v.endswith(other_qf)]


# ONNX Runtime SessionOptions a format was tuned with (applied over lib.engines.ort's defaults).
SESSION_OPTIONS: dict[str, Callable[[Params], dict]] = {
    "olive-best": olive_session_options,
}


def onnx_artifact(P: Params, fmt: str) -> Path:
    """Path of a format's (or a variant's) ONNX model, built on first use (so any notebook can run alone)."""
    return {**ONNX_BUILDERS, **VARIANT_BUILDERS}[fmt](P)


def load_encoder(P: Params, fmt: str = "fp32-torch") -> Encoder:
    """An encoder for params ``P`` in format ``fmt``: the PyTorch engine for ``TORCH_FORMATS``, the one
    ONNX Runtime engine (:class:`lib.engines.ort.OrtEncoder`) for every ONNX format, with the session
    options the format was tuned with (``olive-best``). Every format shares tokens and pooling.

    The encoder's ``fingerprint`` is content-keyed: the model folder's bytes, the format, the engine
    library versions, the engine's batching and (for ONNX formats) the artifact file's bytes, so cached
    vectors can never be handed to another model, another build or another runtime.
    """
    if fmt in TORCH_FORMATS:
        return load_torch_encoder(P, int8=fmt == "torch-int8")
    if fmt in ONNX_BUILDERS or fmt in VARIANT_BUILDERS:
        extra = SESSION_OPTIONS[fmt](P) if fmt in SESSION_OPTIONS else None
        path, session = _onnx_session_healing(P, fmt, extra)
        return onnx_encoder(P, fmt, path, model_dir=resolve_model_dir(P), session=session)
    raise ValueError(f"unknown format {fmt!r}; known: "
                     f"{', '.join(TORCH_FORMATS + tuple(ONNX_BUILDERS) + tuple(VARIANT_BUILDERS))}")


def _onnx_session_healing(P: Params, fmt: str, extra_options: dict | None = None):
    """Build (or reuse) a format's artifact and open it (:func:`lib.atomic.load_or_rebuild`: an artifact
    that fails to load is logged with its path, removed and rebuilt once; a truncated file is never
    trusted or kept)."""
    path = onnx_artifact(P, fmt)
    session = atomic.load_or_rebuild(path, lambda p: ort_session(p, P, extra_options),
                                     lambda p: onnx_artifact(P, fmt), what="ONNX artifact")
    return path, session


# ---------------------------------------------------------------------------------------------
# Rerankers: the same recipes on a reranker folder (lib.engines.cross), keyed by its content


def score_head(path: Path) -> list[str]:
    """The reranker's score-head MatMul (kept FP32 in every INT8 format: its output *is* the score, and
    it costs one multiply-add per hidden unit and token)."""
    return [n for n in linear_matmuls(path) if "/head/" in n or n.startswith("head")]


def _reranker_fp32(model_dir: Path, P: Params, feeds: list[dict] | None) -> Path:
    return fused_onnx_of(model_dir, P.opset, P.max_length)


def _reranker_dynamic(model_dir: Path, P: Params, feeds: list[dict] | None) -> Path:
    fused = fused_onnx_of(model_dir, P.opset, P.max_length)
    keep = score_head(fused)
    out = artifact_dir_of(model_dir, P.opset, P.max_length, "onnx-int8-dynamic") / f"model-x{keep_tag(keep)}.onnx"
    return dynamic_int8_file(fused, out, nodes_to_exclude=keep)


def _reranker_smoothquant(model_dir: Path, P: Params, feeds: list[dict] | None) -> Path:
    """SmoothQuant static INT8 (alpha and quant format from params) calibrated on ``feeds``: reranker rows
    of training queries (lib.rerank.pipeline.calibration_feeds), never a lay term or a dev query."""
    if not feeds:
        raise ValueError("a reranker's onnx-int8-smoothquant needs calibration feeds (rows of training queries)")
    unfused = unfused_onnx_of(model_dir, P.opset, P.max_length)
    keep = score_head(unfused)
    d = artifact_dir_of(model_dir, P.opset, P.max_length, "onnx-int8-smoothquant")
    out = d / f"model-a{P.smoothquant_alpha:.2f}-{P.quant_format}-{feeds_key(feeds)}-x{keep_tag(keep)}.onnx"
    return cached_static_int8(smoothed_fp32(unfused, feeds, P.smoothquant_alpha, d), out, feeds, P.quant_format,
                              exclude=keep)


RERANKER_BUILDERS: dict[str, Callable[[Path, Params, list[dict] | None], Path]] = {
    "onnx-fp32": _reranker_fp32,
    "onnx-int8-dynamic": _reranker_dynamic,
    "onnx-int8-smoothquant": _reranker_smoothquant,
}
# Model kind -> its ONNX formats' builders (the encoders' take params, the rerankers' a model folder).
BUILDERS: dict[str, dict[str, Callable]] = {"encoder": ONNX_BUILDERS, "reranker": RERANKER_BUILDERS}


def reranker_artifact(model_dir: Path, fmt: str, P: Params, feeds: list[dict] | None = None) -> Path:
    """A reranker folder's ONNX file in ``fmt`` (built on first use; ``feeds``: static INT8 calibration)."""
    if fmt not in RERANKER_BUILDERS:
        raise ValueError(f"unknown reranker format {fmt!r}; known: {', '.join(RERANKER_BUILDERS)}")
    return RERANKER_BUILDERS[fmt](Path(model_dir), P, feeds)


def load_reranker(model_dir: Path, fmt: str, P: Params, feeds: list[dict] | None = None) -> OrtEncoder:
    """The one ORT engine over a reranker's artifact: its ``forward(feeds)`` returns token scores
    (lib.rerank.model pools them); a file that fails to load is removed and rebuilt once."""
    path = reranker_artifact(model_dir, fmt, P, feeds)
    session = atomic.load_or_rebuild(path, lambda p: ort_session(p, P),
                                     lambda p: reranker_artifact(model_dir, fmt, P, feeds), what="ONNX artifact")
    return onnx_encoder(P, fmt, path, model_dir=Path(model_dir), session=session)
