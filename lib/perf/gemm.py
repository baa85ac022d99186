"""The machine's GEMM ceiling and the model's GEMM work, so an engine's speed reads as a fraction of
what this CPU's matrix multiply can do.

:func:`linear_macs_per_token` counts the weight MatMuls from the ONNX graph itself; :func:`model_ops`
turns that into operations on the real (unpadded) tokens; :func:`gemm_ceiling` times FP32 / INT8 /
BF16 GEMMs of the model's own weight shapes on ONNX Runtime (MLAS), PyTorch and numpy.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from lib.engines.ort import ort_session_options

log = logging.getLogger("lib.perf.gemm")


def linear_macs_per_token(onnx_path: Path) -> dict[str, Any]:
    """Multiply-accumulates per token of the weight MatMuls (2-D initializer as the B input).

    Read from the graph so the count is the model's own; works on unfused graphs (MatMul/Gemm) and
    on quantized ones (MatMulInteger, QLinearMatMul: the weight is then input 1 or 3).
    """
    import onnx

    m = onnx.load(str(onnx_path), load_external_data=False)
    inits = {i.name: tuple(i.dims) for i in m.graph.initializer}
    total, shapes = 0, []
    for node in m.graph.node:
        if node.op_type in ("MatMul", "MatMulInteger", "Gemm"):
            w = node.input[1] if len(node.input) > 1 else ""
        elif node.op_type == "QLinearMatMul":
            w = node.input[3]
        else:
            continue
        dims = inits.get(w)
        if dims is None or len(dims) != 2:
            continue
        k, n = dims
        if node.op_type == "Gemm" and any(a.name == "transB" and a.i == 1 for a in node.attribute):
            n, k = dims
        total += k * n
        shapes.append((int(k), int(n)))
    return {"macs_per_token": int(total), "n_matmuls": len(shapes), "shapes": shapes}


def attention_macs(lengths: np.ndarray, layers: int, hidden: int) -> int:
    """Q.K^T and A.V per sequence: 2 * L^2 * hidden MACs per layer (sequence-dependent part)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return int(2 * layers * hidden * np.sum(lengths ** 2))


def model_ops(lengths: np.ndarray, macs_per_token: int, layers: int, hidden: int) -> dict[str, int]:
    """Operations (2 per MAC) on real tokens: the linear MatMuls and the attention products."""
    linear = 2 * macs_per_token * int(np.sum(lengths))
    attn = 2 * attention_macs(lengths, layers, hidden)
    return {"linear_ops": linear, "attention_ops": attn, "total_ops": linear + attn,
            "tokens": int(np.sum(lengths))}


def _time_call(fn: Callable[[], Any], min_time: float = 0.2, repeats: int = 5) -> float:
    """Median seconds per call, each sample long enough to dwarf timer overhead."""
    fn()
    n, t0 = 1, time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-6)
    n = max(1, int(min_time / one))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n)
    return statistics.median(samples)


def _ort_gemm_session(M: int, K: int, N: int, int8: bool, threads: int):
    """One-node ONNX graph: MatMul (FP32) or MatMulInteger u8 x s8 (what dynamic INT8 runs)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper


    rng = np.random.default_rng(0)
    if int8:
        w = numpy_helper.from_array(rng.integers(-127, 128, (K, N), dtype=np.int8), "B")
        azp = numpy_helper.from_array(np.array(128, np.uint8), "azp")
        bzp = numpy_helper.from_array(np.array(0, np.int8), "bzp")
        node = helper.make_node("MatMulInteger", ["A", "B", "azp", "bzp"], ["Y"])
        a_type, y_type, inits = TensorProto.UINT8, TensorProto.INT32, [w, azp, bzp]
    else:
        w = numpy_helper.from_array(rng.standard_normal((K, N), dtype=np.float32), "B")
        node = helper.make_node("MatMul", ["A", "B"], ["Y"])
        a_type, y_type, inits = TensorProto.FLOAT, TensorProto.FLOAT, [w]
    graph = helper.make_graph([node], "gemm", [helper.make_tensor_value_info("A", a_type, [M, K])],
                              [helper.make_tensor_value_info("Y", y_type, [M, N])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), ort_session_options(threads),
                                providers=["CPUExecutionProvider"])
    a = (rng.integers(0, 256, (M, K), dtype=np.uint8) if int8
         else rng.standard_normal((M, K), dtype=np.float32))
    return lambda: sess.run(None, {"A": a})


def gemm_ceiling(shapes: Sequence[tuple[int, int]], rows: Sequence[int] = (256, 2048),
                 threads: int | None = None, backends: Sequence[str] = ("ort", "torch", "numpy")
                 ) -> dict[str, Any]:
    """Throughput of FP32 / INT8 (/ BF16) GEMMs on the model's weight shapes, ops per second.

    For each backend, dtype and row count M, times one pass over the distinct (K, N) weight shapes
    (as many times as the model has them) and reports 2*M*K*N / seconds; the ceiling is the best.
    """
    threads = threads or os.cpu_count() or 1
    counts: dict[tuple[int, int], int] = {}
    for s in shapes:
        counts[tuple(s)] = counts.get(tuple(s), 0) + 1
    runs: list[dict] = []

    def measure(backend: str, dtype: str, M: int, make: Callable[[int, int, int], Callable[[], Any]]):
        secs, ops = 0.0, 0
        for (K, N), c in counts.items():
            secs += c * _time_call(make(M, K, N))
            ops += c * 2 * M * K * N
        runs.append({"backend": backend, "dtype": dtype, "rows": M, "ops_per_s": ops / secs})

    for M in rows:
        if "ort" in backends:
            measure("onnxruntime-mlas", "fp32", M, lambda m, k, n: _ort_gemm_session(m, k, n, False, threads))
            measure("onnxruntime-mlas", "int8", M, lambda m, k, n: _ort_gemm_session(m, k, n, True, threads))
        if "torch" in backends:
            import torch
            torch.set_num_threads(threads)

            def t_mm(dt):
                def make(m, k, n):
                    a = torch.randn(m, k).to(dt)
                    b = torch.randn(k, n).to(dt)
                    return lambda: torch.mm(a, b)
                return make

            def t_int(m, k, n):
                a = torch.randint(-127, 127, (m, k), dtype=torch.int8)
                b = torch.randint(-127, 127, (k, n), dtype=torch.int8)
                return lambda: torch._int_mm(a, b)

            measure("torch", "fp32", M, t_mm(torch.float32))
            measure("torch", "bf16", M, t_mm(torch.bfloat16))
            try:
                measure("torch", "int8", M, t_int)
            except RuntimeError as err:  # _int_mm shape/CPU support varies by build
                log.warning("torch._int_mm unavailable: %s", err)
        if "numpy" in backends:
            def np_mm(m, k, n):
                a = np.random.default_rng(0).standard_normal((m, k), dtype=np.float32)
                b = np.random.default_rng(1).standard_normal((k, n), dtype=np.float32)
                return lambda: a @ b
            measure("numpy", "fp32", M, np_mm)
    best = {}
    for dt in ("fp32", "int8", "bf16"):
        cands = [r for r in runs if r["dtype"] == dt]
        if cands:
            b = max(cands, key=lambda r: r["ops_per_s"])
            best[dt] = {"ops_per_s": b["ops_per_s"], "backend": b["backend"], "rows": b["rows"]}
    return {"threads": threads, "shapes": [list(k) + [c] for k, c in counts.items()], "runs": runs,
            "ceiling": best}
