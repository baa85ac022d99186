"""lib.perf.gemm: the model's GEMM work read from its graph, and the machine's GEMM ceiling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from lib.perf import gemm


def _graph_with_weights(tmp_path: Path) -> Path:
    """MatMul [K=4,N=6], Gemm transB [N=3,K=6], MatMulInteger [6,2], one activation x activation MatMul."""
    inits = [numpy_helper.from_array(np.zeros((4, 6), np.float32), "W1"),
             numpy_helper.from_array(np.zeros((3, 6), np.float32), "W2"),
             numpy_helper.from_array(np.zeros((6, 2), np.int8), "W3")]
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["h1"]),
             helper.make_node("Gemm", ["h1", "W2"], ["h2"], transB=1),
             helper.make_node("MatMulInteger", ["u", "W3"], ["h3"]),
             helper.make_node("MatMul", ["h1", "h1t"], ["h4"])]  # no initializer: not counted
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                          [helper.make_tensor_value_info("h2", TensorProto.FLOAT, [2, 3])], inits)
    path = tmp_path / "g.onnx"
    path.write_bytes(helper.make_model(g).SerializeToString())
    return path


def test_linear_macs_hand_graph(tmp_path):
    res = gemm.linear_macs_per_token(_graph_with_weights(tmp_path))
    assert res["macs_per_token"] == 4 * 6 + 6 * 3 + 6 * 2
    assert sorted(map(tuple, res["shapes"])) == [(4, 6), (6, 2), (6, 3)]


def test_model_ops_hand_computed():
    ops = gemm.model_ops(np.array([3, 5]), macs_per_token=10, layers=2, hidden=4)
    assert ops["tokens"] == 8
    assert ops["linear_ops"] == 2 * 10 * 8
    assert ops["attention_ops"] == 2 * (2 * 2 * 4 * (9 + 25))
    assert ops["total_ops"] == 160 + 1088


def test_tiny_bert_macs_per_token():
    """The tiny test BERT (hidden 64, FFN 256, 2 layers): 2 * (4*64*64 + 2*64*256) MACs per token."""
    from lib import params
    from lib.compress import export
    res = gemm.linear_macs_per_token(export.unfused_onnx(params.load("tiny")))
    assert res["macs_per_token"] == 2 * (4 * 64 * 64 + 2 * 64 * 256)
    assert res["n_matmuls"] == 12


def test_gemm_ceiling_schema():
    g = gemm.gemm_ceiling([(32, 64), (32, 64), (64, 32)], rows=(32,), threads=1, backends=("ort", "numpy"))
    assert {r["dtype"] for r in g["runs"]} == {"fp32", "int8"}
    assert g["ceiling"]["int8"]["backend"] == "onnxruntime-mlas"
    assert [32, 64, 2] in g["shapes"]
    assert all(r["ops_per_s"] > 0 for r in g["runs"])
