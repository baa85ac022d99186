"""Resident partitions (lib.search.resident) and quantized search with rescoring in one process
(lib.search.partitions): a second search reads no vector file, an altered file is caught when it is
loaded, memory stays under the cap, int8 / binary + rescoring of the whole store is the exact search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.data.store import open_store, write_store
from lib.errors import DataFormatError
from lib.params import Search
from lib.search import partitions as pt
from lib.search import quantize, resident
from lib.search.resident import Resident
from lib.search.topk import topk

MB = 1 << 20


@pytest.fixture(autouse=True)
def empty_cache():
    resident.clear()
    yield
    resident.clear()


def clustered(rng, n, dim=32, centers=12):
    c = rng.standard_normal((centers, dim)).astype(np.float32)
    v = c[rng.integers(0, centers, n)] + 0.4 * rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def vector_store(tmp_path, n=300, partition_rows=64, dtype="float32", kinds=("int8", "binary"), seed=0):
    """A store whose vectors (and codes) are written directly: the search never looks at the text."""
    rng = np.random.default_rng(seed)
    write_store([pd.DataFrame({"STR": [f"s{i}" for i in range(n)]})], tmp_path / "s", partition_rows=partition_rows)
    store = open_store(tmp_path / "s")
    v = clustered(rng, n)
    v[100:110] = v[50:60]  # duplicate targets: equal scores, broken by id
    for i, p in enumerate(store.partitions):
        part = v[p.first_id:p.first_id + p.rows]
        store.write_vectors("k", i, part, dtype)
        pt.write_partition_codes(store, "k", i, kinds, part.astype(dtype))
    queries = clustered(np.random.default_rng(seed + 1), 40)
    return store, v.astype(dtype).astype(np.float32), queries


def alter_every_file(store, suffix):
    """Same size, other bytes: a reader that hashes it fails, one that does not read it cannot tell."""
    files = sorted((store.folder / "vectors" / "k").glob(f"*{suffix}"))
    for f in files:
        data = bytearray(f.read_bytes())
        data[-4:] = bytes(4 * [0x7F])
        f.write_bytes(bytes(data))
    return files


def test_lru_eviction_keeps_what_the_running_search_uses():
    cache = Resident()
    arr = lambda: np.zeros(MB // 8, dtype=np.float64)  # noqa: E731  (1 MiB)
    for j in range(3):
        cache.get(("a", j), arr, cap_mb=2, generation="s1")
    st = cache.stats()
    assert st["entries"] == 2 and st["uncached"] == 1 and st["evictions"] == 0  # a scan keeps its first 2
    cache.get(("a", 0), arr, cap_mb=2, generation="s2")  # hit, now used by search s2
    cache.get(("b", 0), arr, cap_mb=2, generation="s2")  # evicts ("a", 1), not ("a", 0)
    assert set(cache.entries) == {("a", 0), ("b", 0)} and cache.stats()["evictions"] == 1
    assert cache.stats()["resident_mb"] <= 2 and cache.stats()["peak_mb"] <= 2
    cache.get(("big",), lambda: np.zeros(3 * MB, np.uint8), cap_mb=2)  # larger than the cap: never kept
    assert ("big",) not in cache.entries and cache.stats()["hits"] == 1


@pytest.mark.parametrize("index", ["exact", "int8"])
def test_a_second_search_reads_no_vector_file_and_an_altered_file_is_caught_when_loaded(tmp_path, index):
    store, _, q = vector_store(tmp_path)
    search = Search(index=index, resident_mb=64)
    first = pt.search_store(store, "k", q, 10, search=search)
    loads = resident.stats()["loads"]
    # the files a search loads whole: altered in place, same size (a read would fail its checksum)
    alter_every_file(store, ".npy" if index == "exact" else ".int8.npz")
    second = pt.search_store(store, "k", q, 10, search=search)
    assert resident.stats()["loads"] == loads and resident.stats()["hits"] >= len(store.partitions)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    resident.clear()  # a new process: the altered file is loaded again, and caught
    with pytest.raises(DataFormatError, match=r"part-00000\.(npy|int8\.npz): checksum mismatch"):
        pt.search_store(store, "k", q, 10, search=search)


def test_rescoring_reads_and_checks_the_vectors_it_needs(tmp_path):
    store, _, q = vector_store(tmp_path)
    pt.search_store(store, "k", q, 10, search=Search(index="binary"))
    alter_every_file(store, ".npy")  # the rows rescoring reads come from a file checked when first used
    with pytest.raises(DataFormatError, match="checksum mismatch"):
        pt.search_store(store, "k", q, 10, search=Search(index="binary"))


def test_a_cap_of_zero_reads_every_time_and_a_small_cap_bounds_the_memory(tmp_path):
    store, _, q = vector_store(tmp_path, n=5 * 3000, partition_rows=3000, kinds=())  # 375 KiB a partition
    pt.search_store(store, "k", q, 10, search=Search(resident_mb=0))
    assert resident.stats()["entries"] == 0
    one = store.partitions[0].rows * 32 * 4
    for _ in range(2):
        pt.search_store(store, "k", q, 10, search=Search(resident_mb=1))
    st = resident.stats()
    assert st["peak_mb"] <= 1 and st["entries"] == MB // one == 2
    assert st["hits"] == 2 and st["uncached"] == 2 * (len(store.partitions) - 2)  # the rest streamed twice


@pytest.mark.parametrize("index", ["int8", "binary"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_rescoring_the_whole_store_is_the_exact_search(tmp_path, index, dtype):
    store, v, q = vector_store(tmp_path, dtype=dtype)
    want_s, want_i = topk(q, v, 10)
    whole = Search(index=index, rescore_multiplier=-(-len(v) // 10))  # m x k >= every target
    s, i = pt.search_store(store, "k", q, 10, search=whole)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(i, want_i)])
    assert recall == 1.0 and np.array_equal(i, want_i)
    assert np.allclose(s, want_s, atol=1e-6)  # exact dot products (rescored one pair at a time)
    dup = np.nonzero(np.isin(i, np.arange(100, 110)))  # a duplicate's twin (id - 50) ranks just before it
    assert all(i[r, c - 1] == i[r, c] - 50 for r, c in zip(*dup) if c > 0 and i[r, c - 1] in range(50, 60))


def test_small_multipliers_lose_some_recall_and_scores_stay_exact(tmp_path):
    store, v, q = vector_store(tmp_path)
    _, want_i = topk(q, v, 10)
    for index in ("int8", "binary"):
        s, i = pt.search_store(store, "k", q, 10, search=Search(index=index, rescore_multiplier=1))
        assert np.allclose(s, np.take_along_axis(q @ v.T, i, 1), atol=1e-6)  # whatever was found, exact scores
        assert np.all(s[:, :-1] >= s[:, 1:])
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(i, want_i)])
    assert recall < 1.0  # binary codes at m = k miss some: the comparisons above can fail


def test_codes_of_another_index_are_computed_from_the_stored_vectors_without_embedding(tmp_path):
    class Encoder:
        fingerprint = "fake"
        calls = 0

        def encode(self, texts, progress=True):
            Encoder.calls += 1
            return clustered(np.random.default_rng(len(texts)), len(texts))

    write_store([pd.DataFrame({"STR": [f"t{i}" for i in range(96)]})], tmp_path / "t", partition_rows=32)
    store = open_store(tmp_path / "t")
    pt.embed_store(store, Encoder(), "k", 16, dtype="float16")
    calls = Encoder.calls
    assert not any(store.has_codes("k", i, "int8") for i in range(3))
    runs = pt.embed_store(store, Encoder(), "k", 16, codes=pt.code_kinds(Search(index="int8")))
    assert Encoder.calls == calls and all(r.reused for r in runs)
    stored = store.read_vectors("k", 1)
    assert np.array_equal(store.read_codes("k", 1, "int8")["codes"], quantize.encode("int8", stored)["codes"])
    # new vectors make the codes stale: their record names the vectors they were computed from
    store.write_vectors("k", 1, clustered(np.random.default_rng(9), 32))
    assert not store.has_codes("k", 1, "int8")
    with pytest.raises(DataFormatError, match="computed from other vectors"):
        store.read_codes("k", 1, "int8")
