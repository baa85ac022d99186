"""Exact top-k by inner product, blocked so memory stays bounded: the one exact search of lib.

Targets are scanned block by block; each block's top-k is merged into the running top-k. Ties are broken
by index (the lower target index first) in the block and in the merge, so the result is one defined
answer whatever the backend or block size: exactly what a stable sort of every score would give.

Two backends compute the blocks (the benchmark, ``bench/search.py``, times both against FAISS):
``torch`` (PyTorch GEMM + ``torch.topk``, the default) and ``ort`` (ONNX Runtime Gemm + TopK in one
graph: no torch import, and at 1M targets a quarter of the peak memory, at about the same speed).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from lib.engines.ort import ort_session_options

BACKENDS = ("torch", "ort")

# Targets per block: the score block is (query_block x block) float32, 1 GiB for torch at the defaults;
# ONNX Runtime reaches the same throughput on smaller blocks.
DEFAULT_BLOCK = {"torch": 65536, "ort": 16384}

BlockTopk = Callable[[int, int, int, int], tuple[np.ndarray, np.ndarray]]


def topk(queries: np.ndarray, targets: np.ndarray, k: int = 10, block: int | None = None,
         query_block: int = 4096, backend: str = "torch", threads: int | None = None
         ) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product: (scores, indices), each (n_queries, min(k, n_targets)), best first,
    equal scores in index order. ``block``: targets per block (default :data:`DEFAULT_BLOCK`);
    ``threads``: ONNX Runtime's intra-op threads (``ort`` backend; torch keeps its own setting).

    No targets is an error here: the (n_queries, 0) result would only fail later, far from the cause.
    """
    if len(targets) == 0:
        raise ValueError(f"topk: no targets to search ({len(queries)} queries)")
    if backend not in BACKENDS:
        raise ValueError(f"topk: unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    q_all = np.ascontiguousarray(queries, dtype=np.float32)
    t_all = np.ascontiguousarray(targets, dtype=np.float32)
    n_t, k_eff = len(t_all), min(k, len(t_all))
    block = block or DEFAULT_BLOCK[backend]
    out_s = np.empty((len(q_all), k_eff), dtype=np.float32)
    out_i = np.empty((len(q_all), k_eff), dtype=np.int64)
    block_topk = (_torch_blocks if backend == "torch" else _ort_blocks)(q_all, t_all, threads)
    for qs in range(0, len(q_all), query_block):
        qe = min(qs + query_block, len(q_all))
        best_s = np.empty((qe - qs, 0), dtype=np.float32)
        best_i = np.empty((qe - qs, 0), dtype=np.int64)
        for ts in range(0, n_t, block):
            s, i = block_topk(qs, qe, ts, min(ts + block, n_t), k_eff)
            best_s, best_i = merge_topk(best_s, best_i, s, i + ts, k_eff)
        out_s[qs:qe], out_i[qs:qe] = best_s, best_i
    return out_s, out_i


def merge_topk(scores_a: np.ndarray, idx_a: np.ndarray, scores_b: np.ndarray, idx_b: np.ndarray,
               k: int) -> tuple[np.ndarray, np.ndarray]:
    """The top-k of two candidate sets per row, by score then by index (lower first)."""
    s = np.concatenate([scores_a, scores_b], axis=1)
    i = np.concatenate([idx_a, idx_b], axis=1)
    order = np.lexsort((i, -s), axis=1)[:, :k]
    return np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)


def _torch_blocks(q: np.ndarray, t: np.ndarray, threads: int | None) -> BlockTopk:
    """Score blocks with PyTorch (``q @ t.T``, as lib always has: the same scores to the bit) and their
    top-k with ``torch.topk``, whose choice among values equal to the k-th is arbitrary. One more value
    is taken to see it: a row whose (k+1)-th value equals its k-th has a tie across the cut, and is
    redone with a stable sort (rare: exact ties); otherwise every value equal to the k-th is kept."""
    import torch

    q_t, t_t = torch.from_numpy(q), torch.from_numpy(t)

    def block_topk(qs: int, qe: int, ts: int, te: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        s = q_t[qs:qe] @ t_t[ts:te].T
        kk = min(k, s.shape[1])
        v, i = torch.topk(s, min(kk + 1, s.shape[1]), dim=1)
        if v.shape[1] > kk:
            cut = (v[:, kk] == v[:, kk - 1]).nonzero().flatten()
            if len(cut):
                o = torch.sort(s[cut], dim=1, descending=True, stable=True)
                v[cut], i[cut] = o.values[:, :kk + 1], o.indices[:, :kk + 1]
        return v[:, :kk].numpy(), i[:, :kk].numpy()
    return block_topk


def _ort_blocks(q: np.ndarray, t: np.ndarray, threads: int | None) -> BlockTopk:
    """Score blocks and their top-k in one ONNX Runtime graph (Gemm, TopK); ONNX's TopK puts equal
    values in index order, the merge's order."""
    session = _gemm_topk_session(q.shape[1], threads)

    def block_topk(qs: int, qe: int, ts: int, te: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        kk = np.array([min(k, te - ts)], dtype=np.int64)
        v, i = session.run(None, {"Q": q[qs:qe], "T": t[ts:te], "K": kk})
        return v, i
    return block_topk


def _gemm_topk_session(dim: int, threads: int | None):
    """``TopK(Gemm(Q, T^T), K)`` on the CPU with lib's ORT session options."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Gemm", ["Q", "T"], ["S"], transB=1),
             helper.make_node("TopK", ["S", "K"], ["V", "I"], axis=1, largest=1, sorted=1)]
    inputs = [("Q", TensorProto.FLOAT, ["q", dim]), ("T", TensorProto.FLOAT, ["n", dim]), ("K", TensorProto.INT64, [1])]
    outputs = [("V", TensorProto.FLOAT, ["q", "k"]), ("I", TensorProto.INT64, ["q", "k"])]
    return graph_session("gemm_topk", nodes, inputs, outputs, threads)


def graph_session(name: str, nodes: list, inputs: list[tuple], outputs: list[tuple], threads: int | None):
    """An ONNX Runtime CPU session (lib's session options) over a small graph built here: ``nodes`` with
    ``inputs`` / ``outputs`` given as (name, ONNX element type, shape); opset 14, IR 8."""
    import onnxruntime as ort
    from onnx import helper

    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info(*i) for i in inputs],
                              [helper.make_tensor_value_info(*o) for o in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    return ort.InferenceSession(model.SerializeToString(), ort_session_options(threads),
                                providers=["CPUExecutionProvider"])
