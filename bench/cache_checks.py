"""What the issue-25 cache checks cost: the stronger fingerprint memo and the embedding-cache checksum.

Each row is a pair timed in one interleaved run (:func:`lib.perf.timing.interleaved_rounds`, the order
rotating every round), "before" being the checks as they were at cf16d04, re-implemented here for the
comparison only:

1. Model fingerprint of MiniLM (the PyPI-shipped all-MiniLM-L6-v2 folder): first call (empty memo: every
   file hashed in full) and cached call (memo on disk, a fresh process: before = path + size + mtime
   looked up; now + ctime + a digest of the first and last MiB).
2. Embedding cache of MiniLM (PyTorch FP32) on ``--texts`` HPO target strings: first call (encode + write;
   now also hash + checksum record) and cached call (before: ``np.load``; now: read once, SHA-256, parse).
3. A ``--vectors`` x 384 float32 cache file (1M: 1.5 GB, an HPO + MeSH-sized target set): write and read,
   before vs now. Files sit in the page cache (warm reads): the checksum's cost, not the disk's.

Usage: python bench/cache_checks.py [--rounds 7] [--texts 1000] [--vectors 1000000]
Writes results/bench/cache-checks.{json,md}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
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

from lib import atomic, fingerprint, params, paths  # noqa: E402
from lib.perf.timing import Pass, interleaved_rounds  # noqa: E402
from lib.results.tables import markdown  # noqa: E402


# -- the checks as they were at cf16d04 (for the comparison only) ---------------------------------


def legacy_file_digest(path: Path, memo_dir: Path) -> str:
    """cf16d04's memo: trusted when path, size and mtime match (no ctime, no spot check)."""
    st = path.stat()
    record = memo_dir / f"{hashlib.sha1(str(path).encode()).hexdigest()}.json"
    try:
        saved = json.loads(record.read_text(encoding="utf-8"))
        if saved.get("path") == str(path) and saved.get("size") == st.st_size and \
                saved.get("mtime_ns") == st.st_mtime_ns:
            return saved["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    digest = fingerprint.sha256_file(str(path))
    atomic.write_json(record, {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest})
    return digest


def legacy_model_fingerprint(folder: Path, memo_dir: Path) -> str:
    h = hashlib.sha256()
    for f in fingerprint.model_files(folder):
        h.update(f"{f.relative_to(folder).as_posix()}\0{legacy_file_digest(f.resolve(), memo_dir)}\n".encode())
    return h.hexdigest()[:16]


def legacy_load(path: Path, n: int) -> np.ndarray:
    """cf16d04's embedding-cache reader: ``np.load`` and a shape check."""
    vec = np.load(path)
    if vec.ndim != 2 or vec.shape[0] != n or vec.dtype != np.float32:
        raise ValueError("bad cache entry")
    return vec


# -- timing ---------------------------------------------------------------------------------------


def timed(setup, call):
    """An interleaved_rounds engine: ``setup()`` untimed, then ``call()`` timed (one pass = one call)."""
    def engine(warmup: int | None) -> Pass:
        setup()
        t0 = time.perf_counter()
        call()
        s = time.perf_counter() - t0
        return Pass(strings=1, calls=[s], seconds=s)
    return engine


def medians(engines: dict, rounds: int, desc: str) -> dict[str, float]:
    t = interleaved_rounds(engines, rounds=rounds, warmup_strings=1, desc=desc)
    return {k: float(v) * 1000 for k, v in t.passes.groupby("engine")["seconds"].median().items()}


def fingerprint_rows(folder: Path, work: Path, rounds: int) -> list[dict]:
    legacy_memo, new_cache = work / "legacy-memo", work / "new-cache"

    def clear_memos():
        shutil.rmtree(legacy_memo, ignore_errors=True)
        shutil.rmtree(new_cache / "fingerprints", ignore_errors=True)
        fingerprint._file_digest.cache_clear()

    def new_fp():
        os.environ["COMPENDIUM_CACHE"] = str(new_cache)
        fingerprint.model_fingerprint(folder)

    first = medians({"before": timed(clear_memos, lambda: legacy_model_fingerprint(folder, legacy_memo)),
                     "now": timed(clear_memos, new_fp)}, rounds, "fingerprint, first call")
    legacy_model_fingerprint(folder, legacy_memo)
    new_fp()
    cached = medians({"before": timed(lambda: None, lambda: legacy_model_fingerprint(folder, legacy_memo)),
                      "now": timed(fingerprint._file_digest.cache_clear, new_fp)},
                     rounds, "fingerprint, cached call")
    size = sum(f.stat().st_size for f in fingerprint.model_files(folder))
    n_files = len(fingerprint.model_files(folder))
    return [{"what": f"MiniLM fingerprint, {label} ({n_files} files, {size / 1e6:.1f} MB)",
             "before_ms": m["before"], "now_ms": m["now"]} for label, m in (("first call", first),
                                                                            ("cached call", cached))]


def embedding_rows(work: Path, n_texts: int, rounds: int) -> list[dict]:
    from lib import formats
    from lib.data.hpo import load_hpo
    from lib.engines import cache

    P = params.load("minilm-l6")
    enc = formats.load_encoder(P, "fp32-torch")
    texts = load_hpo().targets["STR"].astype(str).head(n_texts).tolist()
    os.environ["COMPENDIUM_CACHE"] = str(work / "emb-cache")
    path = paths.cache_dir() / "embeddings" / f"{cache.cache_key(enc, texts)}.npy"
    legacy = work / "legacy-emb.npy"

    def clear():
        atomic.remove(path)
        atomic.remove(legacy)

    first = medians({"before": timed(clear, lambda: atomic.save_npy(legacy, enc.encode(texts, progress=False))),
                     "now": timed(clear, lambda: cache.embed(enc, texts))}, rounds, "embedding cache, first call")
    vec = cache.embed(enc, texts)
    write = medians({"before": timed(lambda: atomic.remove(legacy), lambda: atomic.save_npy(legacy, vec)),
                     "now": timed(lambda: atomic.remove(path), lambda: atomic.save_npy_checked(path, vec))},
                    rounds, "embedding cache, write alone")
    cached = medians({"before": timed(lambda: None, lambda: (cache.cache_key(enc, texts),
                                                            legacy_load(legacy, len(texts)))),
                      "now": timed(lambda: None, lambda: cache.embed(enc, texts))},
                     rounds, "embedding cache, cached call")
    mb = vec.nbytes / 1e6
    return [{"what": f"MiniLM embedding cache, {label} ({len(texts):,} HPO strings x {vec.shape[1]}, {mb:.1f} MB)",
             "before_ms": m["before"], "now_ms": m["now"]}
            for label, m in (("first call (encode + write)", first), ("its write alone", write),
                             ("cached call", cached))]


def warm(path: Path) -> None:
    """Read a file once, untimed, so the timed read finds it in the page cache (not the disk's speed)."""
    buf = bytearray(1 << 26)
    with open(path, "rb") as fh:
        while fh.readinto(buf):
            pass


def vectors_rows(work: Path, n: int, rounds: int) -> list[dict]:
    held = {"vec": np.random.default_rng(0).standard_normal((n, 384), dtype=np.float32)}
    legacy, checked = work / "legacy-1m.npy", work / "checked-1m.npy"
    write = medians({
        "before": timed(lambda: atomic.remove(legacy), lambda: atomic.save_npy(legacy, held["vec"])),
        "now": timed(lambda: atomic.remove(checked), lambda: atomic.save_npy_checked(checked, held["vec"]))},
        max(3, rounds // 2), "vectors, write")
    held.clear()  # the reads below allocate their own
    read = medians({"before": timed(lambda: warm(legacy), lambda: legacy_load(legacy, n)),
                    "now": timed(lambda: warm(checked), lambda: atomic.load_npy_checked(checked))},
                   rounds, "vectors, read")
    assert np.array_equal(legacy_load(legacy, n)[-3:], atomic.load_npy_checked(checked)[-3:])
    gb = n * 384 * 4 / 1e9
    return [{"what": f"{n:,} x 384 float32 cache ({gb:.2f} GB), {label}", "before_ms": m["before"], "now_ms": m["now"]}
            for label, m in (("write", write), ("read (page cache)", read))]


def cpu_flags() -> str:
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return platform.processor()
    return ", ".join(f for f in ("sha_ni", "avx2", "avx512f", "avx512_vnni", "amx_tile") if f in flags)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--vectors", type=int, default=1_000_000)
    args = ap.parse_args()
    from lib.engines.hub import resolve_model_dir

    folder = resolve_model_dir(params.load("minilm-l6"))
    results_dir = paths.results_dir()
    paths.cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=paths.cache_dir()) as tmp:  # memos and caches of this run only
        work = Path(tmp)
        rows = fingerprint_rows(folder, work, args.rounds)
        rows += embedding_rows(work, args.texts, args.rounds)
        rows += vectors_rows(work, args.vectors, args.rounds)
    table = pd.DataFrame(rows)
    table["now / before"] = table.now_ms / table.before_ms
    table["added_ms"] = table.now_ms - table.before_ms
    info = {"command": "python bench/cache_checks.py " + " ".join(sys.argv[1:]), "rounds": args.rounds,
            "cpu": platform.processor() or platform.machine(), "cpu_flags": cpu_flags(), "cores": os.cpu_count(),
            "statistic": "median of interleaved rounds, ms"}
    md = markdown(table, floatfmt=".1f")
    out = results_dir / "bench"
    atomic.write_json(out / "cache-checks.json", {**info, "rows": table.to_dict("records")})
    atomic.write_text(out / "cache-checks.md", md + "\n\n" + json.dumps(info) + "\n")
    print(md)
    print(info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
