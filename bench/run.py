"""`make bench`: speed, memory, quality of every engine, the machine's GEMM ceiling, exact top-k search.

Writes results/bench/bench.json, results/bench/bench.md (the README includes it) and
figures/bench/*.png|pdf. Every number comes from this run; sizes are CLI flags (defaults = issue 6).
Usage: python bench/run.py [--params minilm-l6] [--n-strings 5000] [--rounds 3] ... (see --help)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

from lib import atomic, bench, paths, report  # noqa: E402
from lib import params as params_mod  # noqa: E402
from lib.engines.ort import DEFAULT_TOKEN_BUDGET  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="minilm-l6", help="params file stem (default minilm-l6)")
    ap.add_argument("--n-strings", type=int, default=5000, help="HPO target strings timed per round")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (median reported)")
    ap.add_argument("--paper-strings", type=int, default=100,
                    help="strings timed for the paper's pipeline (pad 512: ~25 s per round; its cost per "
                         "string is constant, so 10 batches give a stable median)")
    ap.add_argument("--engines", default="", help="comma list of engine keys (default: all)")
    ap.add_argument("--int8-formats", default="", help="comma list (default: gate-passing, from 03-quantize)")
    ap.add_argument("--quality-targets", type=int, default=5000,
                    help="HPO targets for cosine / Acc@1, gold targets of the sampled lay terms kept (0 = all 34k)")
    ap.add_argument("--quality-sources", type=int, default=2000, help="lay terms for Acc@1 (0 = all 7k)")
    ap.add_argument("--no-quality", action="store_true", help="skip cosine / Acc@1 (plumbing runs)")
    ap.add_argument("--no-side", action="store_true",
                    help="skip every side venv (sentence-transformers peer and the paper's IPEX route)")
    ap.add_argument("--no-ipex", action="store_true",
                    help="skip the IPEX side venv (torch 2.8 + IPEX 2.8: ~7 GB of wheels on first build)")
    ap.add_argument("--token-budget", type=int, default=DEFAULT_TOKEN_BUDGET,
                    help=f"fast engine: padded tokens per ORT call (default {DEFAULT_TOKEN_BUDGET}, see lib.fastencode)")
    ap.add_argument("--no-profile", action="store_true",
                    help="skip ORT's per-op profile of our best INT8 engine (where its time goes)")
    ap.add_argument("--threads", type=int, default=0, help="threads per engine (0 = all cores)")
    ap.add_argument("--no-gemm", action="store_true")
    ap.add_argument("--gemm-rows", default="256,2048")
    ap.add_argument("--no-search", action="store_true")
    ap.add_argument("--search-n", default="10000,100000,1000000")
    ap.add_argument("--search-dims", default="384,768")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--block", type=int, default=0, help="lib.search.topk block (0 = its default)")
    ap.add_argument("--search-methods", default="sklearn,blocked,blocked-ort,faiss,int8-rescore")
    ap.add_argument("--out", default="", help="output folder (default results/bench)")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def ints(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x.strip()]


# ---------------------------------------------------------------------------------------------
# Preparing artifacts (may import torch: done here, never in the workers)


def _last_line(text: str) -> str:
    return (text.strip().splitlines() or ["?"])[-1]


def side_python(name: str) -> Path:
    return paths.cache_dir() / "venvs" / name / "bin" / "python"


def side_env(name: str) -> tuple[Path | None, str]:
    """Build (or reuse) the side venv ``name`` with bench/side_env.sh: (its python, "ok") or (None, why)."""
    r = subprocess.run(["bash", str(ROOT / "bench" / "side_env.sh"), name], capture_output=True, text=True)
    if r.returncode != 0:
        return None, f"side env {name} failed: {_last_line(r.stderr)}"
    return side_python(name), "ok"


def prepare_st(model_dir: Path, work: Path) -> tuple[Path | None, str]:
    """Side venv + the peer's ONNX exports; returns (folder, note) or (None, why it was skipped)."""
    py, why = side_env("st-onnx")
    if py is None:
        return None, why
    r = subprocess.run([str(py), str(ROOT / "bench" / "st_export.py"), str(model_dir), str(work)],
                       capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if r.returncode != 0:
        return None, f"sentence-transformers export failed: {_last_line(r.stderr)}"
    return work, "ok"


def prepare_ipex(specs: list, P, model_dir: Path, work: Path, threads: int) -> dict[str, str]:
    """Side venv, calibration sentences and the frozen IPEX modules (``ipex_worker.py build``, one process
    per engine, reused when present). Sets each ready spec's ``options`` to its serve config; returns
    {engine key: why it is skipped} for the others (the run goes on without them)."""
    ipex_specs = [s for s in specs if s.kind == "ipex"]
    if not ipex_specs:
        return {}
    py, why = side_env("ipex")
    if py is None:
        return {s.key: bench.skipped(why) for s in ipex_specs}
    out_dir = work / "ipex"
    skipped: dict[str, str] = {}
    calibration = None
    for s in ipex_specs:
        try:
            if s.fmt == "int8-sq" and calibration is None:
                calibration = bench.ipex_calibration(P, model_dir, work / f"{P.name}-ipex-calibration.json")
            cfg = bench.ipex_config(s, P, model_dir, threads, out_dir, calibration)
        except Exception as err:  # e.g. calibration data missing, pooling the route does not run
            skipped[s.key] = bench.skipped(f"{type(err).__name__}: {err}")
            continue
        artifact = Path(cfg["artifact"])
        if not artifact.exists():
            log = out_dir / f"{P.name}-{s.fmt}-build.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            print(f"building {s.key} in the IPEX side venv (log: {log}) ...", flush=True)
            r = subprocess.run([str(py), str(ROOT / "bench" / "ipex_worker.py"), "build", json.dumps(cfg)],
                               capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            log.write_text(r.stdout + "\n--- stderr ---\n" + r.stderr, encoding="utf-8")
            if r.returncode != 0 or not artifact.exists():
                skipped[s.key] = bench.skipped(f"IPEX build failed: {_last_line(r.stderr)} (log: {log})")
                continue
            print(f"built {s.key} in {time.perf_counter() - t0:.0f} s", flush=True)
        s.options = cfg
    return skipped


def start_worker(spec: bench.EngineSpec, P, artifact: str, st_folder: Path | None, threads: int) -> bench.Worker:
    env = {**os.environ, "BENCH_PARAMS": P.name, "HF_HUB_OFFLINE": "1"}
    if spec.kind == "st":
        py = side_python("st-onnx")
        argv = [str(py), str(ROOT / "bench" / "st_worker.py"), str(st_folder), spec.fmt, str(threads)]
    elif spec.kind == "ipex":
        argv = [str(side_python("ipex")), str(ROOT / "bench" / "ipex_worker.py"), "serve", json.dumps(spec.options)]
    else:
        argv = [sys.executable, str(ROOT / "bench" / "worker.py"), json.dumps(spec.__dict__), artifact or ""]
    return bench.Worker(spec, argv, env=env)


# ---------------------------------------------------------------------------------------------


def main(argv=None) -> dict:
    a = parse_args(argv)
    t_start = time.perf_counter()
    phases: dict[str, float] = {}  # wall seconds per phase, so the 20-minute budget can be audited

    clock = [t_start]

    def phase(name: str) -> None:
        now = time.perf_counter()
        phases[name] = now - clock[0]
        clock[0] = now
    out_dir = Path(a.out) if a.out else paths.results_dir() / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    work = paths.cache_dir() / "bench"
    work.mkdir(parents=True, exist_ok=True)
    over = {"threads": a.threads} if a.threads else {}
    P = params_mod.load(a.params, **over)
    threads = P.threads or os.cpu_count() or 1
    report.run_banner(P, bench="engines+gemm+search", n_strings=a.n_strings, rounds=a.rounds)

    from lib import formats
    from lib.compress import export
    from lib.engines import hub
    model_dir = hub.resolve_model_dir(P)

    # texts ---------------------------------------------------------------------------------
    texts = bench.bench_texts(a.n_strings, a.seed, a.quality_targets, a.quality_sources)
    files = {}
    for key, val in (("timing", texts.timing), ("targets", texts.targets), ("sources", texts.sources)):
        files[key] = work / f"{P.name}-{key}.json"
        atomic.write_text(files[key], json.dumps(val, ensure_ascii=False))

    # engines and their artifacts ---------------------------------------------------------------
    int8 = [f for f in a.int8_formats.split(",") if f] or None
    gate = bench.gated_formats(P.name)
    off = ({name: "--no-side" for name in bench.SIDE_ENVS} if a.no_side
           else {"ipex": "--no-ipex"} if a.no_ipex else {})  # side venv -> the flag that skips it
    specs = bench.default_engines(P, a.paper_strings, int8, bench.SIDE_ENVS)
    if a.engines:
        keep = set(a.engines.split(","))
        specs = [s for s in specs if s.key in keep]
    notes: dict[str, str] = {}
    for s in specs:  # side venvs switched off by a flag: said in the report
        flag = off.get(bench.SIDE_ENV_OF_KIND.get(s.kind, ""))
        if flag:
            notes[s.key] = bench.skipped(flag)
    specs = [s for s in specs if s.key not in notes]
    artifacts: dict[str, str] = {}
    sizes: dict[str, int] = {}
    st_folder = None
    if any(s.kind == "st" for s in specs):
        st_folder, why = prepare_st(model_dir, work / f"st-{P.name}")
        if st_folder is None:
            for s in specs:
                if s.kind == "st":
                    notes[s.key] = bench.skipped(why)
            specs = [s for s in specs if s.kind != "st"]
    ipex_skipped = prepare_ipex(specs, P, model_dir, work, threads)
    notes.update(ipex_skipped)
    specs = [s for s in specs if s.key not in ipex_skipped]
    for s in list(specs):
        try:
            if s.kind == "st":
                sizes[s.key] = bench.model_bytes([st_folder / "onnx" / s.fmt])
            elif s.kind == "ipex":  # the frozen TorchScript module the worker loads
                sizes[s.key] = bench.model_bytes([Path(s.options["artifact"])])
            elif s.fmt in formats.ONNX_BUILDERS:
                path = formats.onnx_artifact(P, s.fmt)
                artifacts[s.key] = str(path)
                sizes[s.key] = bench.model_bytes([path])
                if s.kind == "fast":
                    s.options.update(model_dir=str(model_dir), token_budget=a.token_budget)
            else:
                sizes[s.key] = bench.model_bytes(sorted(model_dir.glob("*.safetensors"))
                                                 or sorted(model_dir.glob("*.bin")))
        except Exception as err:  # a format that cannot be built here is reported, not fatal
            notes[s.key] = bench.skipped(f"not built: {type(err).__name__}: {err}")
            specs.remove(s)

    phase("texts, side venvs, artifacts, IPEX builds")
    # op counts on real tokens ----------------------------------------------------------------
    cfg = json.loads((model_dir / "config.json").read_text())
    layers, hidden = cfg["num_hidden_layers"], cfg["hidden_size"]
    macs = bench.linear_macs_per_token(export.unfused_onnx(P))
    lengths = bench.token_lengths(model_dir, texts.timing, P.max_length)
    ops_all = bench.model_ops(lengths, macs["macs_per_token"], layers, hidden)
    ops_paper = bench.model_ops(lengths[:a.paper_strings], macs["macs_per_token"], layers, hidden)

    # GEMM ceiling (before the workers start: nothing else of ours runs) ------------------------
    gemm = None if a.no_gemm else bench.gemm_ceiling(macs["shapes"], ints(a.gemm_rows), threads)

    phase("GEMM ceiling")
    # workers: load, warm up, interleaved rounds, memory, quality -------------------------------
    started = [start_worker(s, P, artifacts.get(s.key, ""), st_folder, threads) for s in specs]
    workers: list[bench.Worker] = []
    ready: dict[str, dict] = {}
    for w in started:
        try:
            ready[w.spec.key] = w.wait_ready()
            workers.append(w)
        except Exception as err:  # an engine that fails to load is reported, the others still run
            notes[w.spec.key] = bench.skipped(f"failed to load: {err}")
            w.close()
    try:
        timing = bench.interleaved_rounds(workers, files["timing"], a.rounds)
        mem = {w.spec.key: w.call(cmd="rss") for w in workers}
        phase("workers loaded, interleaved timing rounds")
        vecs: dict[str, dict[str, np.ndarray]] = {}
        hits: dict[str, np.ndarray] = {}
        if not a.no_quality:
            for w in workers:
                if not w.spec.quality:
                    continue
                vecs[w.spec.key] = {}
                for part in ("sources", "targets"):
                    npy = work / f"{P.name}-{w.spec.key}-{part}.npy"
                    w.call(cmd="encode", texts=str(files[part]), out=str(npy))
                    vecs[w.spec.key][part] = np.load(npy)
    finally:
        for w in workers:
            w.close()
    phase("quality encodes")

    # assemble ------------------------------------------------------------------------------
    ceiling = (gemm or {}).get("ceiling", {})
    engines = {}
    for w in workers:
        k, s = w.spec.key, w.spec
        t = timing[k]
        ops = ops_paper if s.subset else ops_all
        rec = {"label": s.label, "kind": s.kind, "format": s.fmt, "precision": s.precision,
               "strings": t["n"], "rounds_s": t["seconds"], "median_s": t["median_s"],
               "strings_per_s": t["strings_per_s"], "latency_ms": t["latency_ms"],
               "peak_rss_mb": mem[k]["peak_rss_mb"], "load_s": ready[k].get("load_s"),
               "torch_imported": mem[k].get("torch_imported"), "model_mb": sizes.get(k, 0) / bench.MB,
               "linear_gops": ops["linear_ops"] / t["median_s"] / 1e9,
               "total_gops": ops["total_ops"] / t["median_s"] / 1e9}
        c = ceiling.get(s.precision)
        rec["fraction_of_ceiling"] = (ops["linear_ops"] / t["median_s"] / c["ops_per_s"]) if c else None
        if k in vecs and "torch-fp32" in vecs:
            both = lambda d: np.concatenate([d["sources"], d["targets"]])  # noqa: E731
            rec["cosine_to_fp32"] = bench.mean_cosine(both(vecs["torch-fp32"]), both(vecs[k]))
            hits[k] = bench.hits_at_1(vecs[k]["sources"], vecs[k]["targets"], texts.target_codes, texts.gold)
            rec["acc1"] = float(hits[k].mean())
        engines[k] = rec
    peer_hits = hits.get("st-onnx-int8")
    for k in hits:  # paired test of every engine's Acc@1 against the peer's INT8, on the same lay terms
        if peer_hits is not None and k != "st-onnx-int8":
            engines[k]["acc1_vs_st_int8"] = bench.not_worse(hits[k], peer_hits)

    for k, e in engines.items():
        e["speed_vs_paper"] = bench.ratio(e["strings_per_s"], engines.get("paper", {}).get("strings_per_s"))
        e["speed_vs_st_int8"] = bench.ratio(e["strings_per_s"], engines.get("st-onnx-int8", {}).get("strings_per_s"))
        e["rss_vs_paper"] = bench.ratio(e["peak_rss_mb"], engines.get("paper", {}).get("peak_rss_mb"))

    ours = bench.best_int8(engines, P.gate_min_cosine)
    profile = None
    spec_ours = next((s for s in specs if s.key == ours), None)
    if not a.no_profile and spec_ours is not None:  # best_int8 only picks fast engines
        profile = bench.ort_op_profile(spec_ours, P, artifacts[ours], texts.timing, work / "profile")
        profile["engine"] = ours
        c = ceiling.get(spec_ours.precision, {}).get("ops_per_s")
        if c and profile["gemm_op_s"]:
            profile["gemm_ops_fraction_of_ceiling"] = ops_all["linear_ops"] / profile["gemm_op_s"] / c
    phase("ORT profile")
    search = None
    if not a.no_search:
        search = bench.run_search(ints(a.search_n), ints(a.search_dims), a.queries, a.k, a.block or None,
                                  threads, a.seed, a.search_methods.split(","), workdir=work / "search")
        fp32_ceiling = ceiling.get("fp32", {}).get("ops_per_s")
        for r in search:
            if "gflops" in r and fp32_ceiling:
                r["fraction_of_fp32_ceiling"] = r["gflops"] * 1e9 / fp32_ceiling

    phase("search")
    targets = check_targets(engines, ours, search, ints(a.search_n))
    result = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "args": vars(a), "params": P.model_dump(), "machine": report.machine_info(),
        "versions": report.library_versions(), "load_average_at_end": os.getloadavg(),
        "texts": texts.info, "gate": gate,
        "model": {"layers": layers, "hidden": hidden, **{k: v for k, v in macs.items() if k != "shapes"},
                  "mean_tokens": float(lengths.mean()), "ops_timing_set": ops_all,
                  "ops_paper_subset": ops_paper},
        "gemm": gemm, "engines": engines, "notes": notes, "ours_best_int8": ours, "profile": profile,
        "energy": energy_note(), "search": search, "targets": targets,
        "phases_s": phases, "wall_s": time.perf_counter() - t_start,
    }
    path = out_dir / "bench.json"
    atomic.write_text(path, json.dumps(report._jsonable(result), indent=2))
    atomic.write_text(out_dir / "bench.md", bench.markdown(result))
    bench.figures(result)
    print(f"wrote {path} and {out_dir / 'bench.md'} in {result['wall_s']:.0f} s")
    return result


def energy_note() -> dict:
    from lib.perf.energy import Rapl
    r = Rapl()
    return {"measurable": r.available, "reason": r.reason or "RAPL readable (not yet wired per engine)"}


def check_targets(engines: dict, ours: str | None, search: list | None, ns: list[int]) -> list[dict]:
    """Issue 6's targets, each with the measured value and whether it is met."""
    out = []
    e = engines.get(ours or "", {})
    peer = engines.get("st-onnx-int8", {})
    paper = engines.get("paper", {})
    out.append({"target": "ours INT8 >= 1.5x sentence-transformers ONNX INT8 strings/s", "engine": ours,
                "value": e.get("speed_vs_st_int8"), "threshold": 1.5,
                "met": _ge(e.get("speed_vs_st_int8"), 1.5)})
    paired = e.get("acc1_vs_st_int8") or {}
    out.append({"target": "ours INT8 Acc@1 >= peer's", "engine": ours, "value": e.get("acc1"),
                "threshold": peer.get("acc1"), "met": _ge(e.get("acc1"), peer.get("acc1")),
                "paired": paired or None,
                "note": (f"paired exact McNemar: {paired['only_a']} terms right only with ours, "
                         f"{paired['only_b']} only with the peer's, p = {paired['p']:.2g}"
                         + (" (no significant difference)" if paired["p"] >= paired["level"] else "")
                         if paired else "")})
    out.append({"target": "ours INT8 mean cosine to FP32 >= 0.99", "engine": ours,
                "value": (e.get("cosine_to_fp32") or {}).get("mean"), "threshold": 0.99,
                "met": _ge((e.get("cosine_to_fp32") or {}).get("mean"), 0.99)})
    out.append({"target": "ours INT8 >= 35% of INT8 GEMM ceiling (linear MatMuls, real tokens)", "engine": ours,
                "value": e.get("fraction_of_ceiling"), "threshold": 0.35,
                "met": _ge(e.get("fraction_of_ceiling"), 0.35)})
    rss = bench.ratio(e.get("peak_rss_mb"), paper.get("peak_rss_mb"))
    out.append({"target": "ours INT8 peak RSS <= 30% of the paper's pipeline", "engine": ours, "value": rss,
                "threshold": 0.30, "met": None if rss is None else rss <= 0.30})
    if search:
        nmax = max(ns)
        for d in sorted({r["dim"] for r in search}):
            ours_rows = [r for r in search if r["method"] in ("blocked", "blocked-ort") and r["n"] == nmax
                         and r["dim"] == d and "seconds" in r]
            b = min(ours_rows, key=lambda r: r["seconds"]) if ours_rows else {}
            f = next((r for r in search if r["method"] == "faiss" and r["n"] == nmax and r["dim"] == d), {})
            frac = b.get("fraction_of_fp32_ceiling")
            out.append({"target": f"exact top-k N={nmax} dim {d}: >= 50% of FP32 GEMM ceiling",
                        "engine": b.get("method"), "value": frac, "threshold": 0.5, "met": _ge(frac, 0.5)})
            rt = bench.ratio(b.get("seconds"), f.get("seconds"))
            out.append({"target": f"exact top-k N={nmax} dim {d}: within 1.2x of FAISS IndexFlatIP",
                        "engine": b.get("method"), "value": rt, "threshold": 1.2, "met": None if rt is None else rt <= 1.2})
            i8 = next((r for r in search if r["method"] == "int8-rescore" and r["n"] == nmax and r["dim"] == d), {})
            if i8:
                out.append({"target": f"INT8 search + FP32 re-scoring N={nmax} dim {d}: same top-10 >= 99%",
                            "value": i8.get("agreement_with_faiss"), "threshold": 0.99,
                            "met": _ge(i8.get("agreement_with_faiss"), 0.99)})
    return out


def _ge(x, y) -> bool | None:
    if x is None or y is None:
        return None
    return bool(x >= y - 1e-12)


if __name__ == "__main__":
    main()
