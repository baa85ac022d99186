"""Papermill smoke run of notebook 12 (reranking) on the tiny model: every cell runs, the record validates."""

import pytest

from lib import results
from lib.rerank.evaluate import FUSION_GRID

# a small, fast study: few training queries and steps, two C values, one round of each timing
TINY_RERANK = {"train_max_queries": 120, "train_max_targets": 1500, "train_steps": 4, "batch_size": 4,
               "learning_rate": 1e-3, "dev_concepts": 20, "train_candidates": [2, 4], "candidates": 4,
               "max_seq_length": 64}


@pytest.mark.notebook
def test_12_rerank_tiny(run_notebook):
    run_notebook("12-rerank", threads=1, rerank=TINY_RERANK, candidate_sweep=[2, 4], speed_terms=12, speed_rounds=1,
                 train_speed_steps=1, order_trials=1, order_terms=30)
    r = results.read_result("tiny", "12-rerank")
    m = r.metrics
    assert m.leaked_lay_strings == 0
    fused = [a for a in m.accuracy if a.fusion is not None]             # every reranker in every format, each C
    assert len(fused) == len([a for a in m.accuracy if a.system != "retriever"]) / 2 and m.fusion
    assert all(a.system.endswith("+retriever") and isinstance(a.fusion, str) for a in fused)
    assert m.candidates == [2, 4]
    systems = {(a.system, a.format, a.candidates) for a in m.accuracy}
    for c in (2, 4):
        assert ("retriever", "fp32-torch", c) in systems
        assert ("packed-bce", "onnx-int8-dynamic", c) in systems and ("base-listwise", "onnx-fp32", c) in systems
    for a in m.accuracy:  # a reranker reorders the C candidates: it cannot pass the retriever's Acc@C
        assert 0 <= a.acc_at_1 <= a.ceiling_acc_at_c + 1e-12
    assert {s["kind"] for s in m.speed} == {"inference terms/s", "training pairs/s", "alignment terms/s"}
    assert all(s["ratio"] > 0 for s in m.speed)
    assert set(m.gate) == {"base-bce [onnx-int8-dynamic]", "base-bce [onnx-int8-smoothquant]",
                           "packed-bce [onnx-int8-dynamic]", "packed-bce [onnx-int8-smoothquant]"}
    assert m.order_sensitivity["trials"] == 1 and len(m.order_sensitivity["acc1_by_order"]) == 2
    assert m.order_sensitivity["terms"] == 30
    assert set(m.training) == {"base-bce", "packed-bce", "base-listwise", "packed-listwise"}
    assert r.params.rerank is not None and r.params.rerank.train_steps == 4


@pytest.mark.notebook
def test_04_align_reports_the_reranked_alignment_when_enabled(run_notebook):
    run_notebook("04-align", formats=["fp32-torch"], threads=1, rerank={**TINY_RERANK, "enabled": True})
    r = results.read_result("tiny", "04-align")
    assert set(r.metrics.formats) == {"fp32-torch"}                    # the retriever's record is unchanged
    rr = r.metrics.rerank
    assert rr["reranker"] == "packed-bce" and rr["scorer"] == "onnx-int8-dynamic" and rr["candidates"] == 4
    retr, reranked = rr["systems"]["retriever"], rr["systems"]["packed-bce [onnx-int8-dynamic]"]
    assert retr["acc@1"] == r.metrics.formats["fp32-torch"].acc_at_1  # concept-level top-1 = string-level top-1
    assert reranked["acc@4"] == retr["acc@4"] and reranked["acc@1"] <= retr["acc@4"]
    w = rr["fusion"]["weight"]                                          # chosen on the dev queries
    assert rr["final"] == f"packed-bce [onnx-int8-dynamic] + {w} x retriever" and rr["final"] in rr["systems"]
    assert isinstance(w, str) and float(w) in FUSION_GRID
    assert set(rr["fusion"]["dev_acc@1"]) == {str(x) for x in FUSION_GRID}
    table = results.table_path("tiny", "04-align.rerank.metrics", "csv")
    assert table.exists() and "packed-bce [onnx-int8-dynamic]" in table.read_text()
