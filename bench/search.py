"""Exact top-k search at scale, timed: the paper's route (scikit-learn's full cosine matrix), lib's blocked
top-k on both backends (:func:`lib.search.topk.topk`), FAISS ``IndexFlatIP`` (the reference) and an INT8
candidate search with FP32 re-scoring. Every (method, N, dim) runs in its own child process, so its peak
memory is its own: ``python bench/search.py search-child '<json>'``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

if __name__ == "__main__":  # a child process: import bench.* and lib.* from the checkout
    _here = Path(__file__).resolve().parent
    sys.path[:] = [str(_here.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _here]

import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from lib import atomic, paths  # noqa: E402
from lib.perf.memory import peak_rss_mb, reset_peak_rss, rss_mb  # noqa: E402
from lib.search.quantize import quantized_topk  # noqa: E402
from lib.search.topk import topk  # noqa: E402

GB = 1024 ** 3


def random_unit_vectors(n: int, dim: int, seed: int, chunk: int = 100_000) -> np.ndarray:
    """float32 unit vectors, generated in chunks (no float64 temporaries at 1M x 768)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, chunk):
        x = rng.standard_normal((min(chunk, n - s), dim), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[s:s + len(x)] = x
    return out


def sklearn_bytes(n_queries: int, n_targets: int, dim: int) -> int:
    """Predicted working memory of the paper's route: normalised copies + full float32 S + int64 argpartition."""
    return 4 * (n_queries + n_targets) * dim + 4 * n_queries * n_targets + 8 * n_queries * n_targets


def search_sklearn(q: np.ndarray, t: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The paper's route: the full cosine matrix from scikit-learn, then top-k per row."""
    from sklearn.metrics.pairwise import cosine_similarity

    S = cosine_similarity(q, t)
    idx = np.argpartition(S, -k, axis=1)[:, -k:]
    sc = np.take_along_axis(S, idx, 1)
    o = np.argsort(-sc, axis=1, kind="stable")
    return np.take_along_axis(sc, o, 1), np.take_along_axis(idx, o, 1)


def search_faiss(q: np.ndarray, t: np.ndarray, k: int, threads: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    faiss.omp_set_num_threads(threads)
    index = faiss.IndexFlatIP(t.shape[1])
    index.add(t)
    return index.search(q, k)


def _search_method(method: str, k: int, block: int | None, threads: int, candidates: int
                   ) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(targets, queries) -> (scores, indices) for one method, threads fixed."""
    if method == "sklearn":
        def run(t, q):
            from threadpoolctl import threadpool_limits
            with threadpool_limits(threads):
                return search_sklearn(q, t, k)
        return run
    if method == "faiss":
        return lambda t, q: search_faiss(q, t, k, threads)
    if method == "blocked":
        return lambda t, q: topk(q, t, k, block=block, backend="torch")
    if method == "blocked-ort":
        return lambda t, q: topk(q, t, k, block=block, backend="ort", threads=threads)
    if method == "int8-rescore":  # lib's int8 index: codes, exact scan of them, rescoring (lib.search.quantize)
        return lambda t, q: quantized_topk(q, t, k, "int8", candidates, threads=threads)
    raise ValueError(f"unknown search method {method!r}")


def search_child(method: str, n: int, dim: int, n_queries: int, k: int, block: int | None,
                 threads: int, seed: int, out_npy: str | None = None, candidates: int = 50,
                 targets_npy: str | None = None) -> dict:
    """One (method, N, dim) search measurement, meant to run in its own process (peak memory).
    ``targets_npy``: the same targets saved once by :func:`run_search` (generating 1M x 768 takes ~18 s,
    reading it ~1.3 s); loaded fully into memory, as generated ones would be."""
    run = _search_method(method, k, block, threads, candidates)
    run(random_unit_vectors(max(k, 64), dim, seed + 2), random_unit_vectors(8, dim, seed + 3))  # imports, pools
    t = np.load(targets_npy) if targets_npy else random_unit_vectors(n, dim, seed)
    if t.shape != (n, dim) or t.dtype != np.float32:
        raise ValueError(f"{targets_npy}: targets {t.shape} {t.dtype}, expected ({n}, {dim}) float32")
    q = random_unit_vectors(n_queries, dim, seed + 1)
    base = rss_mb()
    reset_ok = reset_peak_rss()
    t0 = time.perf_counter()
    scores, idx = run(t, q)
    secs = time.perf_counter() - t0
    peak = peak_rss_mb()
    if out_npy:
        atomic.save_npy(out_npy, np.asarray(idx, dtype=np.int64))
    return {"method": method, "n": n, "dim": dim, "queries": n_queries, "k": k, "seconds": secs,
            "gflops": 2.0 * n_queries * n * dim / secs / 1e9, "rss_inputs_mb": base,
            "peak_extra_mb": (peak - base) if reset_ok else None, "peak_rss_mb": peak,
            "peak_reset": reset_ok}


def topk_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of queries whose top-k index *sets* are identical."""
    return float(np.mean([set(x) == set(y) for x, y in zip(a.tolist(), b.tolist())]))


def run_search(ns: Sequence[int], dims: Sequence[int], n_queries: int = 2000, k: int = 10,
               block: int | None = None, threads: int | None = None, seed: int = 0,
               methods: Sequence[str] = ("sklearn", "blocked", "blocked-ort", "faiss", "int8-rescore"),
               sklearn_max_bytes: int | None = None, workdir: Path | None = None) -> list[dict]:
    """Every (N, dim, method) in its own child process; the paper's route is skipped past its memory."""
    import psutil

    threads = threads or os.cpu_count() or 1
    workdir = workdir or paths.cache_dir() / "bench" / "search"
    workdir.mkdir(parents=True, exist_ok=True)
    total_ram = psutil.virtual_memory().total
    limit = sklearn_max_bytes or int(0.6 * psutil.virtual_memory().available)
    rows = []
    combos = [(n, d, m) for d in dims for n in ns for m in methods]
    targets_file: Path | None = None  # the current (N, dim)'s targets, shared by its methods' children
    for n, d, m in tqdm(combos, desc="search", mininterval=5.0):
        rec: dict[str, Any] = {"method": m, "n": n, "dim": d, "queries": n_queries, "k": k}
        if m == "sklearn":
            need = sklearn_bytes(n_queries, n, d) + 4 * n * d  # + the targets themselves
            rec.update(predicted_bytes=need, machine_ram_bytes=total_ram, limit_bytes=limit)
            if need > limit:
                rec["skipped"] = (f"predicted {need / GB:.1f} GiB working set > limit {limit / GB:.1f} GiB "
                                  f"(machine RAM {total_ram / GB:.1f} GiB)")
                rows.append(rec)
                continue
        out_npy = workdir / f"{m}-{n}-{d}.npy"
        wanted = workdir / f"targets-{n}-{d}-seed{seed}.npy"
        if wanted != targets_file:  # combos run (N, dim) by (N, dim): keep one file at a time
            if targets_file:
                targets_file.unlink(missing_ok=True)
            atomic.save_npy(wanted, random_unit_vectors(n, d, seed))
            targets_file = wanted
        argv = [sys.executable, str(Path(__file__).resolve()), "search-child", json.dumps(
            {"method": m, "n": n, "dim": d, "n_queries": n_queries, "k": k, "block": block,
             "threads": threads, "seed": seed, "out_npy": str(out_npy),
             "targets_npy": str(targets_file)})]
        res = subprocess.run(argv, capture_output=True, text=True)
        if res.returncode != 0:
            rec["error"] = (res.stderr.strip().splitlines() or ["?"])[-1]
            rows.append(rec)
            continue
        rec.update(json.loads(res.stdout.strip().splitlines()[-1]))
        rec["idx_file"] = str(out_npy)
        rows.append(rec)
    if targets_file:  # up to 3 GB: not left in the cache
        targets_file.unlink(missing_ok=True)
    _agreements(rows)
    return rows


def _agreements(rows: list[dict]) -> None:
    """Top-k set agreement of every method with FAISS (the reference exact search) per (N, dim)."""
    ref = {(r["n"], r["dim"]): r["idx_file"] for r in rows if r["method"] == "faiss" and "idx_file" in r}
    for r in rows:
        f = ref.get((r["n"], r["dim"]))
        if f and "idx_file" in r:
            r["agreement_with_faiss"] = topk_agreement(np.load(r["idx_file"]), np.load(f))


def main(argv: list[str] | None = None) -> None:
    """``python bench/search.py search-child '<json>'``: one search measurement (child process)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "search-child":
        print(json.dumps(search_child(**json.loads(argv[1]))))
        return
    raise SystemExit("usage: python bench/search.py search-child '<json>' (the benchmark is bench/run.py)")


if __name__ == "__main__":
    main()
