"""lib.train.pairs: SapBERT's pair construction, the leakage guarantees and the concept-split folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.data import fixtures, umls
from lib.data.hpo import load_hpo
from lib.data.synthetic import write_synthetic_mrconso
from lib.train import pairs as tp


@pytest.fixture(scope="module")
def hpo():
    return load_hpo()


@pytest.fixture(scope="module")
def default_set(hpo):
    return tp.embedded_training_set(hpo, max_pairs_per_concept=50, dev_concepts=300, seed=0)


def strings_of(pairs: pd.DataFrame) -> set[str]:
    return set(pairs.anchor.map(tp.normalise)) | set(pairs.positive.map(tp.normalise))


def test_normalise_lowercases_and_collapses_whitespace_only():
    assert tp.normalise("  Big\t\nToe  ") == "big toe"
    assert tp.normalise("Type-2 Diabetes") == "type-2 diabetes"


def test_concept_pairs_dedupes_caps_and_is_seeded():
    strings = pd.DataFrame({"concept": ["A"] * 12 + ["B", "B", "C"],
                            "string": [f"s{i}" for i in range(12)] + ["Fever", "fever ", "alone"]})
    out = tp.concept_pairs(strings, max_pairs_per_concept=10, seed=3)
    a = out[out.concept == "A"]
    assert len(a) == 10 and len(set(zip(a.anchor, a.positive))) == 10     # 66 possible, capped
    assert set(a.anchor) | set(a.positive) <= {f"s{i}" for i in range(12)}
    assert "B" not in set(out.concept) and "C" not in set(out.concept)   # one distinct string: no positive
    assert out.equals(tp.concept_pairs(strings, 10, seed=3))
    assert not out.equals(tp.concept_pairs(strings, 10, seed=4))
    assert len(tp.concept_pairs(strings, None)) == 66
    with pytest.raises(ValueError):
        tp.concept_pairs(strings, 0)


def test_cross_pairs_pairs_only_within_a_concept():
    left = pd.DataFrame({"concept": ["A", "A", "B"], "string": ["x", "y", "z"]})
    right = pd.DataFrame({"concept": ["A", "B", "B", "C"], "string": ["X1", "Z1", "z", "w"]})
    out = tp.cross_pairs(left, right, None)
    assert sorted(zip(out.anchor, out.positive, out.concept)) == [("x", "x1", "A"), ("y", "x1", "A"),
                                                                  ("z", "z1", "B")]  # z == z: no pair
    assert len(tp.cross_pairs(left, right, 1)) == 2


def test_drop_strings_matches_after_normalisation_and_counts():
    pairs = pd.DataFrame({"anchor": ["big toe", "a"], "positive": ["hallux", "b"], "concept": ["X", "Y"],
                          "kind": "synonym", "source": "hpo"})
    kept, dropped = tp.drop_strings(pairs, ["  Big   TOE"])
    assert dropped == 1 and kept.anchor.tolist() == ["a"]


def test_mrconso_fixture_pairs_by_cui_and_lay_strings_dropped(licensed_fixtures):
    mrconso = umls.read_mrconso(licensed_fixtures["umls_mrconso"], languages=["ENG", "FRE"], keep_suppressed=True)
    out = tp.mrconso_pairs(mrconso, max_pairs_per_concept=50)
    # per CUI: English, its upper-case copy (same after lower-casing) and French -> two strings, one pair
    assert len(out) == len(fixtures.CONCEPTS) and out.concept.is_unique
    assert set(out.source) == {"mrconso"} and (out.anchor != out.positive).all()
    lay = fixtures.lexicon_frame().Terme
    kept, dropped = tp.drop_strings(out, lay)
    assert dropped == 1 and "C9000004" not in set(kept.concept)   # "fièvre" is a French string and a lay term


def test_mrconso_pairs_on_synthetic_file_follow_sapbert_counts(tmp_path):
    path = write_synthetic_mrconso(tmp_path / "MRCONSO.RRF", 3_000, seed=1)
    mrconso = umls.read_mrconso(path, languages=None)
    out = tp.mrconso_pairs(mrconso, max_pairs_per_concept=5, seed=0)
    distinct = mrconso.assign(s=mrconso.STR.astype(str).map(tp.normalise)).groupby("CUI", observed=True).s.nunique()
    expected = distinct.map(lambda n: min(n * (n - 1) // 2, 5))
    got = out.groupby("concept").size().reindex(expected.index, fill_value=0)
    assert (got == expected).all() and got.sum() > 1_000
    assert not out.duplicated(["anchor", "positive", "concept"]).any()


def test_default_pairs_hold_no_evaluated_lay_string(hpo, default_set):
    lay = {tp.normalise(s) for s in hpo.lexicon.Terme}
    assert len(lay) > 7_000
    assert strings_of(default_set.pairs).isdisjoint(lay)
    assert default_set.counts["pairs_dropped_lay"] > 0   # the filter had work to do (names equal to lay terms)
    assert set(default_set.pairs.kind) == {"synonym", "definition"}


def test_dev_synonyms_are_held_out_of_training(default_set):
    dev = default_set.dev
    assert dev.concept.nunique() == 300 and len(dev) >= 300
    assert strings_of(default_set.pairs).isdisjoint(set(dev["query"]))
    assert default_set.counts["dev_synonyms_held_out"] >= len(dev)


def test_leakage_check_can_fail(hpo, default_set):
    """Planting one lay term into the pairs is seen by the same check the tests use."""
    planted = pd.concat([default_set.pairs, pd.DataFrame([{"anchor": hpo.lexicon.Terme.iloc[0].upper(),
                                                          "positive": "x", "concept": "HP:0000001",
                                                          "kind": "synonym", "source": "hpo"}])])
    assert not strings_of(planted).isdisjoint({tp.normalise(s) for s in hpo.lexicon.Terme})
    assert tp.drop_strings(planted, hpo.lexicon.Terme)[1] == 1


def test_crossfit_folds_never_train_on_a_lay_term_of_a_scored_concept(hpo, default_set):
    folds = tp.crossfit_folds(hpo.lexicon, n_folds=5, seed=0)
    assert len(folds) == len(hpo.lexicon) == 7_164 and set(folds) == set(range(5))
    assert np.bincount(folds).max() - np.bincount(folds).min() <= 50
    for k in range(5):
        scored = hpo.lexicon[folds == k]
        train = tp.crossfit_training_pairs(default_set.pairs, hpo, folds, k)
        lay_train = train[train.kind == "lay"]
        assert len(lay_train) > 4_000
        assert strings_of(train).isdisjoint({tp.normalise(s) for s in scored.Terme})
        scored_concepts = set(scored.gold_hpos.explode())
        assert not lay_train.concept.isin(scored_concepts).any()


def test_crossfit_folds_keep_linked_terms_together():
    lexicon = pd.DataFrame({"Terme": ["Big toe", "big  toe", "hallux thing", "a", "b", "c", "d"],
                            "gold_hpos": [("A",), ("B",), ("B", "C"), ("D",), ("E",), ("F",), ("G",)]})
    for seed in range(5):
        folds = tp.crossfit_folds(lexicon, n_folds=3, seed=seed)
        assert folds[0] == folds[1] == folds[2]             # same string, then shared concept B
        assert len(set(folds)) == 3


def test_french_cross_lingual_pairs_stay_leak_free(hpo, data_mirror):
    ts = tp.embedded_training_set(hpo, french=True)
    fr = ts.pairs[ts.pairs.kind == "cross-lingual"]
    assert len(fr) > 10_000 and set(fr.source) == {"hpo-fr"}
    assert strings_of(ts.pairs).isdisjoint({tp.normalise(s) for s in hpo.lexicon.Terme} | set(ts.dev["query"]))


def test_licensed_training_set_from_a_params_file_holds_out_dev_and_lay_strings(tmp_path, licensed_fixtures):
    """corpus: mrconso reads umls_mrconso with the params' filters, holds dev synonyms out and drops the
    licensed lexicon's lay terms (and the HPO's) from the pairs."""
    from lib import params

    path = write_synthetic_mrconso(tmp_path / "MRCONSO.RRF", 3_000, seed=2)
    P = params.validate({"name": "x", "model": "trained", "umls_mrconso": str(path), "umls_languages": ["ENG"],
                         "lay_lexicon": str(licensed_fixtures["lay_lexicon"]),
                         "training": {"base": "tiny", "corpus": "mrconso", "dev_concepts": 20,
                                      "max_pairs_per_concept": 5}})
    ts = tp.training_set(P)
    assert set(ts.pairs.source) == {"mrconso"} and len(ts.pairs) > 100
    assert ts.dev.concept.nunique() == 20
    held = set(zip(ts.dev.concept, ts.dev["query"]))
    in_pairs = set(zip(ts.pairs.concept, ts.pairs.anchor)) | set(zip(ts.pairs.concept, ts.pairs.positive))
    assert not held & in_pairs
    assert strings_of(ts.pairs).isdisjoint({tp.normalise(s) for s in fixtures.lexicon_frame().Terme})
    assert ts.strings is not None and not ts.strings.empty
