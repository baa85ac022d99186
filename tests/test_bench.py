"""Benchmark plumbing (lib.bench, lib.fastencode, bench/run.py): correctness only, never speed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from lib import bench
from lib.encode import pad_batch, token_budget_batches
from lib.fastencode import pool_numpy

ROOT = Path(__file__).resolve().parents[1]


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
    res = bench.linear_macs_per_token(_graph_with_weights(tmp_path))
    assert res["macs_per_token"] == 4 * 6 + 6 * 3 + 6 * 2
    assert sorted(map(tuple, res["shapes"])) == [(4, 6), (6, 2), (6, 3)]


def test_model_ops_hand_computed():
    ops = bench.model_ops(np.array([3, 5]), macs_per_token=10, layers=2, hidden=4)
    assert ops["tokens"] == 8
    assert ops["linear_ops"] == 2 * 10 * 8
    assert ops["attention_ops"] == 2 * (2 * 2 * 4 * (9 + 25))
    assert ops["total_ops"] == 160 + 1088


def test_tiny_bert_macs_per_token():
    """The tiny test BERT (hidden 64, FFN 256, 2 layers): 2 * (4*64*64 + 2*64*256) MACs per token."""
    from lib import export, params
    res = bench.linear_macs_per_token(export.unfused_onnx(params.load("tiny")))
    assert res["macs_per_token"] == 2 * (4 * 64 * 64 + 2 * 64 * 256)
    assert res["n_matmuls"] == 12


def test_token_budget_batches_hand_case():
    batches = token_budget_batches(np.array([5, 1, 3, 3, 10]), token_budget=9, max_rows=4)
    assert [b.tolist() for b in batches] == [[1, 2, 3], [0], [4]]
    batches = token_budget_batches(np.array([2] * 10), token_budget=100, max_rows=4)
    assert [len(b) for b in batches] == [4, 4, 2]


def test_pad_and_pool():
    ids, mask = pad_batch([[1, 2, 3], [4]], pad_id=0)
    assert ids.tolist() == [[1, 2, 3], [4, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    hidden = np.zeros((2, 3, 2), np.float32)
    hidden[0] = [[1, 0], [3, 0], [2, 0]]
    hidden[1] = [[0, 2], [9, 9], [9, 9]]
    v = pool_numpy(hidden, mask, "mean")
    np.testing.assert_allclose(v, [[1, 0], [0, 1]], atol=1e-6)  # padding ignored, then normalised
    v = pool_numpy(hidden, mask, "mean_unmasked_padded")
    assert v[1, 0] > 0.5  # the paper's unmasked mean lets the padding in


def test_latency_and_cosine_stats():
    s = bench.latency_stats([0.001, 0.002, 0.003, 0.010])
    assert s["avg"] == pytest.approx(4.0) and s["p50"] == pytest.approx(2.5) and s["max"] == pytest.approx(10)
    a = np.eye(3, dtype=np.float32)
    b = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 1]], np.float32)
    c = bench.mean_cosine(a, b)
    assert c["min"] == pytest.approx(1 / np.sqrt(2)) and c["mean"] == pytest.approx((2 + 1 / np.sqrt(2)) / 3)


def test_acc_at_1_hand_case():
    t = np.array([[1, 0], [0, 1], [0.7071, 0.7071]], np.float32)
    q = np.array([[0.9, 0.1], [0.1, 0.9]], np.float32)
    acc = bench.acc_at_1(q, t, ["HP:1", "HP:2", "HP:3"], [("HP:1",), ("HP:3",)])
    assert acc == 0.5


def test_sklearn_memory_prediction():
    assert bench.sklearn_bytes(2, 10, 3) == 4 * 12 * 3 + 4 * 20 + 8 * 20
    # the largest case: ~24 GiB of working set before the targets themselves (1.5 GB)
    assert bench.sklearn_bytes(2000, 1_000_000, 384) > 23 * bench.GB


def test_random_unit_vectors():
    x = bench.random_unit_vectors(1000, 16, seed=3, chunk=300)
    assert x.dtype == np.float32 and x.shape == (1000, 16)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(x, bench.random_unit_vectors(1000, 16, seed=3, chunk=300))


@pytest.mark.parametrize("method", ["sklearn", "faiss", "blocked", "blocked-ort"])
def test_exact_topk_equals_brute_force(method):
    t = bench.random_unit_vectors(3000, 32, seed=0)
    q = bench.random_unit_vectors(40, 32, seed=1)
    ref = np.argsort(-(q @ t.T), axis=1)[:, :10]
    if method == "sklearn":
        _, idx = bench.search_sklearn(q, t, 10)
    elif method == "faiss":
        _, idx = bench.search_faiss(q, t, 10, threads=1)
    elif method == "blocked":
        _, idx = bench.search_blocked(q, t, 10, block=700)
    else:
        _, idx = bench.search_blocked_ort(q, t, 10, block=700, threads=1)
    np.testing.assert_array_equal(np.asarray(idx), ref)
    assert bench.topk_agreement(np.asarray(idx), ref) == 1.0


def test_int8_rescore_matches_exact_mostly():
    t = bench.random_unit_vectors(5000, 64, seed=0)
    q = bench.random_unit_vectors(50, 64, seed=1)
    ref = np.argsort(-(q @ t.T), axis=1)[:, :10]
    scores, idx = bench.search_int8_rescore(q, t, 10, candidates=50, block=1200, threads=1)
    assert bench.topk_agreement(idx, ref) >= 0.95
    np.testing.assert_allclose(scores, np.take_along_axis(q @ t.T, idx, 1), atol=1e-5)  # FP32 re-scored


def test_search_child_schema():
    rec = bench.search_child("blocked", 2000, 16, 20, 5, 512, 1, 0)
    for key in ("seconds", "gflops", "peak_rss_mb", "peak_extra_mb", "rss_inputs_mb"):
        assert key in rec
    assert rec["gflops"] > 0


def test_gemm_ceiling_schema():
    g = bench.gemm_ceiling([(32, 64), (32, 64), (64, 32)], rows=(32,), threads=1, backends=("ort", "numpy"))
    assert {r["dtype"] for r in g["runs"]} == {"fp32", "int8"}
    assert g["ceiling"]["int8"]["backend"] == "onnxruntime-mlas"
    assert [32, 64, 2] in g["shapes"]
    assert all(r["ops_per_s"] > 0 for r in g["runs"])


def test_fast_encoder_matches_lib_encoder():
    """Same vectors as lib.encode's ONNX FP32 engine (different batching, same maths)."""
    from lib import encode, export, params
    from lib.fastencode import load_fast_encoder

    P = params.load("tiny")
    texts = ["abnormal heart", "pain", "small hand and foot with long finger", "fever", "x" * 40]
    ref = encode.load_encoder(P, "onnx-fp32").encode(texts, progress=False)
    fast = load_fast_encoder(P, export.fused_onnx(P), encode.resolve_model_dir(P), token_budget=16, max_rows=2)
    got = fast.encode(texts)
    assert len(fast.batch_times) >= 3
    np.testing.assert_allclose((ref * got).sum(1), 1.0, atol=1e-4)


def test_bench_run_smoke_tiny(session_dirs):
    """The whole script on tiny with small sizes: JSON schema, Markdown table and figures written."""
    sys.path.insert(0, str(ROOT / "bench"))
    sys.path.insert(0, str(ROOT))
    import importlib
    run = importlib.import_module("bench.run") if (ROOT / "bench" / "__init__.py").exists() else \
        importlib.import_module("run")
    out = session_dirs["results"] / "bench-smoke"
    res = run.main(["--params", "tiny", "--n-strings", "60", "--rounds", "1", "--paper-strings", "8",
                    "--engines", "paper,torch-fp32,fast-fp32", "--no-side",
                    "--quality-targets", "200", "--quality-sources", "30", "--gemm-rows", "32",
                    "--search-n", "1000", "--search-dims", "16", "--queries", "20",
                    "--search-methods", "sklearn,blocked,faiss", "--out", str(out)])
    data = json.loads((out / "bench.json").read_text())
    assert set(data["engines"]) == {"paper", "torch-fp32", "fast-fp32"}
    for e in data["engines"].values():
        for key in ("strings_per_s", "latency_ms", "peak_rss_mb", "model_mb", "linear_gops"):
            assert key in e
    assert data["engines"]["paper"]["strings"] == 8
    assert data["engines"]["fast-fp32"]["torch_imported"] is False  # the ORT-only path stays small
    assert data["engines"]["fast-fp32"]["cosine_to_fp32"]["mean"] > 0.999
    assert data["engines"]["torch-fp32"]["speed_vs_paper"] == pytest.approx(
        data["engines"]["torch-fp32"]["strings_per_s"] / data["engines"]["paper"]["strings_per_s"])
    agree = [r["agreement_with_faiss"] for r in data["search"] if r["method"] == "blocked"]
    assert agree == [1.0]
    md = (out / "bench.md").read_text()
    assert "| fast-fp32 |" in md and "| target |" in md
    assert (Path(session_dirs["figures"]) / "bench" / "bench-engines.png").exists()
    assert res["targets"]
