"""lib.perf.profile: ORT's per-op profile of an ONNX Runtime engine, summarised."""

from __future__ import annotations

from lib.perf import profile


def test_ort_op_profile_tiny(tmp_path):
    """Kernel time per op type, inside the pass's wall time; the trace is summarised, then removed."""
    from lib import params
    from lib.compress import export
    from lib.engines import hub
    from lib.engines.ort import onnx_encoder

    P = params.load("tiny", threads=1, ort_token_budget=32)
    enc = onnx_encoder(P, "onnx-fp32", export.fused_onnx(P), model_dir=hub.resolve_model_dir(P),
                       extra_options={"enable_profiling": True, "profile_file_prefix": str(tmp_path / "p")})
    texts = ["abnormal heart", "pain", "small hand and foot with long finger", "fever"] * 10
    p = profile.ort_op_profile(enc, texts)
    assert p["texts"] == 40 and p["ort_calls"] >= 2
    assert 0 < p["kernel_s"] <= p["session_run_s"] <= p["wall_s"]
    assert p["gemm_op_s"] > 0 and set(p["by_op_s"]) & set(profile.GEMM_OPS)
    assert not list(tmp_path.glob("p*.json"))
