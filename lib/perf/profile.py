"""Where an ONNX Runtime engine's time goes: ORT's own per-op profiler, summarised.

The benchmark asks it of its best INT8 engine, to say what keeps it from the GEMM ceiling: the GEMM
kernels, the other kernels, ORT's work around them, or the Python around ``session.run`` (tokenizer,
batching, padding, pooling).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Sequence

# Op types that carry the model's linear-layer GEMMs in our graphs (fused FP32 and quantized).
GEMM_OPS = ("MatMul", "FusedMatMul", "Gemm", "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul",
            "QLinearMatMul", "Attention", "QAttention")


def ort_op_profile(encoder, texts: Sequence[str]) -> dict[str, Any]:
    """Profile one pass of ``encoder`` over ``texts`` after one warm-up pass.

    ``encoder``: an ORT engine opened with the profiler on (``lib.engines.ort.onnx_encoder(...,
    extra_options={"enable_profiling": True, "profile_file_prefix": ...})``): it has ``encode``,
    ``session`` and ``batch_times`` (one entry per ``session.run``). Returns the pass's wall time, the
    time inside ``session.run``, kernel time per op type and its GEMM share; the trace file is read, then
    removed.
    """
    encoder.encode(texts)
    n_warm = len(encoder.batch_times)
    t0 = time.perf_counter()
    encoder.encode(texts)
    wall = time.perf_counter() - t0
    trace = Path(encoder.session.end_profiling())
    events = json.loads(trace.read_text())
    runs = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])
    if len(runs) <= n_warm:
        raise RuntimeError(f"{trace}: {len(runs)} model_run events for {n_warm} warm-up + "
                           f"{len(encoder.batch_times) - n_warm} profiled calls")
    cut = runs[n_warm]["ts"]
    by_op: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "Node" and e.get("ts", -1) >= cut and str(e.get("name", "")).endswith("_kernel_time"):
            op = e.get("args", {}).get("op_name", "?")
            by_op[op] = by_op.get(op, 0.0) + e["dur"] / 1e6
    session_s = sum(e["dur"] for e in runs[n_warm:]) / 1e6
    trace.unlink()
    return {"texts": len(texts), "ort_calls": len(encoder.batch_times) - n_warm, "wall_s": wall,
            "session_run_s": session_s, "outside_ort_s": max(wall - session_s, 0.0),
            "kernel_s": sum(by_op.values()),
            "by_op_s": dict(sorted(by_op.items(), key=lambda kv: -kv[1])),
            "gemm_op_s": sum(v for k, v in by_op.items() if k in GEMM_OPS)}
