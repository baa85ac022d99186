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
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from lib.data.store import ID, Store
from lib.errors import DataFormatError, VectorWidthError
from lib.perf.memory import peak_rss_mb
from lib.search.topk import DEFAULT_BLOCK, merge_topk, topk

TEXT = "STR"  # the text column of every target table here (MRCONSO layout, HPO, MeSH)

TopK = tuple[np.ndarray, np.ndarray]  # (scores, global ids), each (n_queries, k), best first


@dataclass(frozen=True)
class PartitionRun:
    """What embedding one partition did: its rows, whether complete vectors were reused, the seconds
    spent encoding, and the peak resident memory (MiB) of the process that ran it."""

    index: int
    rows: int
    reused: bool
    seconds: float
    peak_rss_mb: float


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


def embed_partition(store: Store, i: int, encoder, key: str, batch_rows: int, column: str = TEXT,
                    dtype: str = "float32") -> PartitionRun:
    """Embed partition ``i`` into the store under ``key`` unless complete vectors are already there.

    Idempotent: a rerun, or a task Dask reschedules after losing its worker, reuses or rewrites the
    same vectors (atomic writes: a killed writer leaves nothing that is trusted)."""
    check_batching(store, batch_rows)
    rows = store.partitions[i].rows
    if store.has_vectors(key, i):
        return PartitionRun(i, rows, True, 0.0, peak_rss_mb())
    texts = partition_texts(store, i, column)
    t0 = time.perf_counter()
    vectors = embed_fixed(encoder, texts, batch_rows)
    seconds = time.perf_counter() - t0
    store.write_vectors(key, i, vectors, dtype)
    return PartitionRun(i, rows, False, seconds, peak_rss_mb())


def search_block(partition_rows: int, backend: str = "ort") -> int:
    """Targets per GEMM block when searching partitions of ``partition_rows``: the largest divisor of it
    up to ``topk``'s default block, so partition blocks are exactly the single-process blocks."""
    limit = min(partition_rows, DEFAULT_BLOCK[backend])
    return next(d for d in range(limit, 0, -1) if partition_rows % d == 0)


def topk_partition(store: Store, i: int, key: str, queries: np.ndarray, k: int, backend: str = "ort",
                   threads: int | None = None) -> TopK:
    """Exact top-k of the queries against partition ``i``'s vectors, with global ids (the ``ort``
    backend by default: no torch import in a worker, a quarter of torch's peak memory)."""
    check_query_width(store, key, queries)
    block = search_block(store.manifest.partition_rows, backend)
    s, j = topk(queries, store.read_vectors(key, i), k, block=block, backend=backend, threads=threads)
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
                on_done: Callable[[PartitionRun], None] | None = None) -> list[PartitionRun]:
    """Embed the partitions (all by default) in this process, one after another; ``on_done`` is called
    after each (progress, or an interruption in a test)."""
    runs = []
    for i in partition_indices(store, partitions):
        runs.append(embed_partition(store, i, encoder, key, batch_rows, column, dtype))
        if on_done:
            on_done(runs[-1])
    return runs


def search_store(store: Store, key: str, queries: np.ndarray, k: int, backend: str = "ort",
                 threads: int | None = None, partitions: Iterable[int] | None = None) -> TopK:
    """Exact top-k over the partitions' vectors in this process: per-partition top-k, then the tree merge."""
    check_query_width(store, key, queries)
    return tree_merge([topk_partition(store, i, key, queries, k, backend, threads)
                       for i in partition_indices(store, partitions)], k)


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
