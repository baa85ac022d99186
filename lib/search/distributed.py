"""The scale-out path on Dask: a cluster, one torch-free engine per worker (ONNX Runtime, or OpenVINO for
the ``ov-*`` formats), and the
partition functions of :mod:`lib.search.partitions` scheduled over a target store.

Why Dask (measured on a 2-core box against Ray and Spark): two 1-thread worker processes embed faster than one
2-thread process, the engine starts in under a second, it reads parquet natively, and the same code
runs on a laptop (:class:`~distributed.LocalCluster`), an existing cluster (``tcp://host:8786``) or
Slurm (:func:`slurm_cluster`). Dask only schedules: every number comes from the plain functions, so a
run on any cluster gives the single-process result (see :mod:`lib.search.partitions`).

Faults: a task whose worker dies is rescheduled by Dask on another worker (partition tasks are
idempotent, their writes atomic); a driver that dies loses nothing written, and the rerun embeds only
the partitions without complete vectors.

Every worker (and the scheduler: it unpickles the task graph) must import this package, and all of
them must see the store folder (a shared file system on a real cluster).

Residency: each partition's search task goes to the same worker every time (:func:`placement`: round
robin over the workers sorted by name, a loose restriction, so a lost worker's partitions run
elsewhere), where :mod:`lib.search.resident` keeps what it loaded: the second search of a store reads
no vector file. The driver never reads vectors: it plans from the ``.done`` records, and the worker
that loads a file hashes it. The store (its manifest) is sent to the workers once per call, not once
per task.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pandas as pd
from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker
from tqdm.auto import tqdm

from lib.data.store import Store
from lib.engines.encoder import encoder_fingerprint
from lib.engines.openvino import OvEncoder, ir_fingerprint, ov_batching, ov_encoder
from lib.engines.ort import OrtEncoder, onnx_encoder, ort_batching
from lib.fingerprint import model_fingerprint
from lib.params import Params, Search
from lib.perf.memory import peak_rss_mb, reset_peak_rss
from lib.search import resident
from lib.search.partitions import (TEXT, PartitionRun, TopK, candidates_per_query, check_batching, check_query_width,
                                   embed_fixed,
                                   embed_partition, merge_pair, partition_complete, partition_indices,
                                   code_kinds, rescore_partition, rescore_plan, rescored_topk,
                                   search_partition, topk_partition)
from lib.search.partitions import vector_key
from lib.engines.hub import resolve_model_dir
from lib.formats import ONNX_BUILDERS, OV_BUILDERS, SESSION_OPTIONS, artifact

log = logging.getLogger("lib.search.distributed")


# ---------------------------------------------------------------------------------------------
# The engine each worker builds


@dataclass(frozen=True)
class EngineSpec:
    """What a worker needs to build its own encoder without torch: the params, the format, the model file
    (``onnx``: the ONNX file, or for an OpenVINO format the IR's ``model.xml``) and the model folder (both
    resolved on the driver, where building them may need torch), the session options the format was
    tuned with (ONNX Runtime) and the ``runtime`` ("ort" or "openvino")."""

    P: Params
    fmt: str
    onnx: str
    model_dir: str
    session_options: dict = field(default_factory=dict)
    runtime: str = "ort"

    @classmethod
    def for_format(cls, P: Params, fmt: str) -> "EngineSpec":
        """Resolve (and build on first use) the format's artifact on the driver."""

        if fmt not in ONNX_BUILDERS and fmt not in OV_BUILDERS:
            raise ValueError(f"the scale-out path runs ONNX and OpenVINO formats only "
                             f"({', '.join([*ONNX_BUILDERS, *OV_BUILDERS])}), not {fmt!r}")
        extra = SESSION_OPTIONS[fmt](P) if fmt in SESSION_OPTIONS else {}
        return cls(P, fmt, str(artifact(P, fmt)), str(resolve_model_dir(P)), dict(extra),
                   "openvino" if fmt in OV_BUILDERS else "ort")

    @property
    def fingerprint(self) -> str:
        """The encoder fingerprint a worker's engine must have (computed without opening a session)."""
        model_fp = model_fingerprint(self.model_dir)
        if self.runtime == "openvino":
            return ir_fingerprint(model_fp, self.fmt, ov_batching(self.P), Path(self.onnx))
        return encoder_fingerprint(model_fp, self.fmt, ort_batching(self.P), Path(self.onnx))

    def build(self, threads: int | None = None) -> OrtEncoder | OvEncoder:
        """The encoder, with ``threads`` intra-op threads (a worker's own thread count)."""
        P = self.P.model_copy(update={"threads": threads}) if threads else self.P
        if self.runtime == "openvino":
            return ov_encoder(P, self.fmt, Path(self.onnx), model_dir=Path(self.model_dir))
        return onnx_encoder(P, self.fmt, Path(self.onnx), model_dir=Path(self.model_dir),
                            extra_options=self.session_options or None)


class EnginePlugin(WorkerPlugin):
    """Builds one engine per worker when it joins (workers that join later included) and keeps it.

    A worker whose engine fingerprint differs from the driver's (another onnxruntime, another model
    file) refuses to start it: its vectors would silently differ."""

    idempotent = True

    def __init__(self, spec: EngineSpec):
        self.spec, self.name, self.encoder = spec, plugin_name(spec.fingerprint), None

    def setup(self, worker) -> None:
        # the Rust tokenizer's thread pool defaults to every core; a 1-thread worker beside others would
        # oversubscribe them (set before the pool starts, on the first tokenisation below)
        os.environ.setdefault("RAYON_NUM_THREADS", str(worker.state.nthreads))
        encoder = self.spec.build(worker.state.nthreads)
        if encoder.fingerprint != self.spec.fingerprint:
            raise RuntimeError(f"worker {worker.address}: engine fingerprint {encoder.fingerprint} differs from "
                               f"the driver's {self.spec.fingerprint} (other library versions or model files)")
        warm_up(encoder)
        self.encoder = encoder


def warm_up(encoder) -> None:
    """One small call before the first partition: ONNX Runtime's first runs allocate its arena and pick
    kernels, which a worker would otherwise pay inside its first (timed) partition. The strings are
    padded to a few lengths so the allocations match a real batch's."""
    for n in (8, 32):
        encoder.encode([" ".join(["term"] * n)] * 32, progress=False)


def plugin_name(fingerprint: str) -> str:
    return f"lib-ort-engine-{fingerprint}"


def worker_encoder(fingerprint: str) -> OrtEncoder | OvEncoder:
    """This worker's engine (built by :class:`EnginePlugin`)."""
    worker = get_worker()
    try:
        return worker.plugins[plugin_name(fingerprint)].encoder
    except KeyError:
        raise RuntimeError(f"worker {worker.address} has no engine {fingerprint}: register an EnginePlugin "
                           "(lib.search.distributed.register_engine) before submitting work") from None


def register_engine(client: Client, spec: EngineSpec) -> str:
    """Build the engine on every worker, now and on those that join later; returns its fingerprint."""
    client.register_plugin(EnginePlugin(spec))
    return spec.fingerprint


# ---------------------------------------------------------------------------------------------
# Clusters


def local_cluster(workers: int | None = None, dashboard_address: str = ":8787") -> LocalCluster:
    """One 1-thread worker process per core (``workers`` to choose): measured faster than fewer,
    wider workers on short strings."""
    n = workers or os.cpu_count() or 1
    return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=dashboard_address)


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None,
                dashboard_address: str = ":8787") -> Iterator[Client]:
    """A client on the scheduler at ``scheduler`` (``tcp://host:8786``), else on a new
    :func:`local_cluster` closed on exit. Prints the dashboard link."""
    cluster = None if scheduler else local_cluster(workers, dashboard_address)
    client = Client(scheduler) if scheduler else Client(cluster)
    try:
        n = len(client.scheduler_info()["workers"])
        print(f"Dask: {n} worker{'s' if n != 1 else ''} at {client.scheduler.address}; "
              f"dashboard {client.dashboard_link}")
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def client_for(P: Params, workers: int | None = None) -> contextlib.AbstractContextManager[Client]:
    """:func:`dask_client` from params (``dask_scheduler``, ``dask_workers``); ``workers`` overrides."""
    return dask_client(P.dask_scheduler, workers or P.dask_workers)


def slurm_cluster(cores: int = 1, memory: str = "4GB", walltime: str = "01:00:00", queue: str | None = None,
                  account: str | None = None, python: str | None = None, **kwargs: Any):
    """A ``dask_jobqueue.SLURMCluster`` whose jobs each run ``cores`` 1-thread workers (one per core,
    as locally). Nothing is submitted until ``cluster.scale(jobs=...)``; ``cluster.job_script()``
    shows the sbatch script. ``python``: the interpreter of this package's environment on the nodes."""
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(cores=cores, processes=cores, memory=memory, walltime=walltime, queue=queue,
                        account=account, python=python, **kwargs)


# ---------------------------------------------------------------------------------------------
# Work


def _embed_task(store: Store, i: int, fingerprint: str, key: str, batch_rows: int, column: str,
                dtype: str, codes: tuple[str, ...] = ()) -> PartitionRun:
    return embed_partition(store, i, worker_encoder(fingerprint), key, batch_rows, column, dtype, codes)


def _embed_texts_task(texts: list[str], fingerprint: str, batch_rows: int) -> np.ndarray:
    return embed_fixed(worker_encoder(fingerprint), texts, batch_rows)


def _topk_task(store: Store, i: int, key: str, queries: np.ndarray, k: int, backend: str) -> TopK:
    return topk_partition(store, i, key, queries, k, backend, threads=get_worker().state.nthreads)


def _search_task(store: Store, i: int, key: str, queries: np.ndarray, k: int, search: Search,
                 generation: str) -> TopK:
    return search_partition(store, i, key, queries, k, search, get_worker().state.nthreads, generation)


def _rescore_task(store: Store, i: int, key: str, queries: np.ndarray, positions: np.ndarray,
                  query_rows: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return positions, rescore_partition(store, i, key, queries, query_rows, ids)


def placement(client: Client, n: int) -> list[str]:
    """The worker each of ``n`` partitions is searched on: round robin over the workers sorted by name
    (a restarted LocalCluster worker keeps its name), so a partition meets its resident copy again."""
    info = client.scheduler_info()["workers"]
    if not info:
        raise RuntimeError("the Dask cluster has no workers")
    addresses = sorted(info, key=lambda a: (str(info[a].get("name", "")), a))
    return [addresses[i % len(addresses)] for i in range(n)]


def resident_stats(client: Client) -> dict[str, dict]:
    """Each worker's resident partitions (:func:`lib.search.resident.stats`): MiB held, peak, counters."""
    return client.run(resident.stats)


def _progress(futures: list, desc: str, on_done: Callable[[Any], None] | None = None) -> list:
    """Results in completion order, with a progress bar on the driver (and ``on_done`` per result)."""
    out = []
    for fut in tqdm(as_completed(futures), total=len(futures), desc=desc, mininterval=1.0):
        out.append(fut.result())
        if on_done:
            on_done(out[-1])
    return out


def embed_store_dask(client: Client, store: Store, fingerprint: str, key: str, batch_rows: int,
                     column: str = TEXT, dtype: str = "float32", partitions: Iterable[int] | None = None,
                     on_done: Callable[[PartitionRun], None] | None = None,
                     codes: tuple[str, ...] = ()) -> list[PartitionRun]:
    """Embed the partitions (all by default) that lack complete vectors or ``codes``, one task each;
    returns one :class:`PartitionRun` per partition in index order (``reused`` for those already complete).

    The driver checks the store's records first (no vector file is read), so a rerun after an
    interruption submits only what is missing."""
    check_batching(store, batch_rows)
    indices = partition_indices(store, partitions)
    codes = tuple(codes)
    done = {i for i in indices if partition_complete(store, key, i, codes)}
    runs = {i: PartitionRun(i, store.partitions[i].rows, True, 0.0, float("nan")) for i in done}
    todo = longest_first(store, [i for i in indices if i not in done])
    [store_f] = client.scatter([store], broadcast=True, hash=False) if todo else [store]
    futures = [client.submit(_embed_task, store_f, i, fingerprint, key, batch_rows, column, dtype, codes,
                             key=f"embed-{key[-24:]}-{i}-{store.partitions[i].sha256[:12]}", pure=False,
                             priority=len(todo) - rank)
               for rank, i in enumerate(todo)]
    for run in _progress(futures, f"embed {len(todo)} partitions ({len(done)} already done)", on_done):
        runs[run.index] = run
    return [runs[i] for i in indices]


def longest_first(store: Store, indices: list[int]) -> list[int]:
    """Partitions by decreasing size on disk (a proxy of their text, hence of their encoding time), so
    the last tasks are the short ones and no worker idles long at the end while another finishes a long
    partition (longest-processing-time-first scheduling)."""
    def size(i: int) -> int:
        try:
            return store.partition_path(i).stat().st_size
        except OSError:
            return 0
    return sorted(indices, key=lambda i: (-size(i), i))


def embed_texts_dask(client: Client, fingerprint: str, texts: list[str], batch_rows: int) -> np.ndarray:
    """Vectors of ``texts`` (the queries) from a worker's engine, in fixed batches like the targets."""
    return client.submit(_embed_texts_task, list(texts), fingerprint, batch_rows, pure=False).result()


def search_store_dask(client: Client, store: Store, key: str, queries: np.ndarray, k: int, backend: str = "ort",
                      partitions: Iterable[int] | None = None, search: Search | None = None) -> TopK:
    """Top-k over the partitions: queries and the store sent to every worker once, one search task per
    partition on its resident worker, then a tree of pairwise merges on the cluster (ties by id); only
    the merged (n_queries, k) returns. A quantized ``search.index`` merges ``rescore_multiplier x k``
    candidates, then each partition holding some rescores them on its worker (those rows only), and the
    driver keeps the best k (:func:`lib.search.partitions.rescored_topk`). Without ``search``: exact,
    resident with the params default cap."""
    search = search or Search()
    indices = partition_indices(store, partitions)
    check_query_width(store, key, queries)
    # hash=False: new keys each call (hashed, a second search of the same queries reused the first's key
    # while the scheduler was releasing it: "lost dependencies")
    [q, store_f] = client.scatter([np.ascontiguousarray(queries, dtype=np.float32), store], broadcast=True,
                                 hash=False)
    where = placement(client, len(store.partitions))
    generation = uuid.uuid4().hex
    m = candidates_per_query(search, k)
    if search.index == "exact" and backend != "ort":  # another backend: read, not resident (torch workers)
        parts = [client.submit(_topk_task, store_f, i, key, q, k, backend, pure=False) for i in indices]
    else:
        parts = [client.submit(_search_task, store_f, i, key, q, k, search, generation, workers=[where[i]],
                               allow_other_workers=True, pure=False) for i in indices]
    level = parts
    while len(level) > 1:  # the whole tree is submitted now: merges run as soon as their inputs exist
        level = [client.submit(merge_pair, level[j], level[j + 1], m, pure=False) if j + 1 < len(level) else level[j]
                 for j in range(0, len(level), 2)]
    for fut in tqdm(as_completed(parts), total=len(parts), desc=f"top-{m} of {len(parts)} partitions", mininterval=1.0):
        if fut.status == "error":
            fut.result()  # raises the partition's error here, with its file named
    merged = level[0].result()
    if search.index == "exact":
        return merged
    rescored = [client.submit(_rescore_task, store_f, i, key, q, pos, rows, ids, workers=[where[i]],
                              allow_other_workers=True, pure=False)
                for i, pos, rows, ids in rescore_plan(store, merged)]
    return rescored_topk(merged, client.gather(rescored), k)


# ---------------------------------------------------------------------------------------------
# Memory


def reset_peaks(client: Client) -> None:
    """Reset the peak-RSS mark of the driver and of every worker, so the next phase is measured alone."""
    reset_peak_rss()
    client.run(reset_peak_rss)


def peaks(client: Client) -> dict[str, Any]:
    """Peak resident memory (MiB) of the driver and of each worker since the last :func:`reset_peaks`."""
    workers = client.run(peak_rss_mb)
    return {"driver_mb": peak_rss_mb(), "workers_mb": dict(sorted(workers.items())),
            "max_worker_mb": max(workers.values()) if workers else float("nan")}


@dataclass
class Phase:
    """Seconds and peak memory (:func:`peaks`) of one phase of a run."""

    seconds: float = float("nan")
    memory: dict = field(default_factory=dict)


@contextlib.contextmanager
def measure_phase(client: Client) -> Iterator[Phase]:
    """Time a phase and take the driver's and workers' peak memory over it alone."""
    phase = Phase()
    reset_peaks(client)
    t0 = time.perf_counter()
    yield phase
    phase.seconds = time.perf_counter() - t0
    phase.memory = peaks(client)


# ---------------------------------------------------------------------------------------------
# The whole run


@dataclass
class StoreAlignment:
    """A search of query strings over a target store: the top-k (global ids), what each partition's
    embedding did, and the seconds and memory of each phase."""

    scores: np.ndarray
    ids: np.ndarray
    runs: list[PartitionRun]
    embed: Phase
    queries: Phase
    search: Phase


def align_store(client: Client, spec: EngineSpec, store: Store, texts: list[str], k: int, batch_rows: int,
                column: str = TEXT, dtype: str = "float32", backend: str = "ort",
                partitions: Iterable[int] | None = None,
                on_done: Callable[[PartitionRun], None] | None = None,
                search: Search | None = None) -> StoreAlignment:
    """Embed the store's missing partitions (and the codes of ``search.index``), embed the queries, and
    search, all on the cluster."""

    search = search or Search()
    fingerprint = register_engine(client, spec)
    key = vector_key(fingerprint, batch_rows, column)
    codes = code_kinds(search)
    with measure_phase(client) as embed:
        runs = embed_store_dask(client, store, fingerprint, key, batch_rows, column, dtype, partitions, on_done,
                                codes)
    with measure_phase(client) as query_phase:
        queries = embed_texts_dask(client, fingerprint, texts, batch_rows)
    with measure_phase(client) as search_phase:
        scores, ids = search_store_dask(client, store, key, queries, k, backend, partitions, search)
    return StoreAlignment(scores, ids, runs, embed, query_phase, search_phase)


# ---------------------------------------------------------------------------------------------
# Notebook 10's size sweep: the first partitions of a store, embedded and searched, phase by phase


def size_sweep(client: Client, store: Store, fingerprint: str, key: str, queries: np.ndarray, sizes: Iterable,
               k: int, batch_rows: int, search: Search, codes: tuple[str, ...] = ()) -> tuple[pd.DataFrame, TopK]:
    """For each size N (the first ``ceil(N / partition_rows)`` partitions; a falsy size = all of them):
    embed what is not embedded yet, then search, each phase timed with the driver's and workers' peak
    memory (:func:`measure_phase`). Returns (one row per size, the top-k of the largest size)."""
    n_all = len(store.partitions)
    counts = sorted({min(n_all, math.ceil(n / store.manifest.partition_rows)) if n else n_all for n in sizes})
    rows, embedded, top = [], set(), None
    for n_parts in counts:
        parts = range(n_parts)
        with measure_phase(client) as embed:
            runs = embed_store_dask(client, store, fingerprint, key, batch_rows, partitions=parts, codes=codes)
        with measure_phase(client) as searched:
            top = search_store_dask(client, store, key, queries, k, partitions=parts, search=search)
        new = [r for r in runs if not r.reused and r.index not in embedded]
        embedded.update(r.index for r in new)
        n_rows = sum(store.partitions[i].rows for i in parts)
        new_rows = sum(r.rows for r in new)
        rows.append({"n_targets": n_rows, "partitions": n_parts, "embedded_rows": new_rows,
                     "embed_seconds": embed.seconds,
                     "embed_per_second": new_rows / embed.seconds if new_rows else None,
                     "search_seconds": searched.seconds, "search_per_second": n_rows / searched.seconds,
                     "driver_peak_mb": max(embed.memory["driver_mb"], searched.memory["driver_mb"]),
                     "worker_peak_mb": max(embed.memory["max_worker_mb"], searched.memory["max_worker_mb"]),
                     "workers_peak_mb": {w: max(embed.memory["workers_mb"].get(w, 0), mb)
                                         for w, mb in searched.memory["workers_mb"].items()}})
    if counts[-1] < n_all:  # the largest size left partitions out: search them all for the caller's tables
        top = search_store_dask(client, store, key, queries, k, search=search)
    return pd.DataFrame(rows), top
