"""A trained reranker as ONNX: export, ONNX Runtime fusion, dynamic and SmoothQuant static INT8, and the
ONNX Runtime scorer.

The recipes are the encoders' (``lib.compress``), applied by path: export with dynamic batch and sequence
axes (TorchScript exporter, eager attention), :func:`lib.compress.export.fuse` for ``onnx-fp32``,
:func:`lib.compress.dynamic.dynamic_int8_file` for ``onnx-int8-dynamic`` (weights s8 per channel,
activations u8 per call) and, for ``onnx-int8-smoothquant``, :func:`lib.compress.static.smoothed_fp32`
then :func:`lib.compress.static.static_int8` on calibration feeds made
of reranker inputs (rows of *training* queries with their candidates, never a lay term or a dev query).
The exported graph outputs the margin ``l1 - l0`` per token; the classifier head's MatMul stays FP32 in
both INT8 formats (its output *is* the score, and it costs 2 x hidden multiply-adds per token).

Artifacts live beside the trained model folder (itself content-keyed), under a key of the opset and the
library versions; the SmoothQuant file names carry alpha, quant format and the calibration key.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lib.compress.calibration import feeds_key, row_feeds
from lib.compress.dynamic import dynamic_int8_file
from lib.compress.export import cached_onnx, fuse, keyword_wrapper, model_input_names
from lib.compress.graph import linear_matmuls, onnx_input_names
from lib.compress.static import cached_static_int8, smoothed_fp32
from lib.engines.ort import ort_session
from lib.fingerprint import engine_versions, settings_key
from lib.params import Params
from lib.rerank.inputs import Inputs

log = logging.getLogger("lib.rerank.onnx")

ONNX_FORMATS = ("onnx-fp32", "onnx-int8-dynamic", "onnx-int8-smoothquant")


def artifact_dir(model_path: Path, opset: int) -> Path:
    d = Path(model_path).parent / f"onnx-{settings_key(opset=opset, **engine_versions())}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def export_reranker(model_path: Path, out: Path, opset: int = 14) -> Path:
    """FP32 graph ``(input_ids, attention_mask[, token_type_ids]) -> margin (batch, sequence)``."""
    def build(tmp: Path) -> None:
        import torch

        from lib.engines.hub import load_tokenizer
        from lib.rerank.model import load_model

        model = load_model(model_path).eval()
        names = model_input_names(load_tokenizer(model_path))

        def margin(outputs):
            return outputs.logits[..., 1] - outputs.logits[..., 0]

        ids = torch.tensor([[2, 5, 6, 3, 5, 4, 7, 3], [2, 5, 3, 5, 4, 6, 3, 0]], dtype=torch.int64) % \
            model.config.vocab_size
        feeds = {"input_ids": ids, "attention_mask": (ids != 0).long(), "token_type_ids": torch.zeros_like(ids)}
        axes = {n: {0: "batch", 1: "sequence"} for n in names + ["margin"]}
        with torch.inference_mode():
            torch.onnx.export(keyword_wrapper(model, margin), tuple(feeds[n] for n in names), str(tmp),
                              input_names=names, output_names=["margin"], dynamic_axes=axes, opset_version=opset,
                              do_constant_folding=True, dynamo=False)
        log.info("exported reranker %s (opset %d)", out, opset)
    return cached_onnx(out, build)


def head_matmuls(path: Path) -> list[str]:
    """The classifier head's MatMul nodes (kept FP32 in the INT8 formats)."""
    return [n for n in linear_matmuls(path) if "classifier" in n]


def calibration_feeds(inputs: Inputs, input_names: list[str], pad_id: int, rows: int, batch: int,
                      seed: int = 0) -> tuple[list[dict[str, np.ndarray]], int]:
    """Fixed-shape feeds (:func:`lib.compress.calibration.row_feeds`) of ``rows`` seeded rows of ``inputs``,
    padded to the longest of them. Returns (feeds, padded length)."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(inputs.ids), size=min(rows, len(inputs.ids)), replace=False)
    length = int(max(len(inputs.ids[r]) for r in pick))
    feeds = row_feeds([inputs.ids[r] for r in pick], input_names, batch, length, pad_id,
                      types=[inputs.types[r] for r in pick])
    return feeds, length


def reranker_onnx(model_path: Path, fmt: str, P: Params, calibration: Inputs | None = None,
                  pad_id: int = 0) -> Path:
    """The ONNX file of a trained reranker in ``fmt`` (built on first use). ``onnx-int8-smoothquant``
    needs ``calibration`` rows (P.calibration_size of them, P.batch_size per batch; alpha and quant
    format from params)."""
    if fmt not in ONNX_FORMATS:
        raise ValueError(f"unknown reranker format {fmt!r} (known: {', '.join(ONNX_FORMATS)})")
    d = artifact_dir(model_path, P.opset)
    unfused = export_reranker(model_path, d / "model-unfused.onnx", P.opset)
    if fmt == "onnx-fp32":
        return fuse(unfused, d / "model.onnx", Path(model_path))
    if fmt == "onnx-int8-dynamic":
        fused = fuse(unfused, d / "model.onnx", Path(model_path))
        return dynamic_int8_file(fused, d / "model-int8-dynamic.onnx", nodes_to_exclude=head_matmuls(fused))
    if calibration is None:
        raise ValueError("onnx-int8-smoothquant needs calibration inputs (rows of training queries)")
    names = onnx_input_names(unfused)
    feeds, length = calibration_feeds(calibration, names, pad_id, P.calibration_size,
                                      min(P.batch_size, P.calibration_size), P.seed)
    out = d / f"model-int8-smoothquant-a{P.smoothquant_alpha:.2f}-{P.quant_format}-{feeds_key(feeds)}.onnx"
    log.info("reranker SmoothQuant calibration: %d rows of training queries padded to %d tokens",
             min(P.calibration_size, len(calibration.ids)), length)
    return cached_static_int8(smoothed_fp32(unfused, feeds, P.smoothquant_alpha, d), out, feeds, P.quant_format,
                              exclude=head_matmuls(unfused))


@dataclass
class OrtScorer:
    """The ONNX Runtime engine of a reranker: padded feeds -> margins (one timed ``session.run``)."""

    name: str
    session: object
    batch_times: list[float] = field(default_factory=list)

    def __post_init__(self):
        self._names = [i.name for i in self.session.get_inputs()]

    def margins(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        t0 = time.perf_counter()
        out = self.session.run(None, {k: feeds[k] for k in self._names})[0]
        self.batch_times.append(time.perf_counter() - t0)
        return out


def ort_scorer(path: Path, P: Params, name: str | None = None) -> OrtScorer:
    """An ONNX Runtime scorer over a reranker's ONNX file (providers and threads from params)."""
    return OrtScorer(name or Path(path).stem, ort_session(Path(path), P))
