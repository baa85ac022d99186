"""Activation-outlier statistics (lib.analysis.outliers), hand-computed; smoothing scales read back from a graph."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.analysis import outliers


def test_channel_max_and_shares():
    x = np.array([[1.0, -6.0, 0.1, 3.0], [-2.6, 2.0, 0.2, 8.0]])  # 2 tokens x 4 channels
    cm = outliers.channel_max(x)
    assert cm.tolist() == [2.6, 6.0, 0.2, 8.0]
    assert outliers.outlier_shares(cm) == {">2.5": 0.75, ">5": 0.5, ">7.5": 0.25}


def test_real_tokens_drops_padding():
    x = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)
    mask = np.array([[1, 1, 0], [1, 0, 0]])
    assert outliers.real_tokens(x, mask).tolist() == [[0, 1], [2, 3], [6, 7]]


def test_choose_nodes_negative_layers():
    t = pd.DataFrame({"node": [f"n{i}{k}" for i in range(3) for k in "qf"], "layer": [0, 0, 1, 1, 2, 2],
                      "kind": ["q", "ffn-in"] * 3})
    sel = outliers.choose_nodes(t, [-1], ["ffn-in", "q"])
    assert sel.node.tolist() == ["n2f", "n2q"]
    with pytest.raises(ValueError, match="available kinds"):
        outliers.choose_nodes(t, [0], ["v"])


def test_smooth_scales_read_back_from_graph(tmp_path):
    """ORTSmoothQuant (folding off) stores 1/s as '<node>_smooth_scale'; we return s."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    inits = [numpy_helper.from_array(np.array([0.5, 0.25], np.float32), "mm_smooth_scale"),
             numpy_helper.from_array(np.ones((2, 3), np.float32), "w")]
    nodes = [helper.make_node("Mul", ["x", "mm_smooth_scale"], ["mm_smooth_output"], name="mm_smooth_mul"),
             helper.make_node("MatMul", ["mm_smooth_output", "w"], ["y"], name="mm")]
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits)), path)
    s = outliers.smooth_scales(path)
    assert list(s) == ["mm"] and s["mm"].tolist() == [2.0, 4.0]
    t = outliers.matmul_inputs(path)
    assert t[["node", "activation", "weight", "channels"]].values.tolist() == [["mm", "mm_smooth_output", "w", 2]]
