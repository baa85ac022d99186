"""The scale-out path's work, one store partition at a time: embed it, its exact top-k, the merge.

Why plain functions: the same code runs in one process (:func:`embed_store`, :func:`search_store`) and
on a Dask cluster (:mod:`lib.search.distributed` only schedules these), so there is one implementation
and the single-machine run is the reference the cluster must reproduce.

Results do not depend on the machine:

* **Fixed batch composition.** Dynamic-INT8 vectors depend on the other strings of a forward call (one
  activation scale per call), so strings are encoded in fixed runs of ``batch_rows`` consecutive ids
  (:func:`embed_fixed`), each run by its own encoder call; the engine's token-budget batching only
  splits a run, never mixes two. Partitions hold whole runs (``partition_rows`` a multiple of
  ``batch_rows``, checked by :func:`check_batching`), so no worker count or partitioning changes a vector.
* **Exact top-k, ties by id.** Each partition's top-k (:func:`lib.search.topk.topk`) carries global ids
  (``first_id`` added) and :func:`merge_pair` keeps the best k by (score, lower id): the merge is
  associative, so any merge tree gives the single-process answer over the concatenated vectors.
  Bit for bit, scores included, because every GEMM has the single-process shapes: BLAS libraries
  (MKL, ONNX Runtime's MLAS) may round a dot product differently in another matrix shape (seen here:
  1e-7 apart), so a partition is scanned in blocks of :func:`search_block` rows, a divisor of the
  partition size, and ``topk(queries, all_vectors, k, block=search_block(...))`` is the reference (for
  the default 32,768-row partitions and the ``ort`` backend, that is ``topk``'s default block).

Vectors live in the store under :func:`vector_key` (the encoder's fingerprint, the fixed batch and the
text column), so a rerun reuses every complete partition and embeds only the missing ones.

Quantized indexes (params ``search.index``, :mod:`lib.search.quantize`): :func:`embed_partition` also
writes the partition's int8 or binary codes beside its vectors; :func:`search_partition` scans the codes
for the best ``m = rescore_multiplier x k`` candidates per query; the tree merge keeps the best m of all
partitions by their approximate scores; :func:`rescore_partition` computes the exact scores of the
candidates a partition holds from its stored vectors (those rows only); :func:`rescored_topk` keeps the
best k by (score, id). Every step is a plain function of its inputs, so the cluster reproduces the
single process here too. Searched partitions stay in memory (:mod:`lib.search.resident`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from lib.data.store import ID, Store
from lib.errors import DataFormatError, VectorWidthError
from lib.params import Search
from lib.perf.memory import peak_rss_mb
from lib.search import quantize, resident
from lib.search.topk import DEFAULT_BLOCK, merge_topk, topk

TEXT = "STR"  # the text column of every target table here (MRCONSO layout, HPO, MeSH)

TopK = tuple[np.ndarray, np.ndarray]  # (scores, global ids), each (n_queries, k), best first


@dataclass(frozen=True)
class PartitionRun:
    """What embedding one partition did: its rows, whether complete vectors were reused, the seconds
    spent encoding, and the peak resident memory (MiB) of the process that ran it; the seconds spent
    reading the partition (and checking it) and writing vectors and codes, and when the task started and
    ended (epoch seconds), so a run can show what sits on its critical path besides the encoder."""

    index: int
    rows: int
    reused: bool
    seconds: float
    peak_rss_mb: float
    read_seconds: float = 0.0
    write_seconds: float = 0.0
    started: float = float("nan")
    finished: float = float("nan")


def check_batching(store: Store, batch_rows: int) -> None:
    """Every partition of ``store`` starts on a fixed-batch boundary (else batches would depend on the
    partitioning, and dynamic-INT8 vectors with them)."""
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
    if store.manifest.partition_rows % batch_rows:
        raise ValueError(f"{store.folder}: partitions of {store.manifest.partition_rows} rows are not a multiple "
                         f"of the fixed batch ({batch_rows} rows); rewrite the store with partition_rows a "
                         f"multiple of fixed_batch_rows")


def vector_key(encoder_fingerprint: str, batch_rows: int, column: str = TEXT) -> str:
    """The store key of vectors made by an encoder in fixed batches of ``batch_rows`` from ``column``:
    another encoder, build, runtime or batch size is another key, never a silent reuse."""
    return f"{encoder_fingerprint}-fixed{batch_rows}-{column}"


def embed_fixed(encoder, texts: Sequence[str], batch_rows: int) -> np.ndarray:
    """Vectors of ``texts``, each run of ``batch_rows`` consecutive texts encoded by its own encoder call,
    so a vector depends only on its run (not on what else the caller passed)."""
    texts = list(texts)
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
    runs = [encoder.encode(texts[s:s + batch_rows], progress=False) for s in range(0, len(texts), batch_rows)]
    return np.concatenate(runs) if runs else np.zeros((0, 0), dtype=np.float32)


def partition_texts(store: Store, i: int, column: str = TEXT) -> list[str]:
    """The strings of partition ``i``; a missing value names the partition file, the row and its id."""
    df = store.read_partition(i, columns=[ID, column])
    ok = df[column].map(lambda x: isinstance(x, str)).to_numpy(bool)
    if not ok.all():
        j = int(np.argmin(ok))
        raise DataFormatError(store.partition_path(i), f"not a string: {df[column].iat[j]!r} (id "
                                                       f"{int(df[ID].iat[j])})", element=f"row {j}", field=column)
    return df[column].tolist()


def code_kinds(search: Search | str | Sequence[str] | None) -> tuple[str, ...]:
    """The code kinds an index needs beside the vectors: () for exact, ('int8',) or ('binary',)."""
    if search is None:
        return ()
    if isinstance(search, Search):
        search = search.index
    kinds = (search,) if isinstance(search, str) else tuple(search)
    return tuple(quantize.check_kind(k) for k in kinds if k != "exact")


def partition_complete(store: Store, key: str, i: int, codes: Sequence[str] = ()) -> bool:
    """Whether partition ``i`` has its vectors and ``codes`` (the planner's check: the records and file
    sizes, no hashing; whoever loads them hashes them)."""
    return store.has_vectors(key, i, verify=False) and all(store.has_codes(key, i, c) for c in codes)


def write_partition_codes(store: Store, key: str, i: int, kinds: Sequence[str], vectors: np.ndarray) -> None:
    """Compute and store the ``kinds`` codes of partition ``i`` from its stored ``vectors``."""
    for kind in kinds:
        store.write_codes(key, i, kind, quantize.encode(kind, vectors))


def embed_partition(store: Store, i: int, encoder, key: str, batch_rows: int, column: str = TEXT,
                    dtype: str = "float32", codes: Sequence[str] = ()) -> PartitionRun:
    """Embed partition ``i`` into the store under ``key`` unless complete vectors are already there, and
    write the ``codes`` (:func:`code_kinds`) of its stored vectors that are missing.

    Idempotent: a rerun, or a task Dask reschedules after losing its worker, reuses or rewrites the
    same vectors (atomic writes: a killed writer leaves nothing that is trusted). Complete vectors are
    judged by their record (:func:`partition_complete`); the search hashes them when it loads them."""
    check_batching(store, batch_rows)
    rows = store.partitions[i].rows
    started, t0 = time.time(), time.perf_counter()
    if store.has_vectors(key, i, verify=False):
        missing = [c for c in codes if not store.has_codes(key, i, c)]
        if missing:  # codes of another index asked for later: from the stored vectors, no re-embedding
            write_partition_codes(store, key, i, missing, store.read_vectors(key, i))
        return PartitionRun(i, rows, True, 0.0, peak_rss_mb(), 0.0, time.perf_counter() - t0, started, time.time())
    texts = partition_texts(store, i, column)
    t1 = time.perf_counter()
    vectors = embed_fixed(encoder, texts, batch_rows)
    t2 = time.perf_counter()
    store.write_vectors(key, i, vectors, dtype)
    write_partition_codes(store, key, i, codes, vectors.astype(dtype))  # the codes of what was stored
    t3 = time.perf_counter()
    return PartitionRun(i, rows, False, t2 - t1, peak_rss_mb(), t1 - t0, t3 - t2, started, time.time())


def search_block(partition_rows: int, backend: str = "ort") -> int:
    """Targets per GEMM block when searching partitions of ``partition_rows``: the largest divisor of it
    up to ``topk``'s default block, so partition blocks are exactly the single-process blocks."""
    limit = min(partition_rows, DEFAULT_BLOCK[backend])
    return next(d for d in range(limit, 0, -1) if partition_rows % d == 0)


def topk_partition(store: Store, i: int, key: str, queries: np.ndarray, k: int, backend: str = "ort",
                   threads: int | None = None, resident_mb: int = 0, generation: str | None = None) -> TopK:
    """Exact top-k of the queries against partition ``i``'s vectors, with global ids (the ``ort``
    backend by default: no torch import in a worker, a quarter of torch's peak memory). With
    ``resident_mb`` the vectors are kept in this process for the next search (:mod:`lib.search.resident`)."""
    check_query_width(store, key, queries)
    block = search_block(store.manifest.partition_rows, backend)
    vectors = (resident.partition_vectors(store, key, i, resident_mb, generation) if resident_mb
               else store.read_vectors(key, i))
    s, j = topk(queries, vectors, k, block=block, backend=backend, threads=threads)
    return s, j + store.partitions[i].first_id


def check_query_width(store: Store, key: str, queries: np.ndarray) -> None:
    """Queries must have the width of the vectors stored under ``key``: queries of another encoder (or
    another key's vectors) would otherwise fail deep in the GEMM ("Got: 64 Expected: 32") naming neither."""
    info = store.vector_info(key)
    width = int(np.shape(queries)[1]) if np.ndim(queries) == 2 else None
    if info is not None and width != info["dim"]:
        raise VectorWidthError(f"{store.folder}: vectors {key!r} are {info['dim']} wide, the queries "
                               f"{width if width is not None else np.shape(queries)} (shape {np.shape(queries)}): "
                               f"embed the queries with the encoder whose fingerprint the key names")


def candidates_per_query(search: Search, k: int) -> int:
    """How many results a partition's search returns per query: k (exact), else the rescoring pool m."""
    return k if search.index == "exact" else search.rescore_multiplier * k


def search_partition(store: Store, i: int, key: str, queries: np.ndarray, k: int, search: Search,
                     threads: int | None = None, generation: str | None = None, backend: str = "ort") -> TopK:
    """Partition ``i``'s part of a search with index ``search.index``: the exact top-k (exact scores), or
    the best :func:`candidates_per_query` rows of its codes (approximate scores, to be rescored), with
    global ids; whatever is loaded stays resident up to ``search.resident_mb``."""
    if search.index == "exact":
        return topk_partition(store, i, key, queries, k, backend, threads, search.resident_mb, generation)
    kind = search.index
    codes = (resident.partition_codes(store, key, i, kind, search.resident_mb, generation) if search.resident_mb
             else store.read_codes(key, i, kind))
    s, j = quantize.code_topk(kind, queries, codes["codes"], candidates_per_query(search, k), codes.get("ranges"),
                              threads=threads)
    return s, j + store.partitions[i].first_id


def candidate_partitions(store: Store, ids: np.ndarray) -> dict[int, np.ndarray]:
    """Positions (into ``ids.ravel()``) of the candidates each partition holds, by partition index."""
    flat = np.asarray(ids, dtype=np.int64).ravel()
    firsts = np.array([p.first_id for p in store.partitions], dtype=np.int64)
    owner = np.searchsorted(firsts, flat, side="right") - 1
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(len(firsts) + 1))
    return {i: order[bounds[i]:bounds[i + 1]] for i in range(len(firsts)) if bounds[i + 1] > bounds[i]}


def rescore_partition(store: Store, i: int, key: str, queries: np.ndarray, query_rows: np.ndarray,
                      ids: np.ndarray) -> np.ndarray:
    """Exact scores of the candidate pairs (``queries[query_rows[j]]``, id ``ids[j]``) that partition ``i``
    holds, from its stored vectors: only the rows the candidates name are read."""
    local = np.asarray(ids, dtype=np.int64) - store.partitions[i].first_id
    rows, inverse = np.unique(local, return_inverse=True)
    vectors = store.read_vector_rows(key, i, rows)
    return quantize.rescore_pairs(queries, query_rows, vectors[inverse])


def rescore_plan(store: Store, candidates: TopK) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """(partition, flat positions, query rows, ids) of each partition holding candidates: the rescoring
    tasks, in partition order."""
    ids = candidates[1]
    query_rows = np.repeat(np.arange(ids.shape[0]), ids.shape[1])
    flat = ids.ravel()
    return [(i, pos, query_rows[pos], flat[pos]) for i, pos in candidate_partitions(store, ids).items()]


def rescored_topk(candidates: TopK, parts: Iterable[tuple[np.ndarray, np.ndarray]], k: int) -> TopK:
    """The best k candidates per query by their exact scores (``parts``: flat positions and their scores,
    from :func:`rescore_partition`), then by the lower id."""
    ids = candidates[1]
    scores = np.full(ids.size, np.nan, dtype=np.float32)
    for pos, s in parts:
        scores[pos] = s
    if np.isnan(scores).any():
        raise RuntimeError("rescoring: some candidates were not rescored")
    return quantize.best_by_score(scores.reshape(ids.shape), ids, k)


def merge_pair(a: TopK, b: TopK, k: int) -> TopK:
    """The best k of two partial results per query, by score then by the lower id."""
    return merge_topk(a[0], a[1], b[0], b[1], k)


def tree_merge(partials: Sequence[TopK], k: int) -> TopK:
    """Merge partial results pairwise, level by level (the shape Dask runs on the cluster)."""
    if not partials:
        raise ValueError("tree_merge: no partial results to merge")
    level = list(partials)
    while len(level) > 1:
        level = [merge_pair(level[j], level[j + 1], k) if j + 1 < len(level) else level[j]
                 for j in range(0, len(level), 2)]
    return level[0]


def partition_indices(store: Store, partitions: Iterable[int] | None = None) -> list[int]:
    """``partitions`` checked against the store, or all of them."""
    n = len(store.partitions)
    out = list(range(n)) if partitions is None else [int(i) for i in partitions]
    bad = [i for i in out if not 0 <= i < n]
    if bad:
        raise IndexError(f"{store.folder}: partitions {bad} out of range (0..{n - 1})")
    if not out:
        raise ValueError(f"{store.folder}: no partitions selected")
    return out


def embed_store(store: Store, encoder, key: str, batch_rows: int, column: str = TEXT, dtype: str = "float32",
                partitions: Iterable[int] | None = None,
                on_done: Callable[[PartitionRun], None] | None = None,
                codes: Sequence[str] = ()) -> list[PartitionRun]:
    """Embed the partitions (all by default) in this process, one after another, with the ``codes``
    of a quantized index (:func:`code_kinds`); ``on_done`` is called after each (progress, or an
    interruption in a test)."""
    runs = []
    for i in partition_indices(store, partitions):
        runs.append(embed_partition(store, i, encoder, key, batch_rows, column, dtype, codes))
        if on_done:
            on_done(runs[-1])
    return runs


def search_store(store: Store, key: str, queries: np.ndarray, k: int, backend: str = "ort",
                 threads: int | None = None, partitions: Iterable[int] | None = None,
                 search: Search | None = None) -> TopK:
    """Top-k over the partitions in this process: per-partition search, the tree merge, and for a
    quantized ``search.index`` the rescoring of the merged candidates. Without ``search``: the exact
    search, nothing kept resident (the reference the other paths are tested against)."""
    check_query_width(store, key, queries)
    indices = partition_indices(store, partitions)
    if search is None:
        return tree_merge([topk_partition(store, i, key, queries, k, backend, threads) for i in indices], k)
    generation = uuid.uuid4().hex
    merged = tree_merge([search_partition(store, i, key, queries, k, search, threads, generation, backend)
                         for i in indices], candidates_per_query(search, k))
    if search.index == "exact":
        return merged
    return rescored_topk(merged, [(pos, rescore_partition(store, i, key, queries, q, ids))
                                  for i, pos, q, ids in rescore_plan(store, merged)], k)


def store_vectors(store: Store, key: str, partitions: Iterable[int] | None = None) -> np.ndarray:
    """The vectors of the partitions, concatenated in id order (the single-process reference; it holds
    them all in memory, the scale-out path never does)."""
    return np.concatenate([store.read_vectors(key, i) for i in partition_indices(store, partitions)])


def rows_by_id(store: Store, ids: np.ndarray, columns: list[str] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """The store rows that ``ids`` name, reading only their partitions: (rows of the distinct ids in id
    order, ``ids`` as positions into those rows), ready for ``lib.search.align.main_table``."""
    ids = np.asarray(ids, dtype=np.int64)
    wanted = np.unique(ids)
    if len(wanted) and not 0 <= wanted[0] <= wanted[-1] < len(store):
        raise IndexError(f"{store.folder}: ids outside 0..{len(store) - 1}")
    firsts = np.array([p.first_id for p in store.partitions], dtype=np.int64)
    owner = np.searchsorted(firsts, wanted, side="right") - 1
    frames = []
    for i in np.unique(owner):
        part = store.read_partition(int(i), columns=None if columns is None else [ID] + columns)
        frames.append(part.iloc[wanted[owner == i] - firsts[i]])
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[ID] + (columns or []))
    return rows, np.searchsorted(wanted, ids)
