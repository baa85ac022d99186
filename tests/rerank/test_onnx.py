"""A reranker on the encoders' own stack: export, fusion, dynamic and static INT8 and their artifact keys
through lib.compress and lib.formats (keyed by model kind), the one ORT engine; lib/rerank holds none
of it. The exported graph scores as PyTorch does in every layout."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from lib.engines import cross
from lib.engines.ort import OrtEncoder
from lib.formats import load_reranker, reranker_artifact, score_head
from lib.rerank import evaluate as rev
from lib.rerank import pipeline
from lib.rerank.model import TorchCross, score_inputs
from lib.rerank.train import Texts, Variant

LAYOUTS = ("base", "shared-prefix", "paper")


@pytest.fixture(scope="module")
def rr(tiny_setup, tmp_path_factory):
    """A tiny reranker folder with a random head (an untrained one scores 0 everywhere), as a Reranker."""
    import torch

    from lib.engines.hub import resolve_model_dir

    P, _, tr = tiny_setup
    torch.manual_seed(5)
    m = cross.new_scorer(resolve_model_dir(P), weight=10.0, attn_implementation="eager")
    torch.nn.init.normal_(m.head.weight)
    out = tmp_path_factory.mktemp("rr") / "model"
    out.mkdir()
    cross.save_scorer(m.eval(), out, {"readout": "mean"}, resolve_model_dir(P))
    texts = Texts(out, P.rerank, tr.definitions)
    return pipeline.Reranker(out, Variant("base", True), "base", P.rerank, texts, {})


def f_of(rr, engine, P, tr, layout):
    inp = rr.in_layout(layout).inputs(tr.dev.queries, tr.dev.candidates.head(4))
    return score_inputs(engine, inp, rr.texts.special.pad, P.ort_token_budget, P.ort_max_rows)


def test_onnx_fp32_scores_as_pytorch_in_every_layout(tiny_setup, rr):
    import onnx

    P, _, tr = tiny_setup
    engine = load_reranker(rr.path, "onnx-fp32", P)
    assert isinstance(engine, OrtEncoder)                              # the one ORT engine
    ref = {lay: f_of(rr, TorchCross(cross.load_scorer(rr.path)), P, tr, lay) for lay in LAYOUTS}
    for lay in LAYOUTS:
        m = f_of(rr, engine, P, tr, lay)
        assert np.array_equal(np.isnan(ref[lay]), np.isnan(m)) and (~np.isnan(m)).sum() > 40
        assert np.nanmax(np.abs(ref[lay] - m)) < 1e-4, lay
    assert np.nanmax(np.abs(f_of(rr, engine, P, tr, "shared-prefix") - f_of(rr, engine, P, tr, "base"))) < 1e-4
    ops = {n.op_type for n in onnx.load(str(reranker_artifact(rr.path, "onnx-fp32", P))).graph.node}
    assert "SkipLayerNormalization" in ops and "EmbedLayerNormalization" not in ops   # fused, embeddings not


@pytest.mark.parametrize("fmt", ["onnx-int8-dynamic", "onnx-int8-smoothquant"])
def test_int8_through_lib_compress_keeps_the_head_fp32_and_agrees(tiny_setup, rr, fmt):
    import onnx

    from lib.compress.export import artifact_key_of

    P, _, tr = tiny_setup
    feeds = pipeline.calibration_feeds(rr, tr, P) if fmt == "onnx-int8-smoothquant" else None
    if feeds:
        assert {"position_ids", "attention_groups"} <= set(feeds[0])   # the reranker's own inputs calibrate
    path = reranker_artifact(rr.path, fmt, P, feeds)
    assert artifact_key_of(rr.path, P.opset, P.max_length) in str(path)   # keyed like any model folder
    graph = onnx.load(str(path)).graph
    assert {n.op_type for n in graph.node} & {"MatMulInteger", "DynamicQuantizeLinear", "QuantizeLinear"}
    head = score_head(reranker_artifact(rr.path, "onnx-fp32", P))
    assert head and set(head) <= {n.name for n in graph.node if n.op_type == "MatMul"}   # the score head stays FP32
    ref = f_of(rr, load_reranker(rr.path, "onnx-fp32", P), P, tr, "shared-prefix")
    m = f_of(rr, load_reranker(rr.path, fmt, P, feeds), P, tr, "shared-prefix")
    assert rev.agreement(ref, m)["score_correlation"] > 0.9


def test_no_file_under_lib_rerank_exports_quantizes_keys_artifacts_or_gates():
    """One stack: export, fusion, quantization, artifact keys, ORT sessions and the gate rule live in
    lib.compress / lib.formats / lib.engines / lib.evaluate.gate, never in lib/rerank."""
    forbidden = r"torch\.onnx\.export|quantize_(static|dynamic)|optimize_model|InferenceSession|ort_session|" \
                r"settings_key\(opset|artifact_dir|def (check|fastest_passing|decide)\b|onnxruntime"
    rerank = Path(__file__).resolve().parents[2] / "lib" / "rerank"
    hits = {p.name: re.findall(forbidden, p.read_text(encoding="utf-8")) for p in rerank.glob("*.py")}
    assert not {k: v for k, v in hits.items() if v}
