"""lib.rerank.data and candidates: no evaluated lay string and no dev query in anything a reranker trains on
(queries, pool, candidate strings, the definitions shown, the lay cross-fit folds); negatives and the gold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.data.hpo import load_hpo
from lib.rerank import data as rd
from lib.rerank.candidates import Candidates, concept_level
from lib.train.pairs import lay_strings, normalise


@pytest.fixture(scope="module")
def hpo():
    return load_hpo()


@pytest.fixture(scope="module")
def default_data(hpo):
    """The default training data (no sampling), as notebooks 04 and 12 build it."""
    return rd.training_data(hpo, dev_concepts=300, seed=0)


def test_no_evaluated_lay_string_in_the_default_training_data(hpo, default_data):
    lay = {normalise(s) for s in lay_strings(hpo)}
    assert len(lay) > 7000
    used = set(default_data.queries["query"]) | set(default_data.pool["string"])
    assert not used & lay
    assert not set(default_data.dev["query"]) & lay
    assert rd.leaked_strings(default_data) == set()
    # the check has teeth: a lay string planted in the pool is found
    planted = rd.TrainingData(default_data.queries, pd.concat([default_data.pool, pd.DataFrame(
        {"concept": ["HP:0000001"], "string": [sorted(lay)[0]]})]), default_data.dev, default_data.forbidden)
    assert rd.leaked_strings(planted) == {sorted(lay)[0]}
    # the lay strings that are also HPO names / synonyms were removed from the pool, not just from queries
    assert default_data.counts["pool_strings_dropped_lay"] > 0


def test_queries_are_non_lay_synonyms_and_dev_queries_are_held_out(hpo, default_data):
    q = default_data.queries
    assert len(q) > 10_000 and set(q.source) == {"hpo"}
    syn = {normalise(s) for s in hpo.terms.synonyms.explode().dropna()}
    assert set(q["query"]) <= syn
    assert not set(q["query"]) & set(default_data.dev["query"])
    assert not set(default_data.pool["string"]) & set(default_data.dev["query"])
    # a query's golds are the concepts that have its string
    row = q.iloc[0]
    assert set(default_data.pool[default_data.pool.string == row["query"]].concept) == set(row["golds"])


def test_french_queries_add_no_lay_string(hpo, data_mirror):
    td = rd.training_data(hpo, dev_concepts=50, seed=0, french=True, max_queries=None)
    assert "hpo-fr" in set(td.queries.source)
    assert rd.leaked_strings(td) == set()


def test_concept_level_collapses_strings_and_excludes_the_query_string():
    codes = np.array(["A", "A", "B", "C", "B", "D"], dtype=object)
    strings = np.array(["fever", "pyrexia", "fevers", "chill", "hot", "cold"], dtype=object)
    idx = np.array([[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]])
    scores = np.tile(np.linspace(1, 0.5, 6), (2, 1)).astype(np.float32)
    out = concept_level(scores, idx, codes, strings, 3, exclude=[{"fever"}, set()])
    assert out.concepts[0].tolist() == ["A", "B", "C"] and out.strings[0].tolist() == ["pyrexia", "fevers", "chill"]
    assert out.concepts[1].tolist() == ["D", "B", "C"] and out.strings[1].tolist() == ["cold", "hot", "chill"]
    few = concept_level(scores[:, :2], idx[:, :2], codes, strings, 3)
    assert few.concepts[0].tolist() == ["A", "", ""] and np.isneginf(few.scores[0, 1:]).all()


def test_training_examples_hold_a_gold_and_no_false_negative(tiny_setup):
    P, enc, tr = tiny_setup
    ex, td = tr.examples, tr.data
    assert ex.labels.any(1).all()                                      # a gold in every query's candidates
    strings_of = td.pool.groupby("concept")["string"].agg(set)
    pool = set(td.pool["string"])
    for q, golds, concepts, strings, valid in zip(ex.queries, ex.golds, ex.candidates.concepts,
                                                 ex.candidates.strings, ex.candidates.valid):
        gold_strings = set().union(*(strings_of[g] for g in golds))
        assert q not in set(strings[valid])                            # the query's own string is never shown
        assert set(strings[valid]) <= pool
        for c, s in zip(concepts[valid], strings[valid]):
            assert c in golds or s not in gold_strings                 # no negative with a gold concept's string
        assert len(set(concepts[valid])) == valid.sum()                # one slot per concept
    assert rd.leaked_strings(td, ex.candidates) == set()
    assert 0 < (ex.retrieved_rank > 0).mean() <= 1
    assert ex.key() == rd.Examples(ex.queries, ex.golds, ex.candidates, ex.labels, ex.retrieved_rank).key()


def test_leakage_covers_definitions_candidates_and_dev_queries(hpo, tiny_setup):
    """The new inputs: a lay string shown as a candidate's definition, or a dev query among the candidate
    strings, is found; the real lists hold none."""
    _, _, tr = tiny_setup
    td, cands = tr.data, tr.examples.candidates
    assert rd.leakage(td, cands, tr.definitions) == {"lay": set(), "dev": set()}
    assert len(tr.definitions) > 16_000 and set(cands.concepts[cands.valid]) & set(tr.definitions)
    lay = sorted(td.forbidden)[0]
    concept = cands.concepts[0, 0]
    planted = dict(tr.definitions, **{concept: lay.upper()})           # compared after normalisation
    assert rd.leakage(td, cands, planted)["lay"] == {lay}
    dev_q = td.dev["query"].iloc[0]
    shown = Candidates(cands.concepts.copy(), cands.strings.copy(), cands.scores.copy())
    shown.strings[0, 0] = dev_q
    assert rd.leakage(td, shown, tr.definitions)["dev"] == {dev_q}
    assert rd.leaked_strings(td, shown, planted) == {lay, dev_q}


def test_lay_cross_fit_lists_hold_only_the_other_folds(hpo):
    """The supervised row trains on lay terms of the other folds only; folds are concept-disjoint."""
    from lib.train.pairs import crossfit_folds

    lex = hpo.lexicon.iloc[:400].reset_index(drop=True)
    folds = crossfit_folds(lex, 2, 0)
    gold = lex["gold_hpos"].tolist()
    conc = np.array([[g[0] if isinstance(g, (list, tuple)) else g, "HP:0000001"] for g in gold], dtype=object)
    cands = Candidates(conc, conc.copy(), np.ones(conc.shape, np.float32))
    for f in (0, 1):
        ex = rd.lay_examples(lex["Terme"].tolist(), gold, cands, np.flatnonzero(folds != f))
        held = {normalise(t) for t in lex["Terme"][folds == f]}
        assert not set(ex.queries) & held and len(ex.queries) == int((folds != f).sum())
        held_concepts = {c for g in lex["gold_hpos"][folds == f] for c in (g if isinstance(g, (list, tuple)) else [g])}
        assert not {c for g in ex.golds for c in g} & held_concepts     # concept-disjoint
        assert ex.labels[:, 0].all()
