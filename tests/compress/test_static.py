"""The one static INT8 recipe (lib.compress.static)."""

from __future__ import annotations

import numpy as np

from lib.compress import graph, static
from lib.compress.export import fusion_stats
from lib.engines import ort as ort_engine


def test_decomposed_smoothquant_equals_the_ort_hook(P, cal, tmp_path):
    """Our two-step route (INC smoothing, then quantize_static) gives the hook's model."""
    smoothed = static.smoothed_fp32(cal.unfused, cal.feeds, 0.5, tmp_path)
    mine = static.static_int8(smoothed, tmp_path / "mine.onnx", cal.feeds, "QOperator")
    hook = static.static_int8(cal.unfused, tmp_path / "hook.onnx", cal.feeds, "QOperator", smoothquant_alpha=0.5)
    a = ort_engine.embed_onnx(mine, P, cal.held_out)
    b = ort_engine.embed_onnx(hook, P, cal.held_out)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_exclusion_keeps_matmuls_fp32_and_only_quantizes_those_named(cal, tmp_path):
    nodes = graph.linear_matmuls(cal.unfused)
    out = static.static_int8(cal.unfused, tmp_path / "x.onnx", cal.feeds, "QOperator", exclude=nodes[:3])
    assert fusion_stats(out)["QLinearMatMul"] == len(nodes) - 3
    one = static.static_int8(cal.unfused, tmp_path / "one.onnx", cal.feeds, "QOperator", only=nodes[:1])
    assert fusion_stats(one)["QLinearMatMul"] == 1


def test_unfolded_smoothing_keeps_its_scales_visible(cal, tmp_path):
    folded = static.smoothed_fp32(cal.unfused, cal.feeds, 0.5, tmp_path)
    unfolded = static.smoothed_fp32(cal.unfused, cal.feeds, 0.5, tmp_path, folding=False)
    assert folded != unfolded and "unfolded" in unfolded.name

    def scales(path):
        import onnx
        return [i.name for i in onnx.load(str(path)).graph.initializer if i.name.endswith("_smooth_scale")]
    assert len(scales(unfolded)) > 0


def test_cached_build_is_reused_and_a_torn_one_rebuilt(cal, tmp_path):
    out = tmp_path / "c.onnx"
    static.cached_static_int8(cal.unfused, out, cal.feeds)
    stamp = out.stat().st_mtime_ns
    assert static.cached_static_int8(cal.unfused, out, cal.feeds) == out and out.stat().st_mtime_ns == stamp
    out.write_bytes(out.read_bytes()[:100])
    static.cached_static_int8(cal.unfused, out, cal.feeds)
    assert fusion_stats(out).get("QuantizeLinear", 0) > 0


def test_quant_format_is_checked(cal, tmp_path):
    import pytest
    with pytest.raises(ValueError, match="quant_format"):
        static.static_int8(cal.unfused, tmp_path / "x.onnx", cal.feeds, "QInt8")
