"""The scale-out path's plain per-partition functions (lib.search.partitions), in one process.

A fake encoder stands in for the model: its vectors depend on the other strings of the call, as
dynamic-INT8 vectors do, so a test fails whenever a batch composition leaks into the results.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.data.store import open_store, write_store
from lib.errors import DataFormatError
from lib.search import align, partitions as pt
from lib.search.topk import topk


class BatchDependentEncoder:
    """Vectors from a string's bytes plus the mean of its call's strings (like a per-call scale)."""

    fingerprint = "fake0-enc"

    def __init__(self):
        self.calls: list[list[str]] = []

    def encode(self, texts, progress=True):
        texts = list(texts)
        self.calls.append(texts)
        base = np.array([[(hash(t) >> s) % 97 for s in range(0, 48, 6)] for t in texts], dtype=np.float32)
        vec = base + 0.01 * base.mean(0, keepdims=True)
        return vec / np.linalg.norm(vec, axis=1, keepdims=True)


def make_store(tmp_path, n=50, partition_rows=8, name="s", texts=None):
    texts = texts or [f"term {i % 17} x{i}" for i in range(n)]
    df = pd.DataFrame({"CODE": [f"C{i // 3}" for i in range(len(texts))], "STR": texts})
    write_store([df], tmp_path / name, partition_rows=partition_rows)
    return open_store(tmp_path / name)


def test_embed_fixed_calls_the_encoder_once_per_run_of_consecutive_strings():
    enc = BatchDependentEncoder()
    texts = [f"t{i}" for i in range(10)]
    vec = pt.embed_fixed(enc, texts, 4)
    assert enc.calls == [texts[0:4], texts[4:8], texts[8:10]]
    assert vec.shape == (10, 8)
    with pytest.raises(ValueError, match="batch_rows"):
        pt.embed_fixed(enc, texts, 0)


def test_vectors_do_not_depend_on_the_partitioning(tmp_path):
    """Partitions of 8 or 16 rows, fixed batches of 4: bit-identical vectors; one call for all would differ."""
    enc = BatchDependentEncoder()
    a, b = make_store(tmp_path, partition_rows=8, name="a"), make_store(tmp_path, partition_rows=16, name="b")
    pt.embed_store(a, enc, "k", 4)
    pt.embed_store(b, enc, "k", 4)
    va, vb = pt.store_vectors(a, "k"), pt.store_vectors(b, "k")
    assert np.array_equal(va, vb)
    assert np.array_equal(va, pt.embed_fixed(enc, a.read_partition(0).STR.tolist() + [
        s for i in range(1, len(a.partitions)) for s in a.read_partition(i).STR.tolist()], 4))
    whole = enc.encode([f"term {i % 17} x{i}" for i in range(50)])
    assert not np.array_equal(va, whole)  # the fake really is batch dependent


def test_partitions_that_cut_a_fixed_batch_are_refused(tmp_path):
    store = make_store(tmp_path, partition_rows=6)
    with pytest.raises(ValueError, match="not a multiple of the fixed batch"):
        pt.embed_store(store, BatchDependentEncoder(), "k", 4)


def test_vector_key_changes_with_the_batch_and_the_column():
    keys = {pt.vector_key("fp", 256), pt.vector_key("fp", 128), pt.vector_key("fp", 256, "TEXT")}
    assert len(keys) == 3 and pt.vector_key("fp", 256) == "fp-fixed256-STR"


@pytest.mark.parametrize("backend", ["ort", "torch"])
def test_partition_topk_and_tree_merge_equal_topk_over_all_vectors_with_ties_by_id(tmp_path, backend):
    store = make_store(tmp_path)
    pt.embed_store(store, BatchDependentEncoder(), "k", 8)
    vec = pt.store_vectors(store, "k")
    ties = np.repeat(vec[:7], 8, axis=0)[:50]  # each vector 8 times, across partitions: exact ties
    for i, part in enumerate(store.partitions):
        store.write_vectors("ties", i, ties[part.first_id:part.first_id + part.rows])
    q = vec[:5] + 0.001
    for key, ref in (("k", vec), ("ties", ties)):
        want_s, want_i = topk(q, ref, 10, backend=backend, block=pt.search_block(8, backend))
        s, i = pt.search_store(store, key, q, 10, backend=backend)
        assert np.array_equal(i, want_i) and np.array_equal(s, want_s)
    s, i = pt.search_store(store, "ties", q, 10, backend=backend)
    assert (np.diff(i[:, :8], axis=1) == 1).all()  # the 8 equal best scores in id order


@pytest.mark.parametrize("backend", ["ort", "torch"])
def test_partition_blocks_are_the_single_process_blocks(backend):
    """Real-size vectors where a GEMM of another shape rounds differently: scores equal bit for bit."""
    rng = np.random.default_rng(1)
    t = rng.normal(size=(3000, 384)).astype(np.float32)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    q = t[:300] + rng.normal(scale=0.05, size=(300, 384)).astype(np.float32)
    for rows in (256, 1000):
        block = pt.search_block(rows, backend)
        assert rows % block == 0
        want = topk(q, t, 10, block=block, backend=backend)
        parts = [topk(q, t[a:a + rows], 10, block=block, backend=backend, threads=1) for a in range(0, 3000, rows)]
        got = pt.tree_merge([(s, i + a) for (s, i), a in zip(parts, range(0, 3000, rows))], 10)
        assert np.array_equal(got[1], want[1]) and np.array_equal(got[0], want[0])
    assert pt.search_block(32768, "ort") == 16384 and pt.search_block(50000, "ort") == 12500


def test_tree_merge_is_the_merge_of_everything_and_refuses_nothing():
    rng = np.random.default_rng(0)
    parts = []
    for first in range(0, 30, 10):
        s = np.round(rng.random((3, 4)), 1).astype(np.float32)  # rounded: ties across parts
        o = np.argsort(-s, axis=1, kind="stable")
        parts.append((np.take_along_axis(s, o, 1), first + o))
    s, i = pt.tree_merge(parts, 4)
    all_s = np.concatenate([p[0] for p in parts], 1)
    all_i = np.concatenate([p[1] for p in parts], 1)
    order = np.lexsort((all_i, -all_s), axis=1)[:, :4]
    assert np.array_equal(i, np.take_along_axis(all_i, order, 1))
    with pytest.raises(ValueError, match="no partial"):
        pt.tree_merge([], 4)


def test_interrupted_run_resumes_with_only_the_missing_partitions(tmp_path):
    store = make_store(tmp_path)
    enc = BatchDependentEncoder()

    def stop_after_three(run):
        if run.index == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pt.embed_store(store, enc, "k", 4, on_done=stop_after_three)
    stamps = {i: store.vectors_path("k", i).stat().st_mtime_ns for i in range(3)}
    runs = pt.embed_store(store, enc, "k", 4)
    assert [r.reused for r in runs] == [True] * 3 + [False] * (len(store.partitions) - 3)
    assert {i: store.vectors_path("k", i).stat().st_mtime_ns for i in range(3)} == stamps
    fresh = make_store(tmp_path, name="fresh")
    pt.embed_store(fresh, BatchDependentEncoder(), "k", 4)
    assert np.array_equal(pt.store_vectors(store, "k"), pt.store_vectors(fresh, "k"))


def test_a_bad_partition_names_its_file_and_row(tmp_path):
    store = make_store(tmp_path, texts=["a", "b", None, "d"], partition_rows=2)
    with pytest.raises(DataFormatError, match=r"part-00001\.parquet, element row 0, field 'STR': not a string: "
                                              r"(None|nan) \(id 2\)"):
        pt.embed_store(store, BatchDependentEncoder(), "k", 2)
    store.partition_path(0).write_bytes(b"not parquet")
    with pytest.raises(DataFormatError, match=r"part-00000\.parquet: checksum mismatch"):
        pt.partition_texts(store, 0)


def test_rows_by_id_reads_only_the_rows_asked_for(tmp_path):
    store = make_store(tmp_path)
    ids = np.array([[41, 3], [3, 9]])
    rows, pos = pt.rows_by_id(store, ids)
    assert rows["id"].tolist() == [3, 9, 41]
    assert rows["STR"].to_numpy()[pos].tolist() == [["term 7 x41", "term 3 x3"], ["term 3 x3", "term 9 x9"]]
    with pytest.raises(IndexError, match="ids outside"):
        pt.rows_by_id(store, np.array([[50]]))


def test_store_tables_take_the_concept_column_by_name(tmp_path):
    store = make_store(tmp_path, n=12, partition_rows=4)
    sources = pd.DataFrame({"source_id": ["a", "b"], "source_text": ["x", "y"], "gold": [("C3",), ("C0", "C1")]})
    scores = np.array([[0.9, 0.5], [0.8, 0.7]], dtype=np.float32)
    ids = np.array([[9, 0], [5, 2]])
    main, ext, ranks = align.store_tables(sources, store, scores, ids, "CODE", "gold")
    assert main.pred_concept.tolist() == ["C3", "C1"] and main.pred_id.tolist() == [9, 5]
    assert ranks.tolist() == [1, 1] and main.correct.tolist() == [True, True]
    assert ext.STR.tolist() == ["term 9 x9", "term 0 x0", "term 5 x5", "term 2 x2"]
    main, _, _ = align.store_tables(sources, store, scores, ids, "CODE")
    assert "correct" not in main
    with pytest.raises(KeyError, match="no column"):
        align.store_tables(sources, store, scores, ids, "CUI", "gold")


def test_queries_of_another_width_are_an_error_naming_store_and_key(tmp_path):
    """Before: ONNX Runtime's "Got: 3 Expected: 8", naming neither the store nor the key."""
    s = make_store(tmp_path, n=16)
    enc = BatchDependentEncoder()
    key = pt.vector_key(enc.fingerprint, 4)
    pt.embed_store(s, enc, key, 4)
    queries = np.ones((2, 3), np.float32)
    for call in (lambda: pt.search_store(s, key, queries, 2), lambda: pt.topk_partition(s, 0, key, queries, 2)):
        with pytest.raises(ValueError, match=rf"{s.folder}: vectors '{key}' are 8 wide, the queries 3"):
            call()
