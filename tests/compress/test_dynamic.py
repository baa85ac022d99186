"""The one dynamic INT8 recipe (lib.compress.dynamic)."""

from __future__ import annotations

from lib.compress import dynamic, graph
from lib.compress.export import fused_onnx, fusion_stats
from lib.engines import ort as ort_engine
from lib.evaluate import retrieval


def test_dynamic_int8_per_channel_and_per_tensor(P, cal):
    ref = ort_engine.embed_onnx(cal.unfused, P, cal.held_out)
    paths = set()
    for per_channel in (True, False):
        path = dynamic.dynamic_int8_to(P, per_channel=per_channel)
        paths.add(path)
        assert fusion_stats(path).get("MatMulInteger", 0) > 0
        assert retrieval.mean_cosine(ref, ort_engine.embed_onnx(path, P, cal.held_out)) > 0.99
    assert len(paths) == 2 and dynamic.dynamic_int8(P) == dynamic.dynamic_int8_to(P, per_channel=True)


def test_any_graph_by_path_with_nodes_left_fp32(P, tmp_path):
    src = fused_onnx(P)
    keep = graph.linear_matmuls(src)[:1] or []
    all_int8 = dynamic.dynamic_int8_file(src, tmp_path / "all.onnx")
    fewer = dynamic.dynamic_int8_file(src, tmp_path / "fewer.onnx", nodes_to_exclude=keep)
    assert fusion_stats(fewer).get("MatMulInteger", 0) <= fusion_stats(all_int8)["MatMulInteger"]
    assert (tmp_path / "model-preprocessed.onnx").exists()       # quant_pre_process output, cached beside
