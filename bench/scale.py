"""`make scale` numbers of the scale-out path (lib.search.distributed): one run, reported as ratios.

1. Embedding throughput of real MeSH strings: one plain process (all cores to ONNX Runtime) vs the Dask
   path with 1 and 2 one-thread workers (same fixed batches: the vectors are compared bit for bit).
2. Exact top-k time at N targets (random unit vectors of the model's width in a store; the search does
   not look at the text) on the Dask path vs FAISS ``IndexFlatIP`` in one process, with the peak memory
   of the driver and of each worker (the claim: flat in N, bounded by the partition).
3. Acc@1 of the HPO lay terms against HPO alone and HPO + MeSH, read from notebook 10's result; and,
   optional, FAISS IVF / HNSW recall@k and speed against the exact search on notebook 10's real vectors.
4. The wall time of 16M strings (all of UMLS) on 2, 32 and 256 cores, extrapolated from the measured
   per-core rates: an extrapolation, not a measurement.

Writes results/scale/scale.json and scale.md. Usage:
    python bench/scale.py [--params minilm-l6] [--embed-strings 20000] [--sizes 100000,664000,1000000]
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
from lib.perf.memory import peak_rss_mb, reset_peak_rss  # noqa: E402
from lib.results.tables import markdown  # noqa: E402
from lib.search import distributed as dd  # noqa: E402
from lib.search import partitions as pt  # noqa: E402

UMLS_STRINGS = 16_000_000  # ~16M strings in the whole Metathesaurus, every language
CORES = (2, 32, 256)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="minilm-l6")
    ap.add_argument("--format", default="onnx-int8-dynamic")
    ap.add_argument("--embed-strings", type=int, default=20_000, help="MeSH strings embedded by each engine")
    ap.add_argument("--embed-partition-rows", type=int, default=2048,
                    help="partition rows of the throughput store (a multiple of fixed_batch_rows; small so "
                         "that two workers share the work)")
    ap.add_argument("--sizes", default="100000,664000,1000000", help="target counts N of the search timing")
    ap.add_argument("--queries", type=int, default=2000, help="queries of the search timing")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2, help="Dask workers of the search timing")
    ap.add_argument("--search-partition-rows", type=int, default=0,
                    help="partition rows of the search stores (default: params partition_rows)")
    ap.add_argument("--approx-n", type=int, default=200_000,
                    help="targets of the FAISS IVF / HNSW recall check, on notebook 10's real vectors (0: skip)")
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


def embed_throughput(P, spec, texts: list[str], work: Path, partition_rows: int) -> dict:
    """Strings/s of the same fixed-batch embedding in one plain process and on 1 and 2 Dask workers."""
    key = pt.vector_key(spec.fingerprint, P.fixed_batch_rows)
    out, vectors = {}, {}
    store = text_store(work / "embed-plain", texts, partition_rows)
    encoder = spec.build(P.threads)
    encoder.encode(texts[:256], progress=False)  # warm-up, as a worker's first partition is not timed apart
    reset_peak_rss()
    t0 = time.perf_counter()
    pt.embed_store(store, encoder, key, P.fixed_batch_rows)
    seconds = time.perf_counter() - t0
    out["plain"] = {"workers": 0, "threads": P.threads or os.cpu_count(), "seconds": seconds,
                    "per_second": len(texts) / seconds, "peak_mb": peak_rss_mb()}
    vectors["plain"] = pt.store_vectors(store, key)
    del encoder
    for workers in (1, 2):
        store = text_store(work / f"embed-dask{workers}", texts, partition_rows)
        with dd.dask_client(workers=workers, dashboard_address=":0") as client:
            fp = dd.register_engine(client, spec)
            with dd.measure_phase(client) as phase:
                dd.embed_store_dask(client, store, fp, key, P.fixed_batch_rows)
        out[f"dask-{workers}"] = {"workers": workers, "threads": 1, "seconds": phase.seconds,
                                  "per_second": len(texts) / phase.seconds, **phase.memory}
        vectors[f"dask-{workers}"] = pt.store_vectors(store, key)
    for name, row in out.items():
        row["vs_plain"] = row["per_second"] / out["plain"]["per_second"]
        row["identical_to_plain"] = bool(np.array_equal(vectors[name], vectors["plain"]))
    return out


def vector_store(folder: Path, n: int, dim: int, partition_rows: int, key: str, seed: int = 0):
    """A store of ``n`` rows whose vectors are random unit vectors, written partition by partition."""
    from bench.search import random_unit_vectors

    write_store([pd.DataFrame({"STR": np.full(n, "", dtype=object)})], folder, partition_rows=partition_rows)
    store = open_store(folder)
    for i, part in enumerate(store.partitions):
        store.write_vectors(key, i, random_unit_vectors(part.rows, dim, seed + i))
    return store


def search_timing(sizes: list[int], n_queries: int, k: int, workers: int, dim: int, partition_rows: int,
                  work: Path) -> list[dict]:
    """Seconds and peak memory of the exact top-k at each N: Dask path vs FAISS IndexFlatIP (one process)."""
    from bench.search import random_unit_vectors, search_faiss

    key = "random-unit"
    queries = random_unit_vectors(n_queries, dim, seed=10_000)
    rows = []
    for n in sizes:
        store = vector_store(work / f"search-{n}", n, dim, partition_rows, key)
        with dd.dask_client(workers=workers, dashboard_address=":0") as client:
            with dd.measure_phase(client) as phase:
                scores, ids = dd.search_store_dask(client, store, key, queries, k)
        reset_peak_rss()
        t0 = time.perf_counter()
        vectors = pt.store_vectors(store, key)
        t1 = time.perf_counter()
        f_scores, f_ids = search_faiss(queries, vectors, k, threads=os.cpu_count() or 1)
        t2 = time.perf_counter()
        rows.append({"n_targets": n, "partitions": len(store.partitions), "queries": n_queries,
                     "dask_seconds": phase.seconds, "faiss_seconds": t2 - t1, "faiss_load_seconds": t1 - t0,
                     "dask_vs_faiss": phase.seconds / (t2 - t1),
                     "dask_vs_faiss_with_load": phase.seconds / (t2 - t0),
                     "top1_agreement_with_faiss": float((ids[:, 0] == f_ids[:, 0]).mean()),
                     "driver_peak_mb": phase.memory["driver_mb"], "worker_peak_mb": phase.memory["max_worker_mb"],
                     "workers_peak_mb": phase.memory["workers_mb"], "faiss_process_peak_mb": peak_rss_mb()})
        del vectors
        shutil.rmtree(work / f"search-{n}")
    return rows


def notebook_store(P, spec):
    """Notebook 10's HPO + MeSH store and its vector key, when it has been embedded with this engine."""
    key = pt.vector_key(spec.fingerprint, P.fixed_batch_rows)
    for folder in sorted((paths.cache_dir() / "stores").glob("10-hpo-mesh-*")):
        store = open_store(folder)
        if all(store.has_vectors(key, i) for i in range(len(store.partitions))):
            return store, key
    return None, key


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


def render(summary: dict) -> str:
    """The Markdown report: one table per measurement, ratios beside the raw numbers."""
    emb = pd.DataFrame(summary["embedding"]).T[["workers", "threads", "per_second", "vs_plain", "identical_to_plain",
                                                "seconds"]]
    emb.index.name = "engine"
    srch = pd.DataFrame(summary["search"]).drop(columns=["workers_peak_mb"])
    ext = pd.DataFrame(summary["extrapolation"])
    acc = summary["accuracy"]
    lines = [f"# Scale-out numbers ({summary['params']}, {summary['format']}, {summary['machine']['cpus']} cores, "
             f"{summary['created']})", "",
             f"## Embedding throughput: {summary['embed_strings']} MeSH strings, fixed batches of "
             f"{summary['fixed_batch_rows']} (target: Dask 2 workers >= 1.1x the plain process)", "",
             markdown(emb, index=True), "",
             f"## Exact top-{summary['k']}: {summary['queries']} queries, Dask ({summary['search_workers']} workers, "
             f"ORT blocks) vs FAISS IndexFlatIP in one process (target: within 1.2x); peak memory (MiB)", "",
             markdown(srch), "",
             "## Acc@1 of the HPO lay terms (notebook 10; a MeSH top-1 is always wrong)", "",
             f"HPO alone: {acc.get('acc1_hpo')}; HPO + MeSH: {acc.get('acc1_hpo_mesh')} "
             f"{acc.get('note', '')}", "",
             f"## Optional: FAISS approximate indexes vs exact ({summary.get('approximate_note', '')}); "
             f"exact stays the default", "",
             markdown(pd.DataFrame(summary.get("approximate") or [{"index": "-"}])), "",
             f"## 16M strings: an extrapolation from the measured per-core rates "
             f"({summary['per_core_strings_per_s']:.0f} strings/s per core embedding), not a measurement", "",
             markdown(ext), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    P = params_mod.load(args.params)
    out = Path(args.out) if args.out else paths.results_dir() / "scale"
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="scale-", dir=paths.cache_dir()))
    sizes = [int(s) for s in args.sizes.split(",") if s]
    t_start = time.perf_counter()
    try:
        spec = dd.EngineSpec.for_format(P, args.format)
        dim = spec.build(1).encode(["x"], progress=False).shape[1]
        embedding = embed_throughput(P, spec, mesh_strings(args.embed_strings), work, args.embed_partition_rows)
        search = search_timing(sizes, args.queries, args.k, args.workers, dim,
                               args.search_partition_rows or P.partition_rows, work)
        approx, approx_note = [], "skipped (--approx-n 0)"
        if args.approx_n:
            store, key = notebook_store(P, spec)
            if store is None:
                approx_note = "skipped: notebook 10's HPO + MeSH vectors are not in the cache (run make scale)"
            else:
                n = min(args.approx_n, len(store))
                vectors = pt.store_vectors(store, key, range(-(-n // store.manifest.partition_rows)))[:n]
                queries = pt.embed_fixed(spec.build(P.threads), lay_terms(args.queries), P.fixed_batch_rows)
                approx = approximate(np.ascontiguousarray(vectors, dtype=np.float32), queries, args.k)
                approx_note = f"first {n} HPO + MeSH targets (notebook 10's vectors), {len(queries)} HPO lay terms"
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    largest = max(search, key=lambda r: r["n_targets"]) if search else None
    per_core = embedding["dask-2"]["per_second"] / 2
    search_rate = ({"core_seconds_per_target": largest["dask_seconds"] * args.workers / largest["n_targets"]}
                   if largest else None)
    summary = {"params": P.name, "format": args.format, "created": dt.datetime.now(dt.timezone.utc).isoformat(
               timespec="seconds"), "machine": {"cpus": os.cpu_count()}, "embed_strings": args.embed_strings,
               "fixed_batch_rows": P.fixed_batch_rows, "partition_rows": args.search_partition_rows or P.partition_rows,
               "k": args.k,
               "queries": args.queries, "search_workers": args.workers, "embedding": embedding, "search": search,
               "accuracy": accuracy(P.name), "approximate": approx, "approximate_note": approx_note,
               "per_core_strings_per_s": per_core,
               "extrapolation": extrapolation(per_core, search_rate),
               "extrapolation_note": "linear in cores from this run's per-core rates; not measured",
               "wall_seconds": time.perf_counter() - t_start}
    atomic.write_text(out / "scale.json", json.dumps(results.jsonable(summary), indent=2) + "\n")
    atomic.write_text(out / "scale.md", render(summary))
    print(render(summary))
    print(f"wrote {out / 'scale.json'} and {out / 'scale.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
