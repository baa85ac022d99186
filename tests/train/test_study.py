"""lib.train.study (issue 22): the recipe-choosing lay slice, the proxies' rank correlations, the choice."""

from __future__ import annotations

import numpy as np
import pytest

from lib.data.hpo import load_hpo
from lib.text import match_key
from lib.train import study


def test_lay_dev_slice_is_a_tenth_and_concept_disjoint_from_the_test_part():
    lex = load_hpo().lexicon
    dev = study.lay_dev_mask(lex, 0.1, seed=0)
    assert 0.08 < dev.mean() < 0.12
    concepts = lambda m: set(lex.gold_hpos[m].explode())  # noqa: E731
    assert concepts(dev).isdisjoint(concepts(~dev))
    assert {match_key(t) for t in lex.Terme[dev]}.isdisjoint({match_key(t) for t in lex.Terme[~dev]})
    assert (study.lay_dev_mask(lex, 0.1, seed=0) == dev).all() and not (study.lay_dev_mask(lex, 0.1, 1) == dev).all()
    with pytest.raises(ValueError):
        study.lay_dev_mask(lex, 1.5)


def rows(test, **proxies):
    return [{"label": f"v{i}", "test": {"acc@1": t}, **{k: v[i] for k, v in proxies.items()}}
            for i, t in enumerate(test)]


def test_the_proxy_that_ranks_like_the_test_part_is_chosen():
    test = [0.40, 0.45, 0.43, 0.38, 0.47]
    r = rows(test, **{"dev_acc@1": [0.70, 0.69, 0.71, 0.72, 0.68],           # ranks the reverse way
                      "dev-def_acc@1": [0.30, 0.34, 0.33, 0.20, 0.35],       # same order as the test part
                      "lay_dev_acc@1": [0.41, 0.44, 0.45, 0.39, 0.46]})      # nearly the same
    corr = study.proxy_correlations(r)
    assert corr["definition -> concept (b)"]["spearman"] == pytest.approx(1.0)
    assert corr["synonym dev (c)"]["spearman"] < 0
    assert corr["definition -> concept (b)"]["chooses"] == "v4" and corr["synonym dev (c)"]["chooses"] == "v3"
    assert study.choose(r, corr) == {"proxy": "definition -> concept (b)", "variant": "v4"}


def test_a_proxy_missing_for_some_variants_is_correlated_on_the_rest():
    r = rows([0.1, 0.2, 0.3, 0.4], **{"dev_acc@1": [1, 2, 3, 4], "dev-def_acc@1": [None, 2, 3, 1],
                                      "lay_dev_acc@1": [None, None, 1, 2]})
    corr = study.proxy_correlations(r)
    assert corr["definition -> concept (b)"]["n"] == 3 and np.isnan(corr["lay-term dev slice (a)"]["spearman"])
    assert study.choose(r, corr)["proxy"] == "synonym dev (c)"


def test_corpus_variants_share_one_step_budget_and_differ_only_in_data():
    from lib import params
    variants = study.corpus_variants(params.load("minilm-l6-sap"), 120)
    assert {v.training.max_steps for v in variants.values()} == {120}
    assert variants["HPO + MONDO 15%"].training.corpus_shares == {"mondo": 0.15}
    assert variants["HPO + MONDO 15% + MeSH 15%"].training.corpus == ["hpo", "mondo", "mesh"]
    assert {v.training.objective for v in variants.values()} == {"multisim"}


def test_variants_are_tested_pairwise_against_the_first_on_the_same_terms():
    # v1 wins 30 terms the reference misses and loses 5: a real difference; v2 equals the reference
    ref = np.r_[np.ones(50), np.full(30, 2), np.ones(5), np.full(15, 3)].astype(int)
    v1 = np.r_[np.ones(50), np.ones(30), np.full(5, 2), np.full(15, 3)].astype(int)
    r = [{"label": "HPO", "test_ranks": ref.tolist()}, {"label": "v1", "test_ranks": v1.tolist()},
         {"label": "v2", "test_ranks": ref.tolist()}, {"label": "old row without ranks"}]
    paired = study.paired_tests(r)
    assert set(paired) == {"v1", "v2"} and paired["v1"]["against"] == "HPO"
    assert (paired["v1"]["only_a"], paired["v1"]["only_b"]) == (30, 5) and paired["v1"]["p"] < 1e-3
    assert paired["v2"]["p"] == 1.0 and paired["v2"]["diff"] == 0
    assert study.paired_tests([{"label": "old", "test": {}}]) == {}
