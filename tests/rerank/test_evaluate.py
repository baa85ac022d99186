"""lib.rerank.evaluate: reranked order and ranks, the Acc@C ceiling, the residual score and its dev weight,
agreement, the INT8 gate (the project's one gate rule), order sensitivity."""

from __future__ import annotations

import numpy as np

from lib.rerank import evaluate as rev
from lib.rerank.candidates import Candidates

NAN = np.nan


def cands() -> Candidates:
    concepts = np.array([["A", "B", "C"], ["D", "E", ""], ["F", "G", "H"]], dtype=object)
    strings = np.array([["a", "b", "c"], ["d", "e", ""], ["f", "g", "h"]], dtype=object)
    scores = np.array([[0.9, 0.8, 0.7], [0.9, 0.5, -np.inf], [0.6, 0.5, 0.4]], dtype=np.float32)
    return Candidates(concepts, strings, scores)


def test_reranked_order_puts_empty_slots_last_and_keeps_retriever_order_on_ties():
    m = np.array([[0.1, 2.0, 0.1], [-1.0, -3.0, NAN], [0.0, 0.0, 0.0]])
    assert rev.reranked_order(m).tolist() == [[1, 0, 2], [0, 1, 2], [0, 1, 2]]
    r = rev.reranked(cands(), m)
    assert r.concepts.tolist() == [["B", "A", "C"], ["D", "E", ""], ["F", "G", "H"]]


def test_rerank_ranks_and_the_acc_at_c_ceiling():
    c = cands()
    gold = ["B", ("Z", "E"), "X"]                                     # the third term's gold is not retrieved
    m = np.array([[0.1, 2.0, 0.1], [-1.0, 3.0, NAN], [5.0, 0.0, 0.0]])
    assert c.gold_ranks(gold).tolist() == [2, 2, 0]
    ranks = rev.rerank_ranks(c, m, gold)
    assert ranks.tolist() == [1, 1, 0]
    met = rev.rank_metrics(ranks, 3, n_boot=0)
    assert met["acc@1"] == met["acc@3"] == 2 / 3                       # Acc@1 can reach, never pass, Acc@C
    assert abs(met["mrr"] - 2 / 3) < 1e-12


def test_agreement_and_the_gate_go_through_the_one_gate_rule():
    ref = np.array([[2.0, 0.0, NAN], [0.0, 1.0, -1.0]])
    same = rev.agreement(ref, ref.copy())
    assert same["mean_abs_diff"] == 0 and same["top1_agreement"] == 1.0 and same["n_scores"] == 5
    flipped = rev.agreement(ref, np.array([[0.0, 2.0, NAN], [0.0, 1.0, -1.0]]))
    assert flipped["top1_agreement"] == 0.5
    c = Candidates(np.array([["A", "B", ""], ["D", "E", "F"]], dtype=object),
                   np.array([["a", "b", ""], ["d", "e", "f"]], dtype=object), np.zeros((2, 3), np.float32))
    verdict, rec = rev.quant_gate(c, ["A", "E"], ref, ref.copy(), 0.005, 0.98, n_boot=50)
    assert verdict.passed and rec["passed"] and rec["top1_agreement"] == 1.0 and rec["acc1_drop"] == 0
    assert {d["criterion"] for d in rec["decisions"]} == {"Acc@1 drop", "top-1 agreement with FP32"}
    verdict, rec = rev.quant_gate(c, ["A", "E"], ref, np.array([[0.0, 2.0, NAN], [0.0, 1.0, -1.0]]), 0.005, 0.98,
                                  n_boot=50)
    assert not verdict.passed and rec["acc1_drop"] == 0.5
    assert any("top-1 agreement" in r for r in rec["reasons"])


def test_order_sensitivity_is_zero_for_an_order_blind_scorer_and_seen_otherwise():
    c = cands()
    gold = ["A", "E", "F"]
    fixed = np.array([[3.0, 1.0, 0.0], [0.0, 1.0, NAN], [2.0, 1.0, 0.0]])
    blind = rev.order_sensitivity(lambda order: fixed, c, gold, trials=3, seed=0)
    assert blind["top1_unchanged"] == 1.0 and blind["acc1_range"] == 0.0 and blind["mean_abs_diff"] == 0.0

    def first_placed_wins(order):
        """Scores the slot placed first highest: a maximally order-sensitive scorer."""
        m = np.where(np.isnan(fixed), NAN, 0.0)
        for i, o in enumerate(order or [list(range(int(w))) for w in c.valid.sum(1)]):
            m[i, o[0]] = 5.0
        return m
    sens = rev.order_sensitivity(first_placed_wins, c, gold, trials=3, seed=0)
    assert sens["top1_unchanged"] < 1.0 and sens["acc1_by_order"][0] == 2 / 3


def test_permutations_cover_each_terms_slots():
    perms = rev.permutations(np.array([3, 2, 0]), seed=1)
    assert [sorted(p) for p in perms] == [[0, 1, 2], [0, 1], []]


def test_mcnemar_counts_discordant_terms():
    out = rev.mcnemar(np.array([1, 1, 0, 2]), np.array([1, 0, 0, 1]))
    assert (out["only_a"], out["only_b"], out["n"]) == (1, 1, 4)


def test_residual_weight_zero_is_f_alone_and_inf_the_retriever():
    c = cands()
    f = np.array([[0.1, 2.0, 0.1], [-1.0, 3.0, NAN], [5.0, 0.0, 0.0]])
    assert np.array_equal(rev.reranked_order(rev.residual(c, f, 0.0)), rev.reranked_order(f))
    inf = rev.residual(c, f, float("inf"))
    assert np.isnan(inf[1, 2]) and rev.reranked_order(inf).tolist() == [[0, 1, 2], [0, 1, 2], [0, 1, 2]]
    # between: at 5, term 0's f gap (1.9) beats 5 x its cosine gap (0.1); at 50 no f gap does
    assert rev.reranked_order(rev.residual(c, f, 5.0))[:, 0].tolist() == [1, 1, 0]
    assert rev.reranked_order(rev.residual(c, f, 50.0))[:, 0].tolist() == [0, 0, 0]


def test_f_zero_keeps_the_retrievers_order_at_every_weight():
    """A reranker at step 0 (zero head: f = 0) ranks as its retriever, whatever w."""
    c = cands()
    f = np.where(c.valid, 0.0, NAN)
    gold = ["B", "E", "H"]
    for w in rev.WEIGHT_GRID:
        assert rev.rerank_ranks(c, rev.residual(c, f, w), gold).tolist() == c.gold_ranks(gold).tolist()


def test_choose_weight_picks_the_best_on_held_out_queries_and_breaks_ties_towards_the_trained_weight():
    c = cands()
    f = np.array([[0.1, 2.0, 0.1], [-1.0, 0.5, NAN], [5.0, 0.0, 0.0]])
    grid = (0.0, 5.0, float("inf"))
    # top-1s: f alone B, E, F; weight 5: B, D, F; retriever alone: A, D, F
    w, acc = rev.choose_weight(c, f, ["B", "D", "F"], grid=grid)
    assert w == 5.0 and acc == {0.0: 2 / 3, 5.0: 1.0, float("inf"): 2 / 3}   # only the blend gets all three
    w, acc = rev.choose_weight(c, f, ["A", "D", "F"], grid=grid)
    assert w == float("inf") and acc[float("inf")] == 1.0
    # a tie between 0 and inf: the one nearer the trained weight, else the larger (more retriever)
    assert rev.choose_weight(c, f, ["A", "E", "G"], trained=0.5, grid=grid)[0] == 0.0
    assert rev.choose_weight(c, f, ["A", "E", "G"], grid=grid)[0] == float("inf")


def test_a_weight_of_inf_survives_json():
    import json
    assert json.loads(json.dumps(rev.weight_label(float("inf")))) == "inf" and rev.weight_label(50.0) == "50"
    assert float(rev.weight_label(float("inf"))) == float("inf")
