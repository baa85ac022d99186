"""Six-point ontology ratings, expert-rating import (fixture CSVs incl. malformed), complementarity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lib.analysis import ratings
from lib.errors import DataFormatError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "ratings"

#   ROOT
#   ├── HP:0000118 (phenotypic abnormality)
#   │   ├── A ── A1 ── A11 ── A111 ── A1111
#   │   │    │      └─ A12
#   │   │    └─ A2
#   │   └── B ── B1
#   │   C: child of A11 and of B1 (a term with two parents)
#   └── INH (another root branch) ── INH1
TERMS = pd.DataFrame([
    ("ROOT", []), ("HP:0000118", ["ROOT"]), ("A", ["HP:0000118"]), ("A1", ["A"]), ("A2", ["A"]),
    ("A11", ["A1"]), ("A12", ["A1"]), ("A111", ["A11"]), ("A1111", ["A111"]), ("B", ["HP:0000118"]),
    ("B1", ["B"]), ("C", ["A11", "B1"]), ("INH", ["ROOT"]), ("INH1", ["INH"]),
], columns=["hpo_id", "parents"])


@pytest.fixture(scope="module")
def graph():
    return ratings.build_graph(TERMS)


@pytest.mark.parametrize("gold,pred,expected", [
    ("A1", "A1", 5),
    ("A1", "A", 4), ("A", "A1", 4),            # parent / child
    ("A1", "A2", 3),                          # siblings
    ("A11", "A", 3), ("A", "A11", 3),         # grandparent / grandchild
    ("A11", "A2", 2),                         # A11-A1-A-A2: 3 steps
    ("A1111", "A1", 2),                       # 3 steps up
    ("A1111", "A", 2),                        # 4 steps up
    ("A1111", "A2", 1),                       # 5 steps, same branch A
    ("A11", "B1", 2),                         # 2 steps through the shared child C
    ("A2", "B1", 0),                          # only linked through HP:0000118: different branches
    ("A", "B", 0),                            # siblings under HP:0000118 do not count
    ("A1", "INH1", 0),
])
def test_rate_terms(graph, gold, pred, expected):
    assert ratings.rate_terms(graph, gold, pred) == expected


def test_branches(graph):
    assert graph.branches["A1111"] == frozenset({"A"})
    assert graph.branches["C"] == frozenset({"A", "B"})
    assert graph.branches["INH1"] == frozenset()


def test_rate_row_multiple_ids_cui_and_unratable(graph):
    assert ratings.rate_row(graph, "A1|B1", "A2") == 3.0          # best over the gold ids
    assert ratings.rate_row(graph, "A1", "B1", "C001", "C001") == 5.0  # same CUI
    assert np.isnan(ratings.rate_row(graph, "A1", ""))              # no predicted HPO id
    assert np.isnan(ratings.rate_row(graph, "A1", "HP:9999999"))    # not in the ontology


def test_rate_alignments_and_counts(graph):
    t = pd.DataFrame({"gold_hpo": ["A1", "A1", "A11", "A1"], "pred_hpo": ["A1", "A2", "B1", ""],
                      "gold_cui": ["", "", "", ""], "pred_cui": ["", "", "", ""]})
    r = ratings.rate_alignments(t, graph)
    assert r.tolist()[:3] == [5.0, 3.0, 2.0] and np.isnan(r.iloc[3])
    assert ratings.rating_counts(r) == {0: 0, 1: 0, 2: 1, 3: 1, 4: 0, 5: 1}


def test_read_expert_ratings_good():
    e = ratings.read_expert_ratings(FIX / "good.csv")
    assert e[["source", "target", "rating"]].values.tolist() == [
        ["S1", "HP:A1", 4], ["lay term two", "HP:B1", 0], ["S9", "HP:Z", 3]]
    assert e.line.tolist() == [2, 3, 4]


@pytest.mark.parametrize("fname,line,field,words", [
    ("bad-rating.csv", 3, "rating", "integer"),
    ("bad-header.csv", 1, "rating", "missing column"),
    ("out-of-range.csv", 2, "rating", "between 0 and 5"),
    ("empty-source.csv", 3, "source", "empty"),
    ("conflict.csv", 3, "rating", "conflicting"),
    ("extra-field.csv", 2, None, "fields"),
])
def test_read_expert_ratings_malformed(fname, line, field, words):
    with pytest.raises(DataFormatError) as err:
        ratings.read_expert_ratings(FIX / fname)
    msg = str(err.value)
    assert fname in msg and f"line {line}" in msg and words in msg
    assert err.value.line == line and err.value.field == field


def test_missing_expert_file(tmp_path):
    with pytest.raises(DataFormatError, match="does not exist"):
        ratings.read_expert_ratings(tmp_path / "nope.csv")


def test_apply_expert_ratings_replaces_and_counts():
    t = pd.DataFrame({"source_id": ["S1", "S2", "S3"], "source_text": ["one", "lay term two", "three"],
                      "pred_hpo": ["HP:A1", "HP:B1", "HP:C"], "pred_cui": ["", "", ""],
                      "pred_str": ["a1", "b1", "c"], "rating": [2.0, 5.0, 1.0]})
    out, stats = ratings.apply_expert_ratings(t, ratings.read_expert_ratings(FIX / "good.csv"))
    assert out.rating.tolist() == [4.0, 0.0, 1.0]                # S1 by id, row 2 by source text
    assert out.rating_source.tolist() == ["expert", "expert", "auto"]
    assert stats == {"expert_rows": 3, "replaced": 2, "unmatched_expert_rows": 1}


def test_complementarity_hand_computed():
    a = pd.DataFrame({"source_id": ["1", "2", "3", "4"], "correct": [True, True, False, False],
                      "score": [0.9, 0.5, 0.7, 0.1]})
    b = pd.DataFrame({"source_id": ["1", "2", "3", "4"], "correct": [True, False, True, False],
                      "score": [0.2, 0.8, 0.6, 0.4]})
    m, s = ratings.complementarity(a, b)
    assert (s["both_right"], s["only_a"], s["only_b"], s["both_wrong"]) == (1, 1, 1, 1)
    assert s["acc_a"] == 0.5 and s["acc_b"] == 0.5 and s["oracle"] == 0.75
    # z-scores: a = [0.9,0.5,0.7,0.1] -> mean 0.55, sd 0.2958; b = [0.2,0.8,0.6,0.4] -> mean 0.5, sd 0.2236
    # source 2: z_a = -0.169, z_b = 1.342 -> B (wrong); source 3: z_a = 0.507, z_b = 0.447 -> A (wrong)
    assert m.fusion_pick.tolist() == ["a", "b", "a", "b"]
    assert m.fusion_correct.tolist() == [True, False, False, False]
    assert s["fusion"] == 0.25


def test_fit_gaussian():
    mu, sd = ratings.fit_gaussian([1.0, 2.0, 3.0])
    assert mu == pytest.approx(2.0) and sd == pytest.approx(np.sqrt(2 / 3))


def test_expert_ratings_latin1(tmp_path):
    f = tmp_path / "experts.csv"
    f.write_bytes("source,target,rating\nS1,HP:1,4\nfièvre,HP:2,3\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"experts.csv, line 3: not UTF-8 .* at byte 33"):
        ratings.read_expert_ratings(f)


@pytest.mark.parametrize("requested,available,expected", [
    ("mpnet-base", [], "mpnet-base"),                                     # an explicit other model
    ("", ["minilm-l6", "mpnet-base", "sapbert-large"], "mpnet-base"),     # first other one with results
    ("minilm-l6", ["minilm-l6", "mpnet-base"], "mpnet-base"),             # itself: never; another instead
    ("", ["minilm-l6", "tiny"], None),                                    # the test model is no partner
    ("minilm-l6", ["minilm-l6"], None),                                   # MODELS=minilm-l6: skipped
    ("", [], None),
])
def test_pair_second_model(requested, available, expected):
    second, note = ratings.pair_second_model("minilm-l6", requested, available)
    assert second == expected
    assert second != "minilm-l6"
    if expected is None:
        assert "needs two models" in note and "skipped" in note
    else:
        assert f"second model: {expected}" in note
    assert ("with itself" in note) == (requested == "minilm-l6")
