"""Quantized indexes: int8 and binary codes of a partition's vectors, their exact top-m, and rescoring.

The field's recipe (sentence-transformers' ``quantize_embeddings`` and its rescoring guide): keep small
codes in memory, find the best ``m = rescore_multiplier x k`` candidates per query on the codes, then
rescore those candidates with the full-precision vectors. Here:

* **Codes** (:func:`encode`) are sentence-transformers' own: int8 = ``floor((x - min) / step) - 128`` per
  dimension, clipped, ``step = (max - min) / 255``, the ranges calibrated on the partition's own vectors and
  stored with its codes; binary = the sign bits, packed (``ubinary``). The formula is reproduced here
  because importing ``sentence_transformers`` imports torch, which the workers never load (a test checks
  the codes are equal to the library's, bit for bit).
* **Search over the codes** is an exact scan of them with ONNX Runtime's integer GEMM (``MatMulInteger``,
  unsigned x signed 8-bit, VNNI where the CPU has it) and ``TopK`` in one graph: the query stays float
  and is asymmetric to the codes (int8: ``q * step`` per dimension; binary: ``q`` against the bits), cut to
  8 bits per query (:func:`query_weights`). Measured on this project's CPU (``make scale``) against FAISS
  ``IndexScalarQuantizer`` (float decoding per pair, slower than the exact float scan here) and
  ``IndexBinaryFlat`` (symmetric Hamming: lower recall at a given m, slower here, and its ties are not
  broken by id). Integer scores tie often; ``TopK`` keeps equal values in index order, so candidates are
  one defined set whatever the machine.
* **Approximate scores** (:func:`code_topk`) estimate the dot product, so candidates of different
  partitions (int8: each with its own ranges) merge by them; **rescoring** (:func:`rescore_pairs`)
  replaces them with exact float dot products of the candidates' stored vectors, and the final order is
  by score, then by the lower id, as the exact search's.
"""

from __future__ import annotations

import functools

import numpy as np

from lib.search.topk import graph_session, merge_topk

CODE_KINDS = ("int8", "binary")
INDEXES = ("exact",) + CODE_KINDS
# Codes per GEMM block: the int32 score block is (queries x block); 16,384 keeps it at 128 MiB for 2,000
# queries and is where ORT's integer GEMM reaches its speed here.
CODE_BLOCK = 16384


def check_kind(kind: str) -> str:
    if kind not in CODE_KINDS:
        raise ValueError(f"quantized index {kind!r}: choose one of {CODE_KINDS} (or 'exact')")
    return kind


def int8_ranges(vectors: np.ndarray) -> np.ndarray:
    """Per-dimension (min, max) of ``vectors``: the int8 calibration, shape (2, dim), float32."""
    v = np.asarray(vectors, dtype=np.float32)
    if len(v) == 0:
        raise ValueError("int8 codes: no vectors to calibrate the ranges on")
    return np.vstack((v.min(axis=0), v.max(axis=0))).astype(np.float32)


def _steps(ranges: np.ndarray) -> np.ndarray:
    steps = (ranges[1] - ranges[0]) / 255
    return np.where(steps == 0, 1, steps).astype(np.float32)  # a constant dimension: every code -128


def encode(kind: str, vectors: np.ndarray) -> dict[str, np.ndarray]:
    """The codes of ``vectors`` (rows), as stored beside them: ``{'codes'}`` (binary: uint8, dim/8 bytes a
    row) or ``{'codes', 'ranges'}`` (int8: int8 codes and the (2, dim) ranges they were calibrated with)."""
    v = np.asarray(vectors, dtype=np.float32)
    if check_kind(kind) == "binary":
        return {"codes": np.packbits(v > 0, axis=-1)}
    ranges = int8_ranges(v)
    q = np.clip(np.floor((v - ranges[0]) / _steps(ranges)), 0, 255)
    return {"codes": (q - 128).astype(np.int8), "ranges": ranges}


def code_bytes(kind: str, rows: int, dim: int) -> int:
    """Memory of ``rows`` codes of a ``dim``-wide vector (the ranges aside)."""
    return rows * (dim if check_kind(kind) == "int8" else -(-dim // 8))


def query_weights(kind: str, queries: np.ndarray, ranges: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a query multiplies the codes with, cut to 8 bits: (uint8 weights with zero point 128, their
    per-query scale, the per-query offset), so that ``scale * (codes . (u - 128)) + offset`` estimates
    the dot product with the vector the codes stand for.

    int8: a code ``c`` stands for ``min + (c + 128.5) * step`` (the middle of its bucket), so
    ``q . x ~ q . min + 128.5 * (q * step).sum() + (q * step) . c``; binary: a bit stands for the sign,
    ``q . x ~ (2 * q . b - q.sum()) / sqrt(dim)`` for a unit vector spread evenly over its dimensions."""
    q = np.asarray(queries, dtype=np.float32)
    if check_kind(kind) == "int8":
        if ranges is None:
            raise ValueError("int8 codes need their ranges")
        step = _steps(ranges)
        w = q * step
        offset = q @ ranges[0] + 128.5 * w.sum(axis=1)
    else:
        norm = np.float32(1 / np.sqrt(q.shape[1]))
        w = 2 * norm * q
        offset = -norm * q.sum(axis=1)
    peak = np.abs(w).max(axis=1)
    scale = np.where(peak > 0, peak / 127, 1).astype(np.float32)
    u = (np.clip(np.rint(w / scale[:, None]), -127, 127) + 128).astype(np.uint8)
    return u, scale, offset.astype(np.float32)


def code_topk(kind: str, queries: np.ndarray, codes: np.ndarray, m: int, ranges: np.ndarray | None = None,
              block: int = CODE_BLOCK, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The best ``m`` rows of ``codes`` per query: (approximate scores, row indices), best first, equal
    integer scores in row order. An exact scan of the codes, block by block (binary rows are unpacked one
    block at a time, so memory holds the packed codes plus one block)."""
    if len(codes) == 0:
        raise ValueError(f"code_topk: no codes to search ({len(queries)} queries)")
    q = np.ascontiguousarray(queries, dtype=np.float32)
    dim = q.shape[1]
    u, scale, offset = query_weights(kind, q, ranges)
    session = _int_topk_session(dim, threads)
    zero = np.array(128, dtype=np.uint8)
    n, m_eff = len(codes), min(m, len(codes))
    best_s = np.empty((len(q), 0), dtype=np.float32)
    best_i = np.empty((len(q), 0), dtype=np.int64)
    for s in range(0, n, block):
        e = min(s + block, n)
        c = codes[s:e] if kind == "int8" else np.unpackbits(codes[s:e], axis=1, count=dim).view(np.int8)
        kk = np.array([min(m_eff, e - s)], dtype=np.int64)
        v, i = session.run(None, {"U": u, "C": np.ascontiguousarray(c), "Z": zero, "K": kk})
        approx = v.astype(np.float32) * scale[:, None] + offset[:, None]
        best_s, best_i = merge_topk(best_s, best_i, approx, i + s, m_eff)
    return best_s, best_i


@functools.lru_cache(maxsize=8)
def _int_topk_session(dim: int, threads: int | None):
    """``TopK(MatMulInteger(U, Transpose(C), 128), K)`` on the CPU: U uint8 (queries x dim), C int8 (rows x
    dim), int32 scores; one session per width and thread count in a process."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Transpose", ["C"], ["CT"], perm=[1, 0]),
             helper.make_node("MatMulInteger", ["U", "CT", "Z"], ["S"]),
             helper.make_node("TopK", ["S", "K"], ["V", "I"], axis=1, largest=1, sorted=1)]
    return graph_session("int_topk", nodes, [("U", TensorProto.UINT8, ["q", dim]), ("C", TensorProto.INT8, ["n", dim]),
                                             ("Z", TensorProto.UINT8, []), ("K", TensorProto.INT64, [1])],
                         [("V", TensorProto.INT32, ["q", "k"]), ("I", TensorProto.INT64, ["q", "k"])], threads)


def rescore_pairs(queries: np.ndarray, query_rows: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Exact dot products of ``queries[query_rows[j]]`` with ``vectors[j]`` (float32, one per pair)."""
    q = np.asarray(queries, dtype=np.float32)[np.asarray(query_rows, dtype=np.int64)]
    return np.einsum("ij,ij->i", q, np.asarray(vectors, dtype=np.float32)).astype(np.float32)


def best_by_score(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the ``k`` best (score, id) pairs by score, then by the lower id (the exact search's order);
    ids of -1 (no candidate) come last."""
    s = np.where(ids < 0, -np.inf, scores).astype(np.float32)
    order = np.lexsort((np.where(ids < 0, np.iinfo(np.int64).max, ids), -s), axis=1)[:, :k]
    return np.take_along_axis(s, order, 1), np.take_along_axis(ids, order, 1)


def quantized_topk(queries: np.ndarray, vectors: np.ndarray, k: int, kind: str, m: int,
                   threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The whole recipe on arrays in memory (no store): codes of ``vectors``, the best ``m`` per query on
    them, rescored with the float vectors; (exact scores, indices), best first, ties by the lower index."""
    codes = encode(kind, vectors)
    _, cand = code_topk(kind, queries, codes["codes"], m, codes.get("ranges"), threads=threads)
    rows = np.repeat(np.arange(len(cand)), cand.shape[1])
    exact = rescore_pairs(queries, rows, np.asarray(vectors)[cand.ravel()]).reshape(cand.shape)
    return best_by_score(exact, cand, k)
