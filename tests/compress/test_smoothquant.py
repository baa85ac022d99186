"""The onnx-int8-smoothquant format and its no-SmoothQuant ablation (lib.compress.smoothquant)."""

from __future__ import annotations

from lib.compress import fallback, graph, smoothquant
from lib.compress.export import fusion_stats
from lib.engines import ort as ort_engine
from lib.evaluate import retrieval


def test_smoothquant_tiny_builds_loadable_static_int8_in_both_formats(P, cal):
    found, _ = fallback.fallback_for(P, cal, P.smoothquant_alpha, "QOperator")
    ref = ort_engine.embed_onnx(cal.unfused, P, cal.held_out)
    for qf, op in (("QOperator", "QLinearMatMul"), ("QDQ", "QuantizeLinear")):
        path = smoothquant.smoothquant_int8_to(P, quant_format=qf, keep_fp32=found.keep_fp32)
        assert fusion_stats(path).get(op, 0) > 0
        vec = ort_engine.embed_onnx(path, P, cal.held_out)
        assert vec.shape == ref.shape and retrieval.mean_cosine(ref, vec) > 0.99


def test_exclusion_keeps_matmuls_fp32(P, cal):
    nodes = graph.linear_matmuls(cal.unfused)
    path = smoothquant.smoothquant_int8_to(P, quant_format="QOperator", keep_fp32=nodes[:3])
    assert fusion_stats(path)["QLinearMatMul"] == len(nodes) - 3


def test_plain_static_is_another_artifact_of_the_same_calibration(P, cal):
    nodes = graph.linear_matmuls(cal.unfused)
    plain = smoothquant.plain_static_int8_to(P, "QOperator", keep_fp32=nodes[:2])
    sq = smoothquant.smoothquant_int8_to(P, quant_format="QOperator", keep_fp32=nodes[:2])
    assert plain != sq and cal.key in plain.name and fusion_stats(plain)["QLinearMatMul"] == len(nodes) - 2
    assert smoothquant.searched_keep_fp32(P) == fallback.fallback_for(P, cal, P.smoothquant_alpha,
                                                                      P.quant_format)[0].keep_fp32
