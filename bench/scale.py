"""`make scale` numbers of the scale-out path (lib.search.distributed): one run, reported as ratios.

1. **Embedding** throughput of real MeSH strings, rounds interleaved: one plain process with all cores
   to ONNX Runtime, the same with 1 thread (2 x its rate is what 2 one-thread workers can reach), and
   the Dask path with 1 and 2 one-thread workers (same fixed batches: vectors compared bit for bit);
   where the workers' time goes (encoding, reading and checking partitions, writing vectors, idle).
2. **Exact top-k** of random unit vectors at N targets: the Dask path with resident vectors (the first,
   cold search, which loads and checks every partition, and the second), against the in-memory limit of
   the box in one process (vectors already in RAM: BLAS GEMM + ``argpartition``; lib's ORT top-k) and
   FAISS ``IndexFlatIP``, with the peak memory of the driver and of each worker.
3. **Quantized indexes** on notebook 10's real vectors (HPO alone, HPO + MeSH): int8 and binary codes with
   rescoring at each multiplier against exact: recall@10, Acc@1 of the lay terms, index memory, search
   time; and the code scan (ONNX Runtime integer GEMM) beside FAISS ``IndexScalarQuantizer`` /
   ``IndexBinaryFlat`` at the same candidate count (why lib scans codes the way it does).
4. **16M targets** (all of UMLS): synthetic unit vectors stored as float16 with binary and int8 codes,
   2,000 queries on the Dask path: wall time, peak memory of driver and workers, per-core rates.
5. FAISS IVF / HNSW recall (optional), and the hours of 16M strings extrapolated from per-core rates.

Writes results/scale/scale.json and scale.md. Usage:
    python bench/scale.py [--params minilm-l6] [--embed-strings 20000] [--sizes 100000,664000,1000000]
                          [--multipliers 1,2,4] [--synthetic 16000000] [--skip embed,search,...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_here = ROOT / "bench"  # import bench.* and lib.* from the checkout, never a bench/ file as a top-level module
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _here]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lib import atomic, paths, results  # noqa: E402
from lib import params as params_mod  # noqa: E402
from lib.data.store import open_store, write_store  # noqa: E402
from lib.params import Search  # noqa: E402
from lib.perf.memory import peak_rss_mb, reset_peak_rss  # noqa: E402
from lib.results.tables import markdown  # noqa: E402
from lib.search import distributed as dd  # noqa: E402
from lib.search import partitions as pt  # noqa: E402
from lib.search import quantize, resident  # noqa: E402
from lib.search.topk import topk  # noqa: E402

UMLS_STRINGS = 16_000_000  # ~16M strings in the whole Metathesaurus, every language
CORES = (2, 32, 256)
SECTIONS = ("embed", "search", "quantized", "synthetic", "approximate")
MB = 1 << 20


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="minilm-l6")
    ap.add_argument("--format", default="onnx-int8-dynamic")
    ap.add_argument("--embed-strings", type=int, default=20_000, help="MeSH strings embedded by each engine")
    ap.add_argument("--embed-partition-rows", type=int, default=512,
                    help="partition rows of the throughput store (a multiple of fixed_batch_rows; small so that "
                         "no worker idles long at the end)")
    ap.add_argument("--embed-rounds", type=int, default=2, help="interleaved rounds of the embedding timing")
    ap.add_argument("--sizes", default="100000,664000,1000000", help="target counts N of the exact search timing")
    ap.add_argument("--queries", type=int, default=2000, help="queries of the search timings")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2, help="Dask workers of the search timings")
    ap.add_argument("--search-partition-rows", type=int, default=0,
                    help="partition rows of the search stores (default: params partition_rows)")
    ap.add_argument("--multipliers", default="1,2,4", help="rescoring multipliers of the quantized indexes")
    ap.add_argument("--synthetic", type=int, default=16_000_000,
                    help="synthetic targets of the quantized-index scale test (0: skip)")
    ap.add_argument("--approx-n", type=int, default=200_000,
                    help="targets of the FAISS peers (code scans; IVF / HNSW), on notebook 10's real vectors (0: skip)")
    ap.add_argument("--skip", default="", help=f"comma-separated sections to skip: {', '.join(SECTIONS)}")
    ap.add_argument("--work", default="", help="scratch folder (default: a temporary one, removed after)")
    ap.add_argument("--out", default="", help="output folder (default results/scale)")
    return ap.parse_args(argv)


def lay_terms(n: int) -> list[str]:
    from lib.data.hpo import load_hpo
    return load_hpo().lexicon["source_text"].iloc[:n].tolist()


def mesh_strings(n: int) -> list[str]:
    from lib.data.mesh import load_mesh
    return load_mesh()["STR"].iloc[:n].tolist()


def text_store(folder: Path, texts: list[str], partition_rows: int):
    write_store([pd.DataFrame({"STR": texts})], folder, partition_rows=partition_rows)
    return open_store(folder)


# ---------------------------------------------------------------------------------------------
# 1. Embedding


def critical_path(runs: list[pt.PartitionRun], wall: float, workers: int) -> dict:
    """Where the workers' time went: encoding, reading (and checking) partitions, writing vectors, and
    the rest of workers x wall (scheduling, the idle tail), as shares of workers x wall."""
    total = workers * wall
    embedded = [r for r in runs if not r.reused]
    encode = sum(r.seconds for r in embedded)
    read = sum(r.read_seconds for r in embedded)
    write = sum(r.write_seconds for r in embedded)
    ends = [r.finished for r in embedded if np.isfinite(r.finished)]
    tail = (max(ends) - min(sorted(ends)[-workers:])) if len(ends) >= workers else float("nan")
    return {"encode_share": encode / total, "read_share": read / total, "write_share": write / total,
            "other_share": 1 - (encode + read + write) / total, "tail_seconds": tail, "tasks": len(embedded)}


def embed_throughput(P, spec, texts: list[str], work: Path, partition_rows: int, rounds: int = 2) -> dict:
    """Strings/s of the same fixed-batch embedding: one plain process with all threads and with one, and
    1 and 2 Dask workers, in interleaved rounds (the best round of each kept; the box is shared)."""
    key = pt.vector_key(spec.fingerprint, P.fixed_batch_rows)
    threads = P.threads or os.cpu_count() or 1
    encoders = {"plain": spec.build(threads), "plain-1thread": spec.build(1)}
    for enc in encoders.values():
        dd.warm_up(enc)  # as the workers' engine plugin does
    best: dict[str, dict] = {}
    vectors: dict[str, np.ndarray] = {}
    with dd.dask_client(workers=1, dashboard_address=":0") as c1, \
            dd.dask_client(workers=2, dashboard_address=":0") as c2:
        clients = {"dask-1": c1, "dask-2": c2}
        fps = {name: dd.register_engine(c, spec) for name, c in clients.items()}
        for r in range(rounds):
            for name in ("plain", "plain-1thread", "dask-1", "dask-2"):
                store = text_store(work / f"embed-{name}-{r}", texts, partition_rows)
                if name in encoders:
                    reset_peak_rss()
                    t0 = time.perf_counter()
                    runs = pt.embed_store(store, encoders[name], key, P.fixed_batch_rows)
                    seconds = time.perf_counter() - t0
                    row = {"workers": 0, "threads": threads if name == "plain" else 1, "peak_mb": peak_rss_mb()}
                else:
                    n = int(name[-1])
                    with dd.measure_phase(clients[name]) as phase:
                        runs = dd.embed_store_dask(clients[name], store, fps[name], key, P.fixed_batch_rows)
                    seconds = phase.seconds
                    row = {"workers": n, "threads": 1, **phase.memory,
                           **critical_path(runs, seconds, n)}
                row.update(seconds=seconds, per_second=len(texts) / seconds, round=r)
                if name not in best or row["per_second"] > best[name]["per_second"]:
                    best[name] = row
                vectors.setdefault(name, pt.store_vectors(store, key))
                shutil.rmtree(work / f"embed-{name}-{r}")
    for name, row in best.items():
        row["vs_plain"] = row["per_second"] / best["plain"]["per_second"]
        row["per_core"] = row["per_second"] / (row["workers"] or row["threads"])
        row["identical_to_plain"] = bool(np.array_equal(vectors[name], vectors["plain"]))
    best["bound-2x1thread"] = {"per_second": 2 * best["plain-1thread"]["per_second"],
                               "vs_plain": 2 * best["plain-1thread"]["per_second"] / best["plain"]["per_second"],
                               "note": "what two one-thread workers reach with no overhead at all"}
    return best


# ---------------------------------------------------------------------------------------------
# 2. Exact top-k: Dask with resident vectors vs the in-memory limit of the box


def _write_random_partition(folder: str, key: str, i: int, dim: int, seed: int, dtype: str,
                            codes: tuple[str, ...]) -> None:
    """Partition ``i`` of a store: random unit vectors (seeded by ``seed + i``) and their ``codes``."""
    from bench.search import random_unit_vectors

    store = open_store(folder)
    v = random_unit_vectors(store.partitions[i].rows, dim, seed + i).astype(dtype)
    store.write_vectors(key, i, v, dtype)
    pt.write_partition_codes(store, key, i, codes, v)


def vector_store(folder: Path, n: int, dim: int, partition_rows: int, key: str, seed: int = 0,
                 dtype: str = "float32", codes: tuple[str, ...] = (), processes: int = 2):
    """A store of ``n`` rows whose vectors are random unit vectors (and their ``codes``), written
    partition by partition by ``processes`` child processes, so the driver's memory measured afterwards
    is its own and not what generating 16M vectors left in its allocator."""
    import multiprocessing

    from concurrent.futures import ProcessPoolExecutor

    def frames():
        for s in range(0, n, 1_000_000):
            yield pd.DataFrame({"STR": np.full(min(1_000_000, n - s), "", dtype=object)})

    write_store(frames(), folder, partition_rows=partition_rows)
    store = open_store(folder)
    args = (str(folder), key)
    _write_random_partition(*args, 0, dim, seed, dtype, codes)  # fixes the key's dtype and width first
    rest = range(1, len(store.partitions))
    if rest:
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_write_random_partition, *zip(*[(*args, i, dim, seed, dtype, codes) for i in rest])))
    return store


def gemm_argpartition(queries: np.ndarray, vectors: np.ndarray, k: int, threads: int,
                      block: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """The in-memory limit: BLAS GEMM over blocks of targets, then ``argpartition`` of each block's rows on
    ``threads`` threads (numpy releases the GIL there), merged; sorted by score at the end."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    best_s = np.full((len(q), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(q), 0), dtype=np.int64)
    chunks = np.array_split(np.arange(len(q)), threads)

    def top(s: np.ndarray, rows: np.ndarray, kk: int) -> np.ndarray:
        return np.argpartition(-s[rows], kk - 1, axis=1)[:, :kk]

    with ThreadPoolExecutor(threads) as pool:
        for ts in range(0, len(vectors), block):
            s = q @ vectors[ts:ts + block].T
            kk = min(k, s.shape[1])
            part = np.concatenate(list(pool.map(lambda r: top(s, r, kk), chunks)))
            all_s = np.concatenate([best_s, np.take_along_axis(s, part, 1)], 1)
            all_i = np.concatenate([best_i, part + ts], 1)
            keep = np.argpartition(-all_s, min(k, all_s.shape[1]) - 1, axis=1)[:, :k]
            best_s, best_i = np.take_along_axis(all_s, keep, 1), np.take_along_axis(all_i, keep, 1)
    order = np.lexsort((best_i, -best_s), axis=1)
    return np.take_along_axis(best_s, order, 1), np.take_along_axis(best_i, order, 1)


def in_memory(queries: np.ndarray, vectors: np.ndarray, k: int, threads: int) -> dict[str, tuple[float, tuple]]:
    """(seconds, (scores, ids)) of one process searching vectors already in RAM: BLAS GEMM + argpartition,
    lib's ONNX Runtime top-k, FAISS IndexFlatIP."""
    from bench.search import search_faiss

    out = {}
    for name, fn in (("gemm", gemm_argpartition), ("ort", lambda q, v, kk, t: topk(q, v, kk, backend="ort", threads=t)),
                     ("faiss", lambda q, v, kk, t: search_faiss(q, v, kk, threads=t))):
        t0 = time.perf_counter()
        found = fn(queries, vectors, k, threads)
        out[name] = (time.perf_counter() - t0, found)
    return out


def search_timing(sizes: list[int], n_queries: int, k: int, workers: int, dim: int, partition_rows: int,
                  work: Path) -> list[dict]:
    """Per N: the Dask path's first (cold) and second (resident) exact search, against one process with
    the vectors in RAM (GEMM + argpartition; lib's ORT top-k; FAISS IndexFlatIP), and peak memory."""
    from bench.search import random_unit_vectors

    key = "random-unit"
    threads = os.cpu_count() or 1
    queries = random_unit_vectors(n_queries, dim, seed=10_000)
    search = Search()  # exact, resident (params default cap)
    rows = []
    for n in sizes:
        store = vector_store(work / f"search-{n}", n, dim, partition_rows, key)
        with dd.dask_client(workers=workers, dashboard_address=":0") as client:
            with dd.measure_phase(client) as cold:
                dd.search_store_dask(client, store, key, queries, k, search=search)
            with dd.measure_phase(client) as warm:
                scores, ids = dd.search_store_dask(client, store, key, queries, k, search=search)
            held = dd.resident_stats(client)
        reset_peak_rss()
        t0 = time.perf_counter()
        vectors = pt.store_vectors(store, key)
        load = time.perf_counter() - t0
        timed = in_memory(queries, vectors, k, threads)
        limit = min(timed["gemm"][0], timed["faiss"][0])
        rows.append({
            "n_targets": n, "partitions": len(store.partitions), "queries": n_queries,
            "dask_cold_seconds": cold.seconds, "dask_seconds": warm.seconds,
            "gemm_argpartition_seconds": timed["gemm"][0], "ort_in_memory_seconds": timed["ort"][0],
            "faiss_seconds": timed["faiss"][0], "load_seconds": load,
            "dask_vs_limit": warm.seconds / limit, "dask_cold_vs_limit": cold.seconds / limit,
            "dask_vs_ort_in_memory": warm.seconds / timed["ort"][0],
            "top10_identical_to_ort": float(np.mean(np.all(ids == timed["ort"][1][1], axis=1))),
            "top1_agreement_with_faiss": float((ids[:, 0] == timed["faiss"][1][1][:, 0]).mean()),
            "top1_agreement_with_gemm": float((ids[:, 0] == timed["gemm"][1][1][:, 0]).mean()),
            "driver_peak_mb": warm.memory["driver_mb"], "worker_peak_mb": warm.memory["max_worker_mb"],
            "worker_cold_peak_mb": cold.memory["max_worker_mb"],
            "resident_mb": max(s["resident_mb"] for s in held.values()),
            "workers_peak_mb": warm.memory["workers_mb"], "in_memory_process_peak_mb": peak_rss_mb()})
        del vectors, timed
        shutil.rmtree(work / f"search-{n}")
    return rows


# ---------------------------------------------------------------------------------------------
# 3. Quantized indexes on real vectors (notebook 10's stores)


def notebook_stores(P, spec):
    """Notebook 10's HPO and HPO + MeSH stores and their vector key, when both were embedded with this
    engine (their records complete; the readers check the files), else (None, None, key)."""
    key = pt.vector_key(spec.fingerprint, P.fixed_batch_rows)
    found = {}
    for name, pattern in (("hpo", "10-hpo-[0-9a-f]*"), ("all", "10-hpo-mesh-*")):
        for folder in sorted((paths.cache_dir() / "stores").glob(pattern)):
            store = open_store(folder)
            if all(pt.partition_complete(store, key, i) for i in range(len(store.partitions))):
                found[name] = store
    return found.get("hpo"), found.get("all"), key


def notebook_store(P, spec):
    """Notebook 10's HPO + MeSH store and its vector key (None when it has not been embedded)."""
    _, store, key = notebook_stores(P, spec)
    return store, key


def quantized_accuracy(P, spec, multipliers: list[int], k: int, workers: int) -> tuple[list[dict], dict]:
    """Exact, int8 and binary (each rescoring multiplier) over notebook 10's stores: recall@k against
    exact, Acc@1 of the lay terms against HPO and against HPO + MeSH, index memory and search seconds
    (the second, resident search, on the Dask path). The codes are computed from the stored vectors."""
    from lib.data import tiers
    from lib.data.hpo import load_hpo
    from lib.evaluate.retrieval import accuracy_at_k
    from lib.search.align import store_tables

    hpo_store, all_store, key = notebook_stores(P, spec)
    if all_store is None or hpo_store is None:
        return [], {"note": "skipped: notebook 10's HPO and HPO + MeSH vectors are not in the cache (make scale)"}
    hpo = load_hpo()
    sources, _, _ = tiers.sample_alignment(hpo.lexicon, hpo.targets, P.max_sources, P.max_targets, P.seed,
                                           "gold_hpos", "CODE")
    queries = pt.embed_fixed(spec.build(P.threads), sources["source_text"].tolist(), P.fixed_batch_rows)
    for store in (hpo_store, all_store):  # codes from the stored vectors, no re-embedding
        pt.embed_store(store, None, key, P.fixed_batch_rows, codes=quantize.CODE_KINDS)
    dim = queries.shape[1]
    configs = [("exact", 1)] + [(index, m) for index in quantize.CODE_KINDS for m in multipliers]
    rows, exact_ids = [], {}
    with dd.dask_client(workers=workers, dashboard_address=":0") as client:
        for index, mult in configs:
            search = Search(index=index, rescore_multiplier=mult)
            row = {"index": index, "rescore_multiplier": mult if index != "exact" else None}
            for name, store in (("hpo", hpo_store), ("hpo_mesh", all_store)):
                dd.search_store_dask(client, store, key, queries, k, search=search)  # load (cold)
                with dd.measure_phase(client) as phase:
                    scores, ids = dd.search_store_dask(client, store, key, queries, k, search=search)
                if index == "exact":
                    exact_ids[name] = ids
                _, _, ranks = store_tables(sources, store, scores, ids, "CODE", "gold_hpos")
                row[f"acc1_{name}"] = accuracy_at_k(ranks, 1)
                row[f"recall_at_{k}_{name}"] = float(np.mean(
                    [len(set(a) & set(b)) / k for a, b in zip(ids.tolist(), exact_ids[name].tolist())]))
                row[f"search_seconds_{name}"] = phase.seconds
            n = len(all_store)
            row["index_mb_hpo_mesh"] = (4 * n * dim if index == "exact" else quantize.code_bytes(index, n, dim)) / MB
            rows.append(row)
    for row in rows:
        for name in ("hpo", "hpo_mesh"):
            row[f"acc1_{name}_vs_exact_points"] = 100 * (row[f"acc1_{name}"] - rows[0][f"acc1_{name}"])
    note = (f"{len(sources)} lay terms; HPO {len(hpo_store)} targets, HPO + MeSH {len(all_store)}; search seconds: "
            f"the second (resident) search on {workers} Dask workers")
    return rows, {"note": note, "queries": queries, "store": all_store, "key": key}


def code_scan_peers(vectors: np.ndarray, queries: np.ndarray, k: int, multiplier: int, threads: int) -> list[dict]:
    """The scan of the codes for the best m = multiplier x k candidates: lib's (ONNX Runtime integer GEMM,
    the float query against the codes) beside FAISS IndexScalarQuantizer (8 bit) and IndexBinaryFlat
    (Hamming), in one process on the same vectors: seconds, and recall@k of the candidates (the share of
    the exact top-k that rescoring can still find)."""
    import faiss

    faiss.omp_set_num_threads(threads)
    m = multiplier * k
    exact = topk(queries, vectors, k, backend="ort", threads=threads)[1]

    def recall(ids: np.ndarray) -> float:
        return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(exact.tolist(), ids.tolist())]))

    rows = []
    for kind in quantize.CODE_KINDS:
        codes = quantize.encode(kind, vectors)
        t0 = time.perf_counter()
        _, ids = quantize.code_topk(kind, queries, codes["codes"], m, codes.get("ranges"), threads=threads)
        rows.append({"index": kind, "scan": "lib: ORT MatMulInteger + TopK (float query)", "candidates": m,
                     "seconds": time.perf_counter() - t0, "candidate_recall": recall(ids)})
        if kind == "int8":
            peer = faiss.IndexScalarQuantizer(vectors.shape[1], faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
            peer.train(vectors)
            peer.add(vectors)
            name, q = "FAISS IndexScalarQuantizer QT_8bit", queries
        else:
            peer = faiss.IndexBinaryFlat(vectors.shape[1])
            peer.add(codes["codes"])
            name, q = "FAISS IndexBinaryFlat (Hamming)", quantize.encode("binary", queries)["codes"]
        t0 = time.perf_counter()
        _, ids = peer.search(q, m)
        rows.append({"index": kind, "scan": name, "candidates": m, "seconds": time.perf_counter() - t0,
                     "candidate_recall": recall(ids)})
    return rows


# ---------------------------------------------------------------------------------------------
# 4. All of UMLS: 16M synthetic targets as codes


def synthetic_search(n: int, dim: int, n_queries: int, k: int, workers: int, partition_rows: int, work: Path,
                     multiplier: int = 4) -> list[dict]:
    """Binary and int8 indexes over ``n`` random unit vectors stored as float16 (for rescoring) with their
    codes: the first and the second search of ``n_queries`` on the Dask path, with the peak memory of the
    driver and of every worker, the resident MiB per worker, and per-core rates."""
    from bench.search import random_unit_vectors

    key = "synthetic-f16"
    t0 = time.perf_counter()
    store = vector_store(work / "synthetic", n, dim, partition_rows, key, seed=20_000, dtype="float16",
                         codes=quantize.CODE_KINDS, processes=os.cpu_count() or 1)
    write_seconds = time.perf_counter() - t0
    queries = random_unit_vectors(n_queries, dim, seed=30_000)
    rows = []
    with dd.dask_client(workers=workers, dashboard_address=":0") as client:
        for index in ("binary", "int8"):
            client.run(resident.clear)  # each index measured alone
            search = Search(index=index, rescore_multiplier=multiplier)
            with dd.measure_phase(client) as cold:
                dd.search_store_dask(client, store, key, queries, k, search=search)
            with dd.measure_phase(client) as warm:
                dd.search_store_dask(client, store, key, queries, k, search=search)
            held = dd.resident_stats(client)
            rows.append({
                "index": index, "n_targets": n, "queries": n_queries, "rescore_multiplier": multiplier,
                "codes_gb": quantize.code_bytes(index, n, dim) / 1024 ** 3,
                "float16_on_disk_gb": 2 * n * dim / 1024 ** 3, "store_write_seconds": write_seconds,
                "cold_seconds": cold.seconds, "seconds": warm.seconds,
                "driver_peak_mb": max(cold.memory["driver_mb"], warm.memory["driver_mb"]),
                "worker_peak_mb": max(cold.memory["max_worker_mb"], warm.memory["max_worker_mb"]),
                "workers_peak_mb": {w: max(cold.memory["workers_mb"][w], warm.memory["workers_mb"].get(w, 0))
                                    for w in cold.memory["workers_mb"]},
                "resident_mb_per_worker": max(s["resident_mb"] for s in held.values()),
                "targets_per_core_second": n * n_queries / (warm.seconds * workers) / 1e6,
                "rate_unit": "million query-target pairs per core-second (warm search)"})
    shutil.rmtree(work / "synthetic")
    return rows


# ---------------------------------------------------------------------------------------------
# 5. Approximate indexes, accuracy of notebook 10, extrapolation


def approximate(vectors: np.ndarray, queries: np.ndarray, k: int) -> list[dict]:
    """FAISS IVF and HNSW against the exact IndexFlatIP on real vectors: build and search seconds, and
    recall@k (the share of the exact top-k ids that the index returns). Exact stays lib's search."""
    import faiss

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    n, dim = vectors.shape

    def timed_search(index) -> tuple[float, np.ndarray]:
        t0 = time.perf_counter()
        _, ids = index.search(queries, k)
        return time.perf_counter() - t0, ids

    exact = faiss.IndexFlatIP(dim)
    exact.add(vectors)
    exact_s, exact_ids = timed_search(exact)
    rows = [{"index": "IndexFlatIP (exact)", "setting": "", "build_seconds": 0.0, "search_seconds": exact_s,
             "recall_at_k": 1.0, "speedup": 1.0}]

    def add(name, setting, index, build):
        secs, ids = timed_search(index)
        recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(ids, exact_ids)])
        rows.append({"index": name, "setting": setting, "build_seconds": build, "search_seconds": secs,
                     "recall_at_k": float(recall), "speedup": exact_s / secs})

    nlist = int(4 * np.sqrt(n))
    t0 = time.perf_counter()
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(vectors[np.random.default_rng(0).choice(n, min(n, 64 * nlist), replace=False)])
    ivf.add(vectors)
    build = time.perf_counter() - t0
    for nprobe in (8, 32):
        ivf.nprobe = nprobe
        add(f"IVFFlat nlist={nlist}", f"nprobe={nprobe}", ivf, build)
    t0 = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.add(vectors)
    build = time.perf_counter() - t0
    for ef in (64, 128):
        hnsw.hnsw.efSearch = ef
        add("HNSWFlat M=32", f"efSearch={ef}", hnsw, build)
    return rows


def accuracy(params_name: str) -> dict:
    """Acc@1 against HPO alone and HPO + MeSH from notebook 10's result (None when it has not run)."""

    try:
        m = results.read_result(params_name, "10-scale-out").metrics
    except FileNotFoundError:
        return {"acc1_hpo": None, "acc1_hpo_mesh": None,
                "note": f"run `make scale` (notebook 10-scale-out with params {params_name}) first"}
    return {"acc1_hpo": m.acc1_hpo, "acc1_hpo_mesh": m.acc1_hpo_mesh, "n_sources": m.n_sources,
            "n_hpo_targets": m.n_hpo_targets, "n_mesh_targets": m.n_mesh_targets,
            "mesh_top1_share": m.mesh_top1_share}


def extrapolation(per_core_strings_per_s: float, search: dict | None) -> list[dict]:
    """Hours for 16M strings on each core count, linear in cores from the measured per-core rates.

    An extrapolation: it assumes perfect scaling (no scheduler, disk or network limit) and the measured
    string-length mix (MeSH); the search term is the top-k of the same queries over 16M targets."""
    rows = []
    for cores in CORES:
        embed_h = UMLS_STRINGS / (per_core_strings_per_s * cores) / 3600
        row = {"cores": cores, "embed_hours": embed_h}
        if search:
            search_h = search["core_seconds_per_target"] * UMLS_STRINGS / cores / 3600
            row.update(search_hours=search_h, total_hours=embed_h + search_h)
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# Report


def _table(rows, drop=(), index=False) -> str:
    if not rows:
        return "(not run)"
    df = pd.DataFrame(rows).T if isinstance(rows, dict) else pd.DataFrame(rows)
    df = df.drop(columns=[c for c in drop if c in df.columns])
    if index:
        df.index.name = "engine"
    return markdown(df, index=index)


def render(summary: dict) -> str:
    """The Markdown report: one table per measurement, ratios beside the raw numbers."""
    acc = summary.get("accuracy", {})
    m = summary["machine"]
    lines = [f"# Scale-out numbers ({summary['params']}, {summary['format']}, {m['cpus']} cores, "
             f"{m.get('cpu', '')} [{m.get('isa', '')}], {summary['created']})", "",
             f"## Embedding throughput: {summary['embed_strings']} MeSH strings, fixed batches of "
             f"{summary['fixed_batch_rows']}, best of {summary.get('embed_rounds', 1)} interleaved rounds "
             f"(target: Dask 2 workers >= 1.1x the plain process)", "",
             _table(summary.get("embedding") or {}, drop=("workers_mb", "round"), index=True), "",
             "Shares: of workers x wall time (encode, read + check the partition, write vectors, the rest: "
             "scheduling and the idle tail).", "",
             f"## Exact top-{summary['k']}: {summary['queries']} queries, Dask ({summary['search_workers']} workers, "
             f"resident vectors) vs one process with the vectors in RAM (target: the second Dask search within "
             f"1.2x of the faster of GEMM + argpartition and FAISS); seconds, peak memory (MiB)", "",
             _table(summary.get("search") or [], drop=("workers_peak_mb",)), "",
             f"## Quantized indexes with rescoring on real vectors ({summary.get('quantized_note', '')})", "",
             "Targets: int8 + rescoring within 0.2 point of exact Acc@1, binary + rescoring within 1.0 point.", "",
             _table(summary.get("quantized") or []), "",
             f"### The scan of the codes: lib vs FAISS at the same candidate count ({summary.get('peers_note', '')})",
             "", _table(summary.get("code_scan_peers") or []), "",
             "## All of UMLS in memory: synthetic unit vectors as codes, float16 on disk for rescoring "
             "(targets: binary < 2 GB per worker, int8 < 8 GB)", "",
             _table(summary.get("synthetic") or [], drop=("workers_peak_mb",)), "",
             "## Acc@1 of the HPO lay terms (notebook 10; a MeSH top-1 is always wrong)", "",
             f"HPO alone: {acc.get('acc1_hpo')}; HPO + MeSH: {acc.get('acc1_hpo_mesh')} {acc.get('note', '')}", "",
             f"## Optional: FAISS approximate indexes vs exact ({summary.get('approximate_note', '')}); "
             f"exact stays the default", "",
             _table(summary.get("approximate") or []), "",
             f"## 16M strings: an extrapolation from the measured per-core rates "
             f"({summary['per_core_strings_per_s']:.0f} strings/s per core embedding), not a measurement", "",
             _table(summary.get("extrapolation") or []), ""]
    return "\n".join(lines)


def machine() -> dict:
    """CPU model and the ISA flags that decide INT8 speed (AVX2, AVX-512 VNNI, AMX)."""
    info = {"cpus": os.cpu_count()}
    try:
        text = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "")
        flags = set(next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []))
        info["isa"] = ",".join(f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_vpopcntdq",
                                           "amx_int8") if f in flags)
    except OSError:
        pass
    return info


def main(argv=None) -> int:
    args = parse_args(argv)
    skip = {s for s in args.skip.split(",") if s}
    unknown = skip - set(SECTIONS)
    if unknown:
        raise SystemExit(f"--skip {sorted(unknown)}: known sections are {', '.join(SECTIONS)}")
    P = params_mod.load(args.params)
    out = Path(args.out) if args.out else paths.results_dir() / "scale"
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="scale-", dir=paths.cache_dir()))
    sizes = [int(s) for s in args.sizes.split(",") if s]
    multipliers = [int(s) for s in args.multipliers.split(",") if s]
    part_rows = args.search_partition_rows or P.partition_rows
    threads = os.cpu_count() or 1
    t_start = time.perf_counter()
    summary: dict = {"params": P.name, "format": args.format, "machine": machine(), "k": args.k,
                     "queries": args.queries, "search_workers": args.workers, "embed_strings": args.embed_strings,
                     "embed_rounds": args.embed_rounds, "fixed_batch_rows": P.fixed_batch_rows,
                     "partition_rows": part_rows,
                     "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    try:
        spec = dd.EngineSpec.for_format(P, args.format)
        dim = spec.build(1).encode(["x"], progress=False).shape[1]
        if "embed" not in skip:
            summary["embedding"] = embed_throughput(P, spec, mesh_strings(args.embed_strings), work,
                                                    args.embed_partition_rows, args.embed_rounds)
        if "search" not in skip:
            summary["search"] = search_timing(sizes, args.queries, args.k, args.workers, dim, part_rows, work)
        real = {}
        if "quantized" not in skip:
            summary["quantized"], real = quantized_accuracy(P, spec, multipliers, args.k, args.workers)
            summary["quantized_note"] = real.get("note", "")
        if args.approx_n and real.get("store") is not None:
            store = real["store"]
            n = min(args.approx_n, len(store))
            vectors = pt.store_vectors(store, real["key"], range(-(-n // store.manifest.partition_rows)))
            vectors = np.ascontiguousarray(vectors[:n], dtype=np.float32)
            queries = real["queries"][:args.queries]
            summary["code_scan_peers"] = [r for m in multipliers for r in
                                          code_scan_peers(vectors, queries, args.k, m, threads)]
            summary["peers_note"] = f"first {n} HPO + MeSH targets, {len(queries)} lay terms, one process"
            if "approximate" not in skip:
                summary["approximate"] = approximate(vectors, queries, args.k)
                summary["approximate_note"] = summary["peers_note"]
        if args.synthetic and "synthetic" not in skip:
            summary["synthetic"] = synthetic_search(args.synthetic, dim, args.queries, args.k, args.workers,
                                                    part_rows, work)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    largest = max(summary.get("search") or [], key=lambda r: r["n_targets"], default=None)
    per_core = summary["embedding"]["dask-2"]["per_core"] if "embedding" in summary else float("nan")
    search_rate = ({"core_seconds_per_target": largest["dask_seconds"] * args.workers / largest["n_targets"]}
                   if largest else None)
    summary.update(accuracy=accuracy(P.name), per_core_strings_per_s=per_core,
                   extrapolation=extrapolation(per_core, search_rate) if np.isfinite(per_core) else [],
                   extrapolation_note="linear in cores from this run's per-core rates; not measured",
                   wall_seconds=time.perf_counter() - t_start)
    atomic.write_text(out / "scale.json", json.dumps(results.jsonable(summary), indent=2) + "\n")
    atomic.write_text(out / "scale.md", render(summary))
    print(render(summary))
    print(f"wrote {out / 'scale.json'} and {out / 'scale.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
