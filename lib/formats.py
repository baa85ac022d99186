"""Format registry: each format's artifact builder and engine, imported explicitly (no strings).

A format is a name in params (``formats:``): ``fp32-torch`` and ``torch-int8`` run on the PyTorch
engine; the ONNX formats run on the ONNX Runtime engine and the OpenVINO formats (``ov-fp32``, ``ov-int8``)
on the OpenVINO engine, each over an artifact that its builder makes on first use (so any notebook can
run alone). This is the only module that knows both the builders
(:mod:`lib.compress`) and the engines (:mod:`lib.engines`), which is why it sits above both.

Builders are keyed by model kind (:data:`BUILDERS`): a bi-encoder's formats are built from its params,
a reranker's (:mod:`lib.engines.cross`) from its model folder, by the same recipes (export, fusion,
dynamic INT8, static INT8 with SmoothQuant), and both run on the one ORT engine (:func:`load_reranker`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import logging

from lib import atomic, results
from lib.compress.calibration import feeds_key
from lib.compress.dynamic import dynamic_int8, dynamic_int8_file, dynamic_int8_to
from lib.compress.export import artifact_dir_of, fused_onnx, fused_onnx_of, unfused_onnx_of
from lib.compress.graph import linear_matmuls
from lib.compress.olive.search import olive_best, olive_session_options
from lib.compress.openvino import gate_variants as ov_gate_variants
from lib.compress.openvino import ov_fp32, ov_int8, ov_int8_to
from lib.compress.smoothquant import plain_static_int8_to, searched_keep_fp32, smoothquant_int8, smoothquant_int8_to
from lib.compress.static import cached_static_int8, keep_tag, smoothed_fp32
from lib.engines.encoder import Encoder
from lib.engines.hub import resolve_model_dir
from lib.engines.openvino import compile_ir, ov_encoder
from lib.engines.ort import OrtEncoder, onnx_encoder, ort_session
from lib.engines.torch import load_torch_encoder
from lib.machine import cpu_info
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


# Each OpenVINO format's builder: params -> path of its IR's model.xml (built on first use, content-keyed).
OV_BUILDERS: dict[str, Callable[[Params], Path]] = {
    "ov-fp32": ov_fp32,
    "ov-int8": ov_int8,
}
OV_VARIANT = "ov-int8:"   # ov-int8:<label>: NNCF static INT8 at another SmoothQuant alpha (ov_gate_variants)


def variants(P: Params) -> list[str]:
    """The variants 03's gate evaluates for ``P``: the ONNX ablations (the SmoothQuant quant format params did
    not pick among them) and NNCF's INT8 at the SmoothQuant alphas params did not pick."""
    other_qf = "QDQ" if P.quant_format == "QOperator" else "QOperator"
    onnx = [v for v in VARIANT_BUILDERS if not v.startswith("onnx-int8-smoothquant:Q") or v.endswith(other_qf)]
    return onnx + [OV_VARIANT + label for label in ov_gate_variants(P)]


def _ov_builder(P: Params, fmt: str) -> Callable[[Params], Path]:
    """The IR builder of an OpenVINO format or ``ov-int8:<label>`` variant."""
    if fmt in OV_BUILDERS:
        return OV_BUILDERS[fmt]
    alphas = ov_gate_variants(P)
    label = fmt[len(OV_VARIANT):]
    if not fmt.startswith(OV_VARIANT) or label not in alphas:
        raise ValueError(f"unknown OpenVINO format {fmt!r}; variants for params {P.name}: {sorted(alphas)}")
    return lambda Q: ov_int8_to(Q, alphas[label])
# ONNX Runtime SessionOptions a format was tuned with (applied over lib.engines.ort's defaults).
SESSION_OPTIONS: dict[str, Callable[[Params], dict]] = {
    "olive-best": olive_session_options,
}


def onnx_artifact(P: Params, fmt: str) -> Path:
    """Path of a format's (or a variant's) ONNX model, built on first use (so any notebook can run alone)."""
    return {**ONNX_BUILDERS, **VARIANT_BUILDERS}[fmt](P)


def artifact(P: Params, fmt: str) -> Path:
    """Path of an ONNX or OpenVINO format's model file (``.onnx``, or the IR's ``model.xml``), built on first use."""
    if fmt in OV_BUILDERS or fmt.startswith(OV_VARIANT):
        return _ov_builder(P, fmt)(P)
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
    if fmt in ONNX_BUILDERS or fmt in VARIANT_BUILDERS:
        extra = SESSION_OPTIONS[fmt](P) if fmt in SESSION_OPTIONS else None
        path, session = _onnx_session_healing(P, fmt, extra)
        return onnx_encoder(P, fmt, path, model_dir=resolve_model_dir(P), session=session)
    if fmt in OV_BUILDERS or fmt.startswith(OV_VARIANT):
        path, compiled = _ov_compiled_healing(P, fmt)
        return ov_encoder(P, fmt, path, model_dir=resolve_model_dir(P), compiled=compiled)
    if fmt == GATE_CHOSEN:
        raise ValueError(f"{GATE_CHOSEN!r} is not a model format: it stands for the INT8 format 03's gate chose "
                         "(lib.formats.formats_to_run resolves it from results/<name>/03-quantize.json)")
    known = TORCH_FORMATS + tuple(ONNX_BUILDERS) + tuple(OV_BUILDERS) + tuple(VARIANT_BUILDERS)
    raise ValueError(f"unknown format {fmt!r}; known: {', '.join(known)}")


def _ov_compiled_healing(P: Params, fmt: str):
    """Build (or reuse) an OpenVINO format's IR and compile it (:func:`lib.atomic.load_or_rebuild` on the IR's
    folder: one that fails to compile is logged, removed whole and rebuilt once)."""
    build = _ov_builder(P, fmt)
    path = build(P)
    compiled = atomic.load_or_rebuild(path.parent, lambda d: compile_ir(d / path.name, P.threads),
                                      lambda d: build(P), what="OpenVINO IR")
    return path, compiled


def _onnx_session_healing(P: Params, fmt: str, extra_options: dict | None = None):
    """Build (or reuse) a format's artifact and open it (:func:`lib.atomic.load_or_rebuild`: an artifact
    that fails to load is logged with its path, removed and rebuilt once; a truncated file is never
    trusted or kept)."""
    path = onnx_artifact(P, fmt)
    session = atomic.load_or_rebuild(path, lambda p: ort_session(p, P, extra_options),
                                     lambda p: onnx_artifact(P, fmt), what="ONNX artifact")
    return path, session


def formats_to_run(P: Params) -> tuple[list[str], dict[str, Any]]:
    """The formats 04-06 run: params ``formats`` with ``gate-chosen`` (:data:`lib.params.GATE_CHOSEN`)
    replaced by the INT8 format 03's gate chose for this model (``results/<name>/03-quantize.json``: the
    fastest passing one on the machine 03 ran on), duplicates dropped. Returns (formats, what was resolved:
    ``gate_chosen``, ``source``, ``chosen_on`` (03's CPU), ``note`` when it was skipped or chosen on
    another CPU). Skipped, with the reason printed and returned, when 03 has not run (a notebook runs
    alone) or passed no INT8 format; an error when nothing is left to run."""
    if GATE_CHOSEN not in P.formats:
        return list(P.formats), {}
    info: dict[str, Any] = {"gate_chosen": None, "source": str(results.result_path(P.name, "03-quantize"))}
    chosen = None
    try:
        rec = results.read_result(P.name, "03-quantize")
    except FileNotFoundError:
        info["note"] = (f"{GATE_CHOSEN} skipped: 03-quantize has not run for {P.name} "
                        f"(make results/{P.name}/03-quantize.json)")
    else:
        chosen = rec.metrics.chosen
        cpu = rec.machine.cpu
        info["chosen_on"] = {k: cpu.get(k) for k in ("model", "int8_isa", "isa")} if cpu else None
        if chosen is None:
            info["note"] = f"{GATE_CHOSEN} skipped: 03's gate passed no INT8 format for {P.name}"
        elif cpu and (cpu.get("model"), cpu.get("isa")) != (cpu_info().get("model"), cpu_info().get("isa")):
            info["note"] = (f"03 chose {chosen} on {cpu.get('model')} ({cpu.get('int8_isa')}); this machine is "
                            f"{cpu_info().get('model')} ({cpu_info().get('int8_isa')}): rerun 03 here for its choice")
    info["gate_chosen"] = chosen
    if info.get("note"):
        print(info["note"])
        log.warning(info["note"])
    out = list(dict.fromkeys(chosen if f == GATE_CHOSEN else f for f in P.formats if f != GATE_CHOSEN or chosen))
    if not out:
        raise ValueError(f"params {P.name}: no format to run ({info.get('note')})")
    return out, info


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
