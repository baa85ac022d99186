import numpy as np
import pandas as pd

from lib.engines.batching import normalize
from lib.search import align, topk


def test_topk_matches_full_matrix_across_blocks():
    rng = np.random.default_rng(0)
    q, t = normalize(rng.normal(size=(37, 16))), normalize(rng.normal(size=(1001, 16)))
    full = q @ t.T
    want_i = np.argsort(-full, axis=1)[:, :7]
    s, i = topk.topk(q, t, k=7, block=100, query_block=10)
    assert np.array_equal(i, want_i)
    assert np.allclose(s, np.take_along_axis(full, want_i, 1), atol=1e-6)


def test_topk_with_k_larger_than_targets():
    q, t = normalize(np.eye(3)), normalize(np.eye(3)[:2])
    s, i = topk.topk(q, t, k=5)
    assert s.shape == (3, 2) and i[0, 0] == 0 and i[1, 0] == 1


def test_main_table_marks_correct_alignment():
    src = pd.DataFrame({"source_id": ["a", "b"], "source_text": ["x", "y"], "gold_cui": ["C1", "C2"],
                        "gold_hpo": ["HP:1", "HP:2"]})
    tgt = pd.DataFrame({"STR": ["s1", "s2"], "CUI": ["C1", "C2"], "CODE": ["HP:1", "HP:2"]})
    tab = align.main_table(src, tgt, np.array([[0.9], [0.8]]), np.array([[0], [0]]), np.array([1, 0]))
    assert tab.correct.tolist() == [True, False]
    assert tab.pred_hpo.tolist() == ["HP:1", "HP:1"]


def test_readme_section_replacement():
    from lib.report.readme import replace_section
    text = "a\n<!-- x:start -->\nold\n<!-- x:end -->\nb\n"
    assert replace_section(text, "x", "new") == "a\n<!-- x:start -->\nnew\n<!-- x:end -->\nb\n"
    import pytest
    with pytest.raises(ValueError, match="markers"):
        replace_section("no markers", "x", "y")


def test_main_table_takes_the_concept_columns_by_name():
    """MeSH targets have a code and no CUI: the concept columns are named, and a missing one is an error."""
    src = pd.DataFrame({"source_id": ["a"], "source_text": ["x"]})
    mesh = pd.DataFrame({"STR": ["s1", "s2"], "CODE": ["D1", "D2"]})
    tab = align.main_table(src, mesh, np.array([[0.9]]), np.array([[1]]), np.array([0]), {"pred_code": "CODE"})
    assert tab.pred_code.tolist() == ["D2"] and "pred_cui" not in tab
    import pytest
    with pytest.raises(KeyError, match="no column"):
        align.main_table(src, mesh, np.array([[0.9]]), np.array([[1]]), np.array([0]))
