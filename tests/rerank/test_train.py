"""lib.rerank.train: a reranker starts at its retriever's order and never ends below it on dev; base trains
through sentence-transformers' CrossEncoder and scores as the scorer does; both layouts and both
objectives learn on the tiny model; the budget, the run key, the optimizer groups, the prior's fit."""

from __future__ import annotations

import numpy as np
import pytest

from lib.engines import cross
from lib.engines.hub import resolve_model_dir
from lib.rerank import evaluate as rev
from lib.rerank import train as rt
from lib.rerank.candidates import Candidates
from lib.rerank.data import Examples
from lib.rerank.model import TorchCross, score_inputs


def first_queries(ex: Examples, k: int) -> Examples:
    return _queries(ex, np.arange(k))


def hard_queries(ex: Examples, k: int) -> Examples:
    """k queries whose miner did not rank the gold first (then the others), so that step 0 leaves the
    lists something to learn whatever the tiny data holds."""
    return _queries(ex, np.sort(np.argsort(np.asarray(ex.retrieved_rank) == 1, kind="stable")[:k]))


def _queries(ex: Examples, idx: np.ndarray) -> Examples:
    return Examples([ex.queries[i] for i in idx], [ex.golds[i] for i in idx], ex.candidates.rows(idx),
                    np.asarray(ex.labels)[idx], np.asarray(ex.retrieved_rank)[idx])


def own_lists(ex: Examples) -> rt.DevLists:
    """The training lists as 'dev' lists: selection then follows the fit (the tiny random model cannot
    generalise, so real dev lists would keep step 0)."""
    return rt.DevLists(list(ex.queries), [tuple(g) for g in ex.golds], ex.candidates)


def list_loss(model, texts: rt.Texts, ex: Examples, R, layout: str) -> float:
    """The objective on the training lists (gold first, C-1 negatives), dropout off."""
    import torch

    rows, slots = rt.lists_of(ex, max(R.train_candidates))
    sub = Candidates(*(np.take_along_axis(a[rows], slots, 1) for a in
                       (ex.candidates.concepts, ex.candidates.strings, ex.candidates.scores)))
    model.eval()
    with torch.no_grad():
        s = rt._residual_scores(model, texts.inputs([ex.queries[i] for i in rows], sub, layout), sub, texts, "cpu")
        return float(rt.paper_loss(s, rt._gold_first(len(rows), max(R.train_candidates), "cpu"), R.objective))


@pytest.mark.parametrize("layout", ["base", "paper"])
def test_a_reranker_starts_at_its_retrievers_order_and_never_ends_below_it_on_dev(tiny_setup, tmp_path, layout):
    P, _, tr = tiny_setup
    R = P.rerank.model_copy(update={"train_steps": 4, "eval_steps": 2})
    out = rt.train(resolve_model_dir(P), tr.examples, tr.dev, R, rt.Variant(layout, True), 2e-3, tmp_path / "run",
                   tr.prior, tr.definitions, threads=1, progress=False)
    rec = rt.training_record(out)
    dev = tr.dev.candidates.head(R.candidates)
    retriever_acc = float(np.mean(dev.gold_ranks(tr.dev.gold) == 1))
    assert rec["dev_curve"][0]["step"] == 0 and rec["dev_curve"][0]["dev_acc@1"] == pytest.approx(retriever_acc)
    assert rec["best_dev_acc@1"] >= retriever_acc                      # the kept step is never below step 0
    # step 0 by construction: a fresh scorer's f is 0, so every weight gives the retriever's ranks
    texts = rt.Texts(resolve_model_dir(P), R, tr.definitions)
    fresh = cross.new_scorer(resolve_model_dir(P), *tr.prior).eval()
    f = score_inputs(TorchCross(fresh), texts.inputs(tr.dev.queries, dev, layout), texts.special.pad, 4096, 4096)
    assert np.nanmax(np.abs(f)) == 0.0
    for w in (0.0, tr.prior[0], float("inf")):
        assert np.array_equal(rev.rerank_ranks(dev, rev.residual(dev, f, w), tr.dev.gold), dev.gold_ranks(tr.dev.gold))


def test_the_base_crossencoder_scores_as_the_scorer_plus_its_prior(tiny_setup):
    """The sentence-transformers CrossEncoder that trains base (its one module) computes w x prior + b + f
    with f exactly the scorer's base-layout f: training and scoring see the same function."""
    import torch
    from sentence_transformers.cross_encoder import CrossEncoder

    P, _, tr = tiny_setup
    R = P.rerank
    torch.manual_seed(0)
    model = cross.new_scorer(resolve_model_dir(P), 7.0, -1.0).eval()
    torch.nn.init.normal_(model.head.weight)
    texts = rt.Texts(resolve_model_dir(P), R, tr.definitions)
    ex = first_queries(tr.examples, 6)
    keys = np.vectorize(rt.cand_key, otypes=[object])(ex.candidates.strings, ex.candidates.concepts)
    pairs = [(q, keys[i, j]) for i, q in enumerate(ex.queries) for j in range(3)]
    priors = {(q, keys[i, j]): float(ex.candidates.scores[i, j]) for i, q in enumerate(ex.queries) for j in range(3)}
    ce = CrossEncoder(modules=[rt.pair_module(model, texts, priors)], device="cpu")
    with torch.no_grad():
        got = ce(ce.preprocess(pairs))["scores"].squeeze(1).numpy()
    head = ex.candidates.rows(np.arange(6)).head(3)
    f = score_inputs(TorchCross(model), texts.inputs(ex.queries, head, "base"), texts.special.pad, 4096, 4096)
    want = (7.0 * head.scores - 1.0 + f).reshape(-1)
    assert np.max(np.abs(got - want)) < 1e-4


@pytest.mark.parametrize("objective", ["bce", "listwise"])
@pytest.mark.parametrize("layout", ["base", "paper"])
def test_both_layouts_and_objectives_learn(tiny_setup, tmp_path, layout, objective):
    """40 steps on 8 queries: the tiny model must fit its lists (loss with dropout off, before vs after)."""
    P, _, tr = tiny_setup
    ex = hard_queries(tr.examples, 8)
    R = P.rerank.model_copy(update={"objective": objective, "train_steps": 40, "eval_steps": 20, "batch_size": 8,
                                    "head_learning_rate": 1e-2})
    start = resolve_model_dir(P)
    out = rt.train(start, ex, own_lists(ex), R, rt.Variant(layout, False), 3e-3, tmp_path / "run", (5.0, 0.0),
                   threads=1, progress=False)
    rec = rt.training_record(out)
    assert rec["steps"] == 40 and rec["stopped_by"] == "steps" and rec["layout"] == layout
    assert rec["pairs_per_s"] > 0 and cross.model_kind(out) == "reranker" and (out / "tokenizer.json").exists()
    texts = rt.Texts(start, R, None)
    before = list_loss(cross.new_scorer(start, 5.0, 0.0), texts, ex, R, layout)
    after = list_loss(cross.load_scorer(out), texts, ex, R, layout)
    assert after < 0.85 * before, (before, after)


def test_a_time_budget_stops_training_and_says_so(tiny_setup, tmp_path):
    P, _, tr = tiny_setup
    R = P.rerank.model_copy(update={"train_steps": 1000, "eval_steps": 1000, "max_minutes": 1e-6})
    out = rt.train(resolve_model_dir(P), tr.examples, tr.dev, R, rt.Variant("paper", False), 1e-3, tmp_path / "run",
                   tr.prior, threads=1, progress=False)
    rec = rt.training_record(out)
    assert rec["stopped_by"] == "minutes" and 1 <= rec["steps"] < 1000


def test_the_run_folder_is_keyed_by_recipe_rate_layout_and_lists(tiny_setup):
    P, _, tr = tiny_setup
    start = resolve_model_dir(P)
    v = rt.Variant("base", True)

    def key(R=P.rerank, variant=v, lr=1e-3, ex=tr.examples, defs=tr.definitions):
        return rt.run_dir(start, ex, tr.dev, R, variant, lr, 0, tr.prior, defs)
    a = key()
    assert a == key(R=P.rerank.model_copy(update={"max_minutes": 5.0}))      # the budget is not the recipe
    assert a != key(R=P.rerank.model_copy(update={"readout": "first"}))
    assert a != key(lr=2e-3) and a != key(variant=rt.Variant("paper", True))
    assert a != key(variant=rt.Variant("base", False))
    assert a != key(ex=first_queries(tr.examples, 10))
    assert key(variant=rt.Variant("base", False)) == key(variant=rt.Variant("base", False), defs=None)


def test_the_head_and_the_prior_train_at_their_own_learning_rate(tiny_setup):
    P, _, _ = tiny_setup
    R = P.rerank.model_copy(update={"head_learning_rate": 1e-3})
    model = cross.new_scorer(resolve_model_dir(P), 10.0, 0.0)
    opt, _ = rt.optimizer(model, R, 1e-5, 10)
    body, fast = opt.param_groups
    assert (body["initial_lr"], fast["initial_lr"]) == (1e-5, 1e-3)       # before the warm-up scales them
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in fast["params"]} == {"head.weight", "head.bias", "weight", "bias"}
    assert len(body["params"]) + len(fast["params"]) == len(list(model.parameters()))
    fixed = cross.new_scorer(resolve_model_dir(P), 10.0, 0.0, learn_weight=False)
    assert {names.get(id(p)) for p in rt.optimizer(fixed, R, 1e-5, 10)[0].param_groups[1]["params"]} <= {
        None, "head.weight", "head.bias"} and not fixed.weight.requires_grad


def test_the_prior_fit_separates_and_lists_put_the_gold_first():
    conc = np.array([["A", "B", "C"], ["E", "D", "F"], ["G", "H", ""]], dtype=object)
    scores = np.array([[0.9, 0.7, 0.6], [0.6, 0.8, 0.3], [0.7, 0.6, -np.inf]], dtype=np.float32)
    c = Candidates(conc, conc.astype(str).astype(object), scores)
    gold = ["A", "D", "G"]
    w, b = rt.fit_prior(c, gold, "listwise")
    assert 0 < w <= rt.MAX_PRIOR_WEIGHT and b == 0.0
    assert rt.prior_loss(w, 0.0, np.where(c.valid, scores, np.nan), c.concepts == np.array(gold)[:, None],
                         "listwise") < rt.prior_loss(1.0, 0.0, np.where(c.valid, scores, np.nan),
                                                     c.concepts == np.array(gold)[:, None], "listwise")
    ex = Examples(["q1", "q2", "q3"], [("A",), ("D",), ("G",)], c, c.concepts == np.array(gold)[:, None],
                  np.array([1, 2, 1]))
    rows, slots = rt.lists_of(ex, 3)
    assert rows.tolist() == [0, 1] and slots.tolist() == [[0, 1, 2], [1, 0, 2]]   # q3 lacks a 2nd negative


def test_the_papers_layout_draws_its_c_per_step_from_train_candidates(tiny_setup, tmp_path):
    P, _, tr = tiny_setup
    R = P.rerank.model_copy(update={"train_steps": 8, "eval_steps": 100, "train_candidates": [2, 4]})
    out = rt.train(resolve_model_dir(P), tr.examples, tr.dev, R, rt.Variant("paper", False), 1e-3, tmp_path / "run",
                   tr.prior, threads=1, progress=False)
    hist = rt.training_record(out)["history"]
    assert {h["c"] for h in hist} == {2, 4} and all(h["pairs"] == h["c"] * R.batch_size for h in hist)


def test_a_list_without_a_negative_is_refused(tiny_setup, tmp_path):
    P, _, tr = tiny_setup
    R = P.rerank.model_copy(update={"train_candidates": [1, 4]})
    with pytest.raises(ValueError, match="train_candidates must be >= 2"):
        rt.train(resolve_model_dir(P), tr.examples, tr.dev, R, rt.Variant("base", False), 1e-3, tmp_path / "run",
                 tr.prior, threads=1, progress=False)
