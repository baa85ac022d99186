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
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker
from tqdm.auto import tqdm

from lib.data.store import Store
from lib.engines.encoder import encoder_fingerprint
from lib.engines.openvino import OvEncoder, ir_fingerprint, ov_batching, ov_encoder
from lib.engines.ort import OrtEncoder, onnx_encoder, ort_batching
from lib.fingerprint import model_fingerprint
from lib.params import Params
from lib.perf.memory import peak_rss_mb, reset_peak_rss
from lib.search.partitions import (TEXT, PartitionRun, TopK, check_batching, embed_fixed, embed_partition,
                                   merge_pair, partition_indices, topk_partition)
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
        encoder = self.spec.build(worker.state.nthreads)
        if encoder.fingerprint != self.spec.fingerprint:
            raise RuntimeError(f"worker {worker.address}: engine fingerprint {encoder.fingerprint} differs from "
                               f"the driver's {self.spec.fingerprint} (other library versions or model files)")
        self.encoder = encoder


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
                dtype: str) -> PartitionRun:
    return embed_partition(store, i, worker_encoder(fingerprint), key, batch_rows, column, dtype)


def _embed_texts_task(texts: list[str], fingerprint: str, batch_rows: int) -> np.ndarray:
    return embed_fixed(worker_encoder(fingerprint), texts, batch_rows)


def _topk_task(store: Store, i: int, key: str, queries: np.ndarray, k: int, backend: str) -> TopK:
    return topk_partition(store, i, key, queries, k, backend, threads=get_worker().state.nthreads)


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
                     on_done: Callable[[PartitionRun], None] | None = None) -> list[PartitionRun]:
    """Embed the partitions (all by default) that lack complete vectors, one task each; returns one
    :class:`PartitionRun` per partition in index order (``reused`` for those already complete).

    The driver checks the store first, so a rerun after an interruption submits only what is missing."""
    check_batching(store, batch_rows)
    indices = partition_indices(store, partitions)
    done = {i for i in indices if store.has_vectors(key, i)}
    runs = {i: PartitionRun(i, store.partitions[i].rows, True, 0.0, float("nan")) for i in done}
    todo = [i for i in indices if i not in done]
    futures = [client.submit(_embed_task, store, i, fingerprint, key, batch_rows, column, dtype,
                             key=f"embed-{key[-24:]}-{i}-{store.partitions[i].sha256[:12]}", pure=False)
               for i in todo]
    for run in _progress(futures, f"embed {len(todo)} partitions ({len(done)} already done)", on_done):
        runs[run.index] = run
    return [runs[i] for i in indices]


def embed_texts_dask(client: Client, fingerprint: str, texts: list[str], batch_rows: int) -> np.ndarray:
    """Vectors of ``texts`` (the queries) from a worker's engine, in fixed batches like the targets."""
    return client.submit(_embed_texts_task, list(texts), fingerprint, batch_rows, pure=False).result()


def search_store_dask(client: Client, store: Store, key: str, queries: np.ndarray, k: int, backend: str = "ort",
                      partitions: Iterable[int] | None = None) -> TopK:
    """Exact top-k over the partitions: queries sent to every worker once, one top-k task per partition,
    then a tree of pairwise merges on the cluster (ties by id); only the final (n_queries, k) returns."""
    indices = partition_indices(store, partitions)
    [q] = client.scatter([np.ascontiguousarray(queries, dtype=np.float32)], broadcast=True)
    parts = [client.submit(_topk_task, store, i, key, q, k, backend, pure=False) for i in indices]
    level = parts
    while len(level) > 1:  # the whole tree is submitted now: merges run as soon as their inputs exist
        level = [client.submit(merge_pair, level[j], level[j + 1], k, pure=False) if j + 1 < len(level) else level[j]
                 for j in range(0, len(level), 2)]
    for fut in tqdm(as_completed(parts), total=len(parts), desc=f"top-{k} of {len(parts)} partitions", mininterval=1.0):
        if fut.status == "error":
            fut.result()  # raises the partition's error here, with its file named
    return level[0].result()


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
                on_done: Callable[[PartitionRun], None] | None = None) -> StoreAlignment:
    """Embed the store's missing partitions, embed the queries, and search, all on the cluster."""

    fingerprint = register_engine(client, spec)
    key = vector_key(fingerprint, batch_rows, column)
    with measure_phase(client) as embed:
        runs = embed_store_dask(client, store, fingerprint, key, batch_rows, column, dtype, partitions, on_done)
    with measure_phase(client) as query_phase:
        queries = embed_texts_dask(client, fingerprint, texts, batch_rows)
    with measure_phase(client) as search:
        scores, ids = search_store_dask(client, store, key, queries, k, backend, partitions)
    return StoreAlignment(scores, ids, runs, embed, query_phase, search)
