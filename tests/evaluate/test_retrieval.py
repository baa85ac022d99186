import numpy as np
import pytest

from lib.evaluate import retrieval as r


def test_gold_ranks_handles_sets_and_misses():
    pred = np.array([["A", "B", "C"], ["B", "C", "A"], ["X", "Y", "Z"]])
    ranks = r.gold_ranks(pred, ["A", {"C", "Q"}, "A"])
    assert ranks.tolist() == [1, 2, 0]
    assert r.accuracy_at_k(ranks, 1) == pytest.approx(1 / 3)
    assert r.accuracy_at_k(ranks, 2) == pytest.approx(2 / 3)
    assert r.mrr(ranks) == pytest.approx((1 + 0.5 + 0) / 3)


def test_retrieval_metrics_ci_contains_point_estimate():
    ranks = np.array([1, 2, 0, 1, 3, 1, 0, 1, 2, 1] * 5)
    m = r.retrieval_metrics(ranks, n_boot=200)
    lo, hi = m["ci"]["acc@1"]
    assert lo <= m["acc@1"] <= hi and lo < hi
    assert m["acc@1"] == pytest.approx(0.5)


def test_embedding_agreement_detects_change():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(20, 8))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    same = r.embedding_agreement(a, a)
    assert same["mean_cosine"] == pytest.approx(1.0, abs=1e-6) and same["nn_agreement"] == 1.0
    b = rng.normal(size=(20, 8))
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    assert r.embedding_agreement(a, b)["mean_cosine"] < 0.5


def test_paired_mcnemar_hand_case():
    from lib.evaluate.retrieval import paired_mcnemar

    a = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], bool)
    b = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0], bool)
    t = paired_mcnemar(a, b)
    assert (t["only_a"], t["only_b"], t["n"]) == (8, 0, 10) and t["diff"] == pytest.approx(0.8)
    assert t["p"] == pytest.approx(2 * 0.5 ** 8)            # exact two-sided binomial on 8 discordant items
    same = paired_mcnemar(a, a)
    assert same["p"] == 1.0 and same["diff"] == 0.0
    with pytest.raises(ValueError, match="differ in length"):
        paired_mcnemar(a, a[:5])
