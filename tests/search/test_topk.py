"""lib.search.topk: the one blocked exact top-k (torch and ONNX Runtime backends), ties broken by index."""

from __future__ import annotations

import numpy as np
import pytest

from lib.search import topk


def _topk_before(queries: np.ndarray, targets: np.ndarray, k: int, block: int = 65536, query_block: int = 4096):
    """lib's top-k before the benchmark's ORT search joined it (commit 2817455), verbatim in substance."""
    import torch

    q_all, t_all = torch.from_numpy(queries), torch.from_numpy(targets)
    k_eff = min(k, len(targets))
    out_s, out_i = [], []
    with torch.inference_mode():
        for qs in range(0, len(q_all), query_block):
            q = q_all[qs:qs + query_block]
            best_s = torch.full((len(q), k_eff), -torch.inf)
            best_i = torch.zeros((len(q), k_eff), dtype=torch.int64)
            for ts in range(0, len(t_all), block):
                bs, bi = torch.topk(q @ t_all[ts:ts + block].T, min(k_eff, len(t_all[ts:ts + block])), dim=1)
                best_s, pos = torch.topk(torch.cat([best_s, bs], 1), k_eff, dim=1)
                best_i = torch.gather(torch.cat([best_i, bi + ts], 1), 1, pos)
            out_s.append(best_s.numpy())
            out_i.append(best_i.numpy())
    return np.concatenate(out_s), np.concatenate(out_i)


def _unit(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _stable_reference(q: np.ndarray, t: np.ndarray, k: int) -> np.ndarray:
    """Every score sorted, best first, equal scores in index order."""
    return np.argsort(-(q @ t.T), axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("block,query_block", [(None, 4096), (700, 64), (97, 50)])
def test_same_results_as_before_on_random_data(block, query_block):
    q, t = _unit(150, 32, 1), _unit(3000, 32, 0)
    s_old, i_old = _topk_before(q, t, 10, block or 65536, query_block)
    s, i = topk.topk(q, t, 10, block=block, query_block=query_block)
    np.testing.assert_array_equal(i, i_old)
    np.testing.assert_array_equal(s, s_old)                     # same GEMM, same blocks: the same bits
    s_ort, i_ort = topk.topk(q, t, 10, block=block, query_block=query_block, backend="ort", threads=1)
    np.testing.assert_array_equal(i_ort, i_old)
    np.testing.assert_allclose(s_ort, s_old, atol=1e-5)


@pytest.mark.parametrize("backend", topk.BACKENDS)
@pytest.mark.parametrize("block", [None, 700, 29])
def test_ties_are_broken_by_index(backend, block):
    """Exact ties (small integers, whose dot products are exact in float32 on every instruction set):
    the indices of a stable sort of every score, whatever the backend and block size. (The torch.topk
    merge before this chose among equal scores arbitrarily: same scores, other indices.)"""
    rng = np.random.default_rng(0)
    ti = rng.integers(-2, 3, (2000, 8)).astype(np.float32)
    qi = rng.integers(-2, 3, (80, 8)).astype(np.float32)
    s, i = topk.topk(qi, ti, 10, block=block, backend=backend, threads=1)
    np.testing.assert_array_equal(i, _stable_reference(qi, ti, 10))
    np.testing.assert_array_equal(s, np.take_along_axis(qi @ ti.T, i, 1))


@pytest.mark.parametrize("backend", topk.BACKENDS)
@pytest.mark.parametrize("block", [None, 700, 29])
def test_duplicated_rows_come_out_in_index_order(backend, block):
    """Random float data with duplicated target rows. A GEMM's rounding may depend on where a row sits
    in its kernel's tile (AVX-512 kernels treat tile tails apart), so duplicates need not score equal
    to the bit, nor equal numpy's scores: the contract is the order of what the backend scored: best
    first, equal scores in index order, and the same set as a reference sort wherever scores are apart."""
    rng = np.random.default_rng(0)
    t = rng.standard_normal((3000, 32), dtype=np.float32)
    t[rng.choice(3000, 600)] = t[rng.choice(3000, 600)]
    q = rng.standard_normal((120, 32), dtype=np.float32)
    s, i = topk.topk(q, t, 10, block=block, query_block=50, backend=backend, threads=1)
    assert (np.diff(s, axis=1) <= 0).all()
    tied = np.diff(s, axis=1) == 0
    assert (np.diff(i, axis=1)[tied] > 0).all()
    ref = q @ t.T
    want = np.sort(ref, axis=1)[:, ::-1][:, :10]
    np.testing.assert_allclose(s, want, atol=1e-5)
    if backend == "torch":
        np.testing.assert_array_equal(s, _topk_before(q, t, 10, block or 65536, 50)[0])


def test_merge_keeps_the_best_and_orders_ties_by_index():
    s, i = topk.merge_topk(np.array([[0.9, 0.5]], np.float32), np.array([[7, 3]]),
                           np.array([[0.5, 0.5, 0.95]], np.float32), np.array([[1, 9, 4]]), 3)
    assert i.tolist() == [[4, 7, 1]] and s[0].tolist() == pytest.approx([0.95, 0.9, 0.5])


def test_k_larger_than_targets_and_errors():
    q, t = _unit(4, 8, 0), _unit(3, 8, 1)
    for backend in topk.BACKENDS:
        s, i = topk.topk(q, t, k=5, backend=backend, block=2)
        assert s.shape == i.shape == (4, 3) and sorted(i[0].tolist()) == [0, 1, 2]
    with pytest.raises(ValueError, match="unknown backend 'faiss'"):
        topk.topk(q, t, backend="faiss")
    with pytest.raises(ValueError, match="no targets"):
        topk.topk(q, t[:0], backend="ort")


def test_topk_rejects_empty_targets():
    with pytest.raises(ValueError, match="no targets"):
        topk.topk(np.ones((2, 4), np.float32), np.zeros((0, 4), np.float32), k=3)
