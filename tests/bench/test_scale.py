"""bench/scale.py (the `make scale` numbers): correctness only, never speed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is a folder of the checkout, not an installed package
    sys.path.insert(0, str(ROOT))

from bench import scale  # noqa: E402
from lib import params  # noqa: E402
from lib.search import distributed as dd  # noqa: E402


def test_extrapolation_is_linear_in_cores():
    rows = scale.extrapolation(1000.0, {"core_seconds_per_target": 1e-4})
    assert [r["cores"] for r in rows] == [2, 32, 256]
    assert rows[0]["embed_hours"] == pytest.approx(16e6 / 2000 / 3600)
    assert rows[1]["search_hours"] == pytest.approx(1e-4 * 16e6 / 32 / 3600)
    assert rows[2]["total_hours"] == pytest.approx(rows[2]["embed_hours"] + rows[2]["search_hours"])
    assert "search_hours" not in scale.extrapolation(1000.0, None)[0]


def test_accuracy_says_how_to_get_it_when_notebook_10_has_not_run():
    acc = scale.accuracy("tiny")
    assert acc["acc1_hpo"] is None and "make scale" in acc["note"]


def test_embedding_and_search_timings_on_the_tiny_model(tmp_path):
    P = params.load("tiny", fixed_batch_rows=32, partition_rows=128)
    spec = dd.EngineSpec.for_format(P, "onnx-int8-dynamic")
    texts = [f"skin rash {i} of the hand" if i % 3 else f"fever {i}" for i in range(300)]
    emb = scale.embed_throughput(P, spec, texts, tmp_path, partition_rows=64, rounds=1)
    assert set(emb) == {"plain", "plain-1thread", "dask-1", "dask-2", "bound-2x1thread"}
    assert all(row["identical_to_plain"] for name, row in emb.items() if name != "bound-2x1thread")
    assert emb["plain"]["vs_plain"] == 1 and emb["dask-2"]["tasks"] == 5
    shares = [emb["dask-2"][f"{s}_share"] for s in ("encode", "read", "write", "other")]
    assert sum(shares) == pytest.approx(1) and emb["dask-2"]["encode_share"] > 0
    rows = scale.search_timing([500], n_queries=20, k=5, workers=1, dim=16, partition_rows=128, work=tmp_path)
    assert rows[0]["partitions"] == 4 and rows[0]["top1_agreement_with_faiss"] == 1.0
    assert rows[0]["top10_identical_to_ort"] == 1.0 and rows[0]["top1_agreement_with_gemm"] == 1.0
    assert rows[0]["worker_peak_mb"] > 0 and rows[0]["resident_mb"] == pytest.approx(500 * 16 * 4 / 2 ** 20)
    assert not (tmp_path / "search-500").exists()
    synthetic = scale.synthetic_search(3000, 16, 20, 5, 1, 1024, tmp_path)
    assert [r["index"] for r in synthetic] == ["binary", "int8"]
    assert synthetic[0]["resident_mb_per_worker"] == pytest.approx(3000 * 2 / 2 ** 20)  # 16 bits a vector
    assert synthetic[1]["resident_mb_per_worker"] == pytest.approx((3000 * 16 + 3 * 2 * 16 * 4) / 2 ** 20)
    md = scale.render({"params": "tiny", "format": "f", "machine": scale.machine(), "created": "now",
                       "embed_strings": 300, "fixed_batch_rows": 32, "k": 5, "queries": 20, "search_workers": 1,
                       "embedding": emb, "search": rows, "synthetic": synthetic, "accuracy": scale.accuracy("tiny"),
                       "per_core_strings_per_s": 10.0, "extrapolation": scale.extrapolation(10.0, None)})
    assert "an extrapolation" in md and "| dask-2 " in md and "| binary " in md


def test_the_in_memory_limit_is_the_exact_top_k():
    import numpy as np

    rng = np.random.default_rng(1)
    v = rng.normal(size=(5000, 24)).astype(np.float32)
    q = rng.normal(size=(33, 24)).astype(np.float32)
    s, i = scale.gemm_argpartition(q, v, 7, threads=2, block=1000)
    want_s, want_i = scale.topk(q, v, 7)
    assert np.array_equal(i, want_i) and np.allclose(s, want_s, atol=1e-5)


def test_code_scan_peers_and_quantized_accuracy_without_notebook_10():
    import numpy as np

    rng = np.random.default_rng(2)
    v = rng.normal(size=(4000, 32)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    rows = scale.code_scan_peers(v, v[:40].copy(), 10, 4, threads=1)
    assert [r["index"] for r in rows] == ["int8", "int8", "binary", "binary"]
    assert all(0 < r["candidate_recall"] <= 1 and r["candidates"] == 40 for r in rows)
    P = params.load("tiny")
    found, note = scale.quantized_accuracy(P, dd.EngineSpec.for_format(P, "onnx-fp32"), [2], 10, 1)
    assert found == [] and "notebook 10" in note["note"]


def test_approximate_indexes_report_recall_against_the_exact_search():
    import numpy as np

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = scale.approximate(vectors, vectors[:50].copy(), 10)
    assert rows[0]["index"].startswith("IndexFlatIP") and rows[0]["recall_at_k"] == 1.0
    assert [r["setting"] for r in rows[1:]] == ["nprobe=8", "nprobe=32", "efSearch=64", "efSearch=128"]
    assert all(0 < r["recall_at_k"] <= 1 for r in rows)
    assert rows[2]["recall_at_k"] >= rows[1]["recall_at_k"]  # more probes never find fewer


def test_notebook_store_is_none_before_notebook_10_ran():
    P = params.load("tiny")
    store, key = scale.notebook_store(P, dd.EngineSpec.for_format(P, "onnx-fp32"))
    assert store is None and key.endswith(f"-fixed{P.fixed_batch_rows}-STR")
