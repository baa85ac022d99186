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


# --- corpora, cross-ontology merge, leakage per corpus (issue 22) -------------------------------------------

def test_match_key_ignores_case_punctuation_hyphens_and_spaces():
    from lib.text import match_key
    assert match_key("Long, slender fingers") == match_key("long slender fingers") == match_key("long slender-fingers")
    assert match_key("Short-limb dwarfism") == match_key("short limb  dwarfism") == match_key("shortlimb dwarfism")
    assert match_key("High pitched voice") == match_key("high-pitched voice")
    assert match_key("Type 2 diabetes") != match_key("type 1 diabetes")


def test_trivial_lay_terms_use_the_same_key(hpo):
    """The non-trivial subset and the leakage filter share lib.text.match_key: a lay term equal to one of its
    concept's targets up to punctuation is trivial."""
    from lib.text import match_key
    targets = hpo.targets.groupby("SCUI").STR.apply(lambda s: {match_key(x) for x in s})
    expect = [any(match_key(t) in targets.get(g, set()) for g in golds)
              for t, golds in zip(hpo.lexicon.Terme, hpo.lexicon.gold_hpos)]
    assert hpo.lexicon.trivial.tolist() == expect


def test_entry_terms_drop_generated_plurals_and_inversions():
    variants = ["acute abdomen", "acute abdomens", "abdomen, acute", "abdomens, acute", "colic", "gas, intestinal"]
    assert tp.entry_terms(variants) == ["acute abdomen", "colic", "gas, intestinal"]


def _sources(mondo_synonyms: list[str]) -> dict:
    """A small MONDO and MeSH in the loaders' tables, for corpus_training_set(sources=...)."""
    mondo = pd.DataFrame({"mondo_id": ["MONDO:0005068", "MONDO:0000999"],
                          "label": ["myocardial infarction", "pink eye disease"],
                          "definition": ["Gross necrosis of the myocardium.", ""],
                          "synonyms": [mondo_synonyms, ["conjunctivitis, infective", "red eye illness"]],
                          "ancestors": [{}, {}]})
    mesh = pd.DataFrame({"mesh_id": ["D009203"], "name": ["Myocardial Infarction"], "tree_numbers": [["C14"]],
                         "variants": [["heart attack", "myocardial infarct", "heart attacks"]]})
    mondo_defs = mondo.loc[mondo.definition != "", ["mondo_id", "definition"]].set_axis(["concept", "string"], axis=1)
    return {"mondo": (tp.mondo_strings(mondo), mondo_defs),
            "mesh": (tp.mesh_strings(mesh), pd.DataFrame(columns=["concept", "string"]))}


def test_two_ontologies_sharing_a_string_get_one_label_and_never_meet_as_negatives(hpo):
    from lib.train.samplers import plan_batches
    ts = tp.corpus_training_set(hpo, ["hpo", "mondo", "mesh"], None, dev_concepts=50, definitions=True,
                                sources=_sources(["heart attack", "MI", "myocardial infarct"]))
    mi = ts.pairs[ts.pairs.source.isin(["mondo", "mesh"]) & ts.pairs.anchor.str.contains("infarct|heart attack")]
    assert set(mi.source) == {"mondo", "mesh"} and mi.concept.nunique() == 1   # one label for both ontologies
    merge = ts.counts["merge"]
    assert merge["cross_ontology_groups"] >= 1 and merge["largest_group"] <= 3
    label = mi.concept.iloc[0]
    for seed in range(5):
        batches, _ = plan_batches(ts.pairs.concept.tolist(), 64, seed)
        for b in batches:  # the sampler never puts two pairs of the merged concept in one batch
            assert (ts.pairs.concept.iloc[b] == label).sum() <= 1


def test_an_ambiguous_string_never_merges_and_a_chain_is_split():
    strings = pd.DataFrame({"concept": ["HP:1", "HP:2", "MONDO:1", "MONDO:2", "MESH:1", "HP:3", "MONDO:3"],
                            "string": ["ASD", "asd", "atrial septal defect", "autism", "Atrial-septal defect",
                                       "heart attack", "heart attack"]})
    label, report = tp.merge_concepts(strings)
    assert label["HP:1"] != label["HP:2"]                  # "asd" is two HPO concepts: links nothing
    assert label["MONDO:1"] == label["MESH:1"] == "MESH:1"  # punctuation-insensitive link
    assert label["HP:3"] == label["MONDO:3"] == "HP:3"      # HPO's id labels its group
    assert report["ambiguous_strings_not_linking"] == 1 and report["cross_ontology_groups"] == 2
    chain = pd.DataFrame({"concept": ["HP:1", "MONDO:1", "MONDO:1", "HP:2"], "string": ["a", "a", "b", "b"]})
    label, report = tp.merge_concepts(chain)               # HP:1 - MONDO:1 - HP:2 would glue two HPO targets
    assert label["HP:1"] != label["HP:2"] and report["groups_split"] >= 1


@pytest.mark.parametrize("planted", ["{lay}", "{lay_punct}"])
def test_leakage_filter_covers_every_corpus_and_can_fail(hpo, planted):
    """A MONDO synonym equal to an evaluated lay term, as is or as a punctuation variant, never reaches
    training; the former case-and-spaces filter lets the punctuation variant through (the test can fail)."""
    lay = "Long slender fingers" if "Long slender fingers" in set(hpo.lexicon.Terme) else hpo.lexicon.Terme.iloc[0]
    lay_punct = lay.replace(" ", ", ", 1).upper()
    plant = planted.format(lay=lay, lay_punct=lay_punct)
    ts = tp.corpus_training_set(hpo, ["hpo", "mondo"], None, dev_concepts=50, definitions=False,
                                sources=_sources(["myocardial infarct", plant]))
    from lib.text import match_key
    keys = set(ts.pairs.anchor.map(match_key)) | set(ts.pairs.positive.map(match_key))
    assert keys.isdisjoint({match_key(s) for s in hpo.lexicon.Terme} | set(ts.dev["query"].map(match_key)))
    assert ts.counts["per_corpus"]["mondo"]["pairs_dropped_lay"] >= 1
    unfiltered = tp.concept_pairs(_sources(["myocardial infarct", plant])["mondo"][0], 50)
    loose = {tp.normalise(s) for s in hpo.lexicon.Terme}
    caught_by_old = unfiltered.anchor.isin(loose) | unfiltered.positive.isin(loose)
    assert caught_by_old.any() == (plant == lay)           # only the new key catches the punctuation variant
    assert ts.counts["per_corpus"]["mondo"]["pairs_dropped_lay_by_stricter_key"] == (0 if plant == lay else 2)


def test_corpus_shares_subsample_the_later_corpora(hpo):
    full = tp.corpus_training_set(hpo, ["hpo", "mesh"], None, dev_concepts=50, definitions=False,
                                  sources=_sources(["heart attack"]))
    assert full.counts["per_corpus"]["mesh"]["pairs_used"] == full.counts["per_corpus"]["mesh"]["pairs"]
    hpo_pairs = full.counts["per_corpus"]["hpo"]["pairs_used"]
    share = tp._share_sample({"hpo": full.pairs[full.pairs.source == "hpo"],
                              "x": pd.concat([full.pairs] * 3)}, ["hpo", "x"], {"x": 0.15}, seed=0)
    kept, report = share
    assert len(kept["hpo"]) == hpo_pairs and abs(report["x"]["share"] - 0.15) < 0.001


def test_dev_definitions_are_held_out_of_every_pair(hpo):
    ts = tp.corpus_training_set(hpo, ["hpo"], None, dev_concepts=100, definitions=True)
    from lib.text import match_key
    assert len(ts.dev_definitions) > 50 and set(ts.dev_definitions.concept) <= set(ts.dev.concept)
    keys = set(ts.pairs.positive.map(match_key)) | set(ts.pairs.anchor.map(match_key))
    assert keys.isdisjoint(set(ts.dev_definitions["query"].map(match_key)))
    assert ts.counts["per_corpus"]["hpo"]["pairs_dropped_dev_definitions"] > 0
