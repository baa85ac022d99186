"""Our Olive metric (lib.compress.olive.metric): the one latency harness, embedding scores, session options."""

from __future__ import annotations

import numpy as np
import pytest

from lib import params
from lib.compress.olive import metric as olive_metric


def test_evaluate_forward_uses_the_one_latency_harness(tmp_path):
    """Our metric on a fake model: one warm-up batch, then ``repeats`` passes of lib.perf.timing's harness;
    vectors back in input order (cosine 1 to the reference), Olive's latency sub-types filled."""
    ids = {0: 0, 1: 1, 2: 0, 3: 2}                      # sentence -> token id; pairs (0, 2) and (1, 3)
    onehot = np.eye(4, dtype=np.float32)
    batches = [[2, 0], [1, 3]]
    arrays = {"reference": np.stack([onehot[ids[i]] for i in range(4)]), "gold": np.array([5.0, 0.0]),
              "pooling": np.array("mean"), "order": np.array([2, 0, 1, 3]), "n_batches": np.array(2)}
    for b, rows in enumerate(batches):
        arrays[f"b{b}/input_ids"] = np.array([[ids[i]] * 3 for i in rows], dtype=np.int64)
        arrays[f"b{b}/attention_mask"] = np.ones((2, 3), dtype=np.int64)
    np.savez(tmp_path / "e.npz", **arrays)
    calls = []

    def forward(enc):
        calls.append(1)
        return onehot[enc["input_ids"]]                 # (rows, tokens, 4): the token's one-hot state
    m = olive_metric.evaluate_forward(forward, tmp_path / "e.npz", repeats=3)
    assert len(calls) == 1 + 3 * 2
    assert m["mean_cosine"] == pytest.approx(1.0) and m["spearman"] == pytest.approx(1.0)
    assert m["latency_min_ms"] <= m["latency_ms"] <= m["latency_max_ms"] and m["sentences_per_s"] > 0


def test_score_embeddings_hand_computed():
    ref = np.eye(4, dtype=np.float32)                   # pairs (0, 2) and (1, 3)
    vec = ref.copy()
    vec[2] = [0.6, 0.0, 0.8, 0.0]                      # pair-0 cosine 0.6; its cosine to ref 0.8
    s = olive_metric.score_embeddings(vec, ref, n_pairs=2, gold=np.array([5.0, 0.0]))
    assert s["mean_cosine"] == pytest.approx((1 + 1 + 0.8 + 1) / 4)
    assert s["min_cosine"] == pytest.approx(0.8)
    assert s["spearman"] == pytest.approx(1.0)          # cosines (0.6, 0.0) rank like gold (5, 0)


def test_session_options():
    import onnxruntime as ort

    so = olive_metric.session_options_from({"session_options": {"execution_mode": 1,
                                                            "graph_optimization_level": 99,
                                                            "intra_op_num_threads": 2}})
    assert so == {"execution_mode": ort.ExecutionMode.ORT_PARALLEL,
                  "graph_optimization_level": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                  "intra_op_num_threads": 2}


def test_olive_candidates_run_in_our_session_with_their_tuned_settings(monkeypatch):
    """A candidate is timed in a session built like every ORT engine's (memory pattern off), its tuned
    settings on top, on the providers they name (Olive's forms: names or (name, options) pairs)."""
    from olive.model import ONNXModelHandler

    from lib.compress import export
    from lib.engines import ort as ort_engine

    P = params.load("tiny")
    path = export.fused_onnx(P)
    opened = {}
    real_open = ort_engine.open_session

    def spy(*args):
        opened["args"] = args
        opened["session"] = real_open(*args)
        return opened["session"]
    monkeypatch.setattr(olive_metric, "open_session", spy)  # the name Olive's module calls
    model = ONNXModelHandler(model_path=str(path), inference_settings={
        "execution_provider": [("CPUExecutionProvider", {})],
        "session_options": {"intra_op_num_threads": 1, "execution_mode": 0}})
    forward = olive_metric._forward_for(model, "cpu", ["NoSuchExecutionProvider"], threads=2)
    feeds = {"input_ids": np.array([[2, 5, 3]]), "attention_mask": np.ones((1, 3), dtype=np.int64)}
    assert forward(feeds).shape == (1, 3, 64)
    assert opened["args"][1:3] == (2, ["CPUExecutionProvider"])
    so = opened["session"].get_session_options()
    assert so.intra_op_num_threads == 1 and not so.enable_mem_pattern
    assert olive_metric._provider_names("CUDAExecutionProvider") == ["CUDAExecutionProvider"]
