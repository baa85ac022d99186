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


def test_04_through_the_partition_functions_gives_the_same_numbers_when_the_batches_are_the_same():
    """params search.partitions: the targets go into a store and through embed_store / search_store.
    With fixed batches as large as the data, each side is one encoder call as in the in-memory route,
    and every number is identical (dynamic INT8: batch-dependent vectors); with smaller fixed batches
    the vectors differ, which is why the switch is off by default."""
    from lib import params
    from lib.data import tiers
    from lib.formats import load_encoder

    P = params.load("tiny", max_sources=40, max_targets=300)
    data = tiers.alignment_data(P)
    enc = load_encoder(P, "onnx-int8-dynamic")
    main, extensive, metrics = align.align_and_score(enc, data, P)
    same = params.load("tiny", max_sources=40, max_targets=300, fixed_batch_rows=512, partition_rows=512,
                       search={"partitions": True})
    p_main, p_ext, p_metrics = align.align_and_score(enc, data, same)
    assert p_metrics["search"]["route"] == "partitions" and "search" not in metrics
    for key in ("acc@1", "acc@5", "acc@10", "mrr"):
        assert p_metrics[key] == metrics[key], key
    pd.testing.assert_frame_equal(p_main, main)
    pd.testing.assert_frame_equal(p_ext, extensive)
    small = params.load("tiny", max_sources=40, max_targets=300, fixed_batch_rows=16, partition_rows=64,
                        search={"partitions": True, "index": "int8"})
    s_main, _, s_metrics = align.align_and_score(enc, data, small)
    assert s_metrics["search"]["index"] == "int8"
    assert not np.array_equal(s_main["score"].to_numpy(), main["score"].to_numpy())  # other batches
