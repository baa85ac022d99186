"""Quantized indexes (lib.search.quantize): the codes are sentence-transformers' own, the scan of the
codes is exact with ties by index, the approximate scores estimate the dot product, rescoring orders by
(score, id)."""

from __future__ import annotations

import numpy as np
import pytest

from lib.search import quantize


def unit(rng, n, dim=48):
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_codes_equal_sentence_transformers_quantize_embeddings():
    from sentence_transformers.util.quantization import quantize_embeddings

    v = unit(np.random.default_rng(0), 300)
    int8 = quantize.encode("int8", v)
    want = quantize_embeddings(v, precision="int8", calibration_embeddings=v)
    assert int8["codes"].dtype == np.int8 and np.array_equal(int8["codes"], want)
    assert np.array_equal(int8["ranges"], np.vstack((v.min(0), v.max(0))))
    binary = quantize.encode("binary", v)["codes"]
    assert binary.dtype == np.uint8 and np.array_equal(binary, quantize_embeddings(v, precision="ubinary"))
    assert binary.shape == (300, 6) and quantize.code_bytes("binary", 300, 48) == binary.nbytes


def test_a_constant_dimension_gives_codes_not_nan():
    v = unit(np.random.default_rng(1), 20)
    v[:, 3] = 0.25
    codes = quantize.encode("int8", v)
    assert (codes["codes"][:, 3] == -128).all()
    u, scale, offset = quantize.query_weights("int8", v[:2], codes["ranges"])
    assert np.isfinite(scale).all() and np.isfinite(offset).all()


@pytest.mark.parametrize("kind", ["int8", "binary"])
def test_the_scan_of_the_codes_is_exact_with_ties_in_row_order(kind):
    rng = np.random.default_rng(2)
    dim = 48
    v = unit(rng, 700, dim)
    v[350:400] = v[300:350]  # duplicates: equal integer scores, which must come in row order
    q = unit(rng, 9, dim)
    stored = quantize.encode(kind, v)
    s, i = quantize.code_topk(kind, q, stored["codes"], 25, stored.get("ranges"), block=128)
    u, scale, offset = quantize.query_weights(kind, q, stored.get("ranges"))
    c = stored["codes"].astype(np.int64) if kind == "int8" else np.unpackbits(stored["codes"], axis=1, count=dim)
    ints = (u.astype(np.int64) - 128) @ c.astype(np.int64).T  # what the integer GEMM computes, in numpy
    want = np.lexsort((np.broadcast_to(np.arange(len(v)), ints.shape), -ints), axis=1)[:, :25]
    assert np.array_equal(i, want)
    assert np.allclose(s, np.take_along_axis(ints, want, 1) * scale[:, None] + offset[:, None], rtol=1e-5)


def test_approximate_scores_estimate_the_dot_product():
    rng = np.random.default_rng(3)
    v, q = unit(rng, 2000, 64), unit(rng, 20, 64)
    exact = q @ v.T
    for kind, tol in (("int8", 0.01), ("binary", 0.35)):
        stored = quantize.encode(kind, v)
        s, i = quantize.code_topk(kind, q, stored["codes"], len(v), stored.get("ranges"))
        err = np.abs(s - np.take_along_axis(exact, i, 1))
        assert err.mean() < tol, (kind, err.mean())


def test_rescored_order_is_by_score_then_lower_id_and_missing_candidates_last():
    scores = np.array([[0.5, 0.9, 0.5, 0.1]], dtype=np.float32)
    ids = np.array([[7, 3, 2, -1]])
    s, i = quantize.best_by_score(scores, ids, 4)
    assert i.tolist() == [[3, 2, 7, -1]] and s[0, 3] == -np.inf
    rows = np.array([0, 1])
    q = np.eye(2, dtype=np.float32)
    assert quantize.rescore_pairs(q, rows, np.array([[2, 0], [0, 3]], np.float32)).tolist() == [2.0, 3.0]


def test_unknown_index_is_refused():
    with pytest.raises(ValueError, match="quantized index 'int4'"):
        quantize.encode("int4", np.zeros((2, 8), np.float32))


def test_quantized_topk_on_arrays_is_exact_when_the_pool_is_everything():
    from lib.search.quantize import quantized_topk
    from lib.search.topk import topk as exact_topk

    rng = np.random.default_rng(3)
    t = rng.standard_normal((500, 32)).astype(np.float32)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    q = t[:20] + 0.1 * rng.standard_normal((20, 32)).astype(np.float32)
    for kind in ("int8", "binary"):
        s, i = quantized_topk(q, t, 5, kind, m=500, threads=1)
        es, ei = exact_topk(q, t, 5, backend="ort", threads=1)
        np.testing.assert_array_equal(i, ei)
        np.testing.assert_allclose(s, es, atol=1e-5)
