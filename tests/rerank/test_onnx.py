"""lib.rerank.onnx: the exported reranker scores as PyTorch does; INT8 (dynamic, SmoothQuant) runs and agrees."""

from __future__ import annotations

import numpy as np
import pytest

from lib.engines.hub import resolve_model_dir
from lib.rerank import evaluate as rev
from lib.rerank import onnx as ro
from lib.rerank import pipeline
from lib.rerank import train as rt


@pytest.fixture(scope="module")
def scored(tiny_setup, tmp_path_factory):
    """A packed tiny reranker (20 steps), its dev-query inputs and the PyTorch FP32 margins."""
    P, _, tr = tiny_setup
    R = P.rerank.model_copy(update={"packed": True})
    path = rt.train(resolve_model_dir(P), tr.examples, R, tmp_path_factory.mktemp("rr") / "run", threads=1,
                    progress=False)
    tok = pipeline.text_tokenizer(path)
    rr = pipeline.Reranker(path, True, R.objective, R, tok, pipeline.special_tokens(path, tok),
                           rt.training_record(path))
    terms = tr.data.dev["query"].tolist()
    ref = rr.score(rr.scorer("torch", P), P, terms, tr.dev.head(4))
    return P, tr, rr, terms, ref


def test_onnx_fp32_scores_as_pytorch(scored):
    P, tr, rr, terms, ref = scored
    m = rr.score(rr.scorer("onnx-fp32", P), P, terms, tr.dev.head(4))
    assert np.array_equal(np.isnan(ref), np.isnan(m)) and (~np.isnan(ref)).sum() > 40
    assert np.nanmax(np.abs(ref - m)) < 1e-4


@pytest.mark.parametrize("fmt", ["onnx-int8-dynamic", "onnx-int8-smoothquant"])
def test_int8_scoring_runs_and_agrees_with_fp32(scored, fmt):
    import onnx

    P, tr, rr, terms, ref = scored
    cal = pipeline.calibration_inputs(rr, tr, 4)
    path = ro.reranker_onnx(rr.path, fmt, P, cal, rr.special.pad)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert ops & {"MatMulInteger", "DynamicQuantizeLinear", "QuantizeLinear", "QLinearMatMul"}   # really INT8
    head = ro.head_matmuls(ro.export_reranker(rr.path, path.parent / "model-unfused.onnx", P.opset))
    assert head and {n.name for n in onnx.load(str(path)).graph.node if n.op_type == "MatMul"} >= set(head)
    m = rr.score(ro.ort_scorer(path, P), P, terms, tr.dev.head(4))
    a = rev.agreement(ref, m)
    assert a["n_scores"] == (~np.isnan(ref)).sum()
    assert a["max_abs_dp"] < 0.02 and a["margin_correlation"] > 0.9, a
