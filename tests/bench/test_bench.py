"""The benchmark (bench/: engines, quality, search, report, run.py and its workers): correctness only,
never speed. What it shares with lib is tested with lib (tests/perf/, tests/search/test_topk.py,
tests/engines/test_batching.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is a folder of the checkout, not an installed package
    sys.path.insert(0, str(ROOT))

from bench import engines, quality, report, search  # noqa: E402


def test_mean_cosine():
    a = np.eye(3, dtype=np.float32)
    b = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 1]], np.float32)
    c = quality.mean_cosine(a, b)
    assert c["min"] == pytest.approx(1 / np.sqrt(2)) and c["mean"] == pytest.approx((2 + 1 / np.sqrt(2)) / 3)


def test_acc_at_1_hand_case():
    t = np.array([[1, 0], [0, 1], [0.7071, 0.7071]], np.float32)
    q = np.array([[0.9, 0.1], [0.1, 0.9]], np.float32)
    acc = quality.acc_at_1(q, t, ["HP:1", "HP:2", "HP:3"], [("HP:1",), ("HP:3",)])
    assert acc == 0.5


def test_hits_and_not_worse():
    t = np.array([[1, 0], [0, 1], [0.7071, 0.7071]], np.float32)
    q = np.array([[0.9, 0.1], [0.1, 0.9]], np.float32)
    hits = quality.hits_at_1(q, t, ["HP:1", "HP:2", "HP:3"], [("HP:1",), ("HP:3",)])
    assert hits.tolist() == [True, False]
    ours = np.array([1] * 50 + [0] * 50, bool)
    peer = ours.copy()
    peer[50:53] = True                       # the peer is right on 3 more terms: 3 discordant, p = 0.25
    t = quality.not_worse(ours, peer)
    assert not t["higher"] and t["p"] == pytest.approx(0.25) and t["not_worse"]
    peer[50:60] = True                       # 10 more: p = 0.002, ours is worse
    t = quality.not_worse(ours, peer)
    assert t["only_b"] == 10 and t["p"] < 0.01 and not t["not_worse"]


def test_best_int8_is_the_fastest_gated_lean_engine():
    def e(kind, sps, cos=0.995, not_worse=True, precision="int8"):
        return {"kind": kind, "precision": precision, "strings_per_s": sps, "cosine_to_fp32": {"mean": cos},
                "acc1_vs_st_int8": {"not_worse": not_worse}}
    engines = {"onnx-int8-dynamic": e("lib", 990), "fast-dyn": e("fast", 950), "fast-sq": e("fast", 700),
               "fast-fp32": e("fast", 2000, precision="fp32"), "fast-bad-cos": e("fast", 1500, cos=0.95),
               "fast-worse": e("fast", 1400, not_worse=False), "ipex-int8-sq": e("ipex", 1500)}
    assert quality.best_int8(engines, 0.99) == "fast-dyn"
    assert quality.best_int8({"x": e("fast", 1, cos=0.5)}, 0.99) is None


def test_profile_engine_and_its_markdown(tmp_path):
    """The best INT8 engine is profiled as it was timed (bench.engines.build_engine); the report says
    where its time goes. (lib.perf.profile's own figures: tests/test_perf_profile.py.)"""
    from lib import params
    from lib.compress import export
    from lib.engines import hub
    from lib.perf.profile import GEMM_OPS

    P = params.load("tiny", threads=1)
    texts = ["abnormal heart", "pain", "small hand and foot with long finger", "fever"] * 10
    spec = engines.EngineSpec("fast-fp32", "fast", "fast", "onnx-fp32", "fp32",
                              options={"model_dir": str(hub.resolve_model_dir(P)), "token_budget": 32})
    p = engines.profile_engine(spec, P, str(export.fused_onnx(P)), texts, tmp_path)
    assert p["texts"] == 40 and p["ort_calls"] >= 2
    assert 0 < p["kernel_s"] <= p["session_run_s"] <= p["wall_s"]
    assert p["gemm_op_s"] > 0 and set(p["by_op_s"]) & set(GEMM_OPS)
    assert not list(tmp_path.glob("ort-profile*.json"))      # the trace is summarised, then removed
    md = "\n".join(report.profile_markdown({"profile": {**p, "engine": "fast-fp32"}}))
    assert "Where the time of `fast-fp32` goes" in md and "| outside ORT" in md
    with pytest.raises(ValueError, match="only fast"):
        engines.profile_engine(engines.EngineSpec("x", "x", "lib", "onnx-fp32", "fp32"), P, "", texts, tmp_path)


def test_sklearn_memory_prediction():
    assert search.sklearn_bytes(2, 10, 3) == 4 * 12 * 3 + 4 * 20 + 8 * 20
    # the largest case: ~24 GiB of working set before the targets themselves (1.5 GB)
    assert search.sklearn_bytes(2000, 1_000_000, 384) > 23 * search.GB


def test_random_unit_vectors():
    x = search.random_unit_vectors(1000, 16, seed=3, chunk=300)
    assert x.dtype == np.float32 and x.shape == (1000, 16)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(x, search.random_unit_vectors(1000, 16, seed=3, chunk=300))


@pytest.mark.parametrize("method", ["sklearn", "faiss", "blocked", "blocked-ort"])
def test_exact_topk_equals_brute_force(method):
    t = search.random_unit_vectors(3000, 32, seed=0)
    q = search.random_unit_vectors(40, 32, seed=1)
    ref = np.argsort(-(q @ t.T), axis=1)[:, :10]
    _, idx = search._search_method(method, 10, block=700, threads=1, candidates=50)(t, q)
    np.testing.assert_array_equal(np.asarray(idx), ref)
    assert search.topk_agreement(np.asarray(idx), ref) == 1.0
    with pytest.raises(ValueError, match="unknown search method"):
        search._search_method("annoy", 10, None, 1, 50)


def test_int8_rescore_matches_exact_mostly():
    t = search.random_unit_vectors(5000, 64, seed=0)
    q = search.random_unit_vectors(50, 64, seed=1)
    ref = np.argsort(-(q @ t.T), axis=1)[:, :10]
    scores, idx = search._search_method("int8-rescore", 10, block=1200, threads=1, candidates=50)(t, q)
    assert search.topk_agreement(idx, ref) >= 0.95
    np.testing.assert_allclose(scores, np.take_along_axis(q @ t.T, idx, 1), atol=1e-5)  # FP32 re-scored


def test_search_child_schema():
    rec = search.search_child("blocked", 2000, 16, 20, 5, 512, 1, 0)
    for key in ("seconds", "gflops", "peak_rss_mb", "peak_extra_mb", "rss_inputs_mb"):
        assert key in rec
    assert rec["gflops"] > 0


def test_search_child_reads_saved_targets(tmp_path):
    """Targets saved once and read by each method's child give the same top-k as generating them."""
    saved = tmp_path / "t.npy"
    np.save(saved, search.random_unit_vectors(2000, 16, 0))
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    search.search_child("blocked", 2000, 16, 20, 5, 512, 1, 0, out_npy=str(a))
    search.search_child("blocked", 2000, 16, 20, 5, 512, 1, 0, out_npy=str(b), targets_npy=str(saved))
    np.testing.assert_array_equal(np.load(a), np.load(b))
    with pytest.raises(ValueError, match=r"t.npy: targets \(2000, 16\)"):
        search.search_child("blocked", 1000, 16, 20, 5, 512, 1, 0, targets_npy=str(saved))


def test_fast_engine_matches_lib_encoder():
    """The benchmark's fast engine gives the same vectors as lib's ONNX FP32 format (other batching)."""
    from lib import formats, params
    from lib.compress import export
    from lib.engines import hub

    P = params.load("tiny")
    texts = ["abnormal heart", "pain", "small hand and foot with long finger", "fever", "x" * 40]
    ref = formats.load_encoder(P, "onnx-fp32").encode(texts, progress=False)
    spec = engines.EngineSpec("fast-fp32", "fast", "fast", "onnx-fp32", "fp32",
                              options={"model_dir": str(hub.resolve_model_dir(P)), "token_budget": 16, "max_rows": 2})
    fast = engines.build_engine(spec, P, str(export.fused_onnx(P)))
    got = fast.encode(texts)
    assert len(fast.batch_times) >= 3
    np.testing.assert_allclose((ref * got).sum(1), 1.0, atol=1e-4)


def test_bench_quality_sample_keeps_every_gold_target_and_counts_the_rest():
    t = quality.bench_texts(50, seed=0, max_targets=500, max_sources=40)
    assert len(t.timing) == 50 and len(t.sources) == 40 == len(t.gold)
    codes = set(t.target_codes)
    assert all(set(g) <= codes for g in t.gold)          # Acc@1 stays defined for every sampled term
    s = t.info["quality_sample"]
    assert s["targets"] == len(t.targets) and s["queries_left_out"] > 0 and s["targets_left_out"] > 0
    assert len(t.targets) == max(500, s["gold_targets"])


def _run_module():
    import bench.run
    return bench.run


def test_bench_run_smoke_tiny(session_dirs, data_mirror):
    """The whole script on tiny with small sizes: JSON schema, Markdown table and figures written."""
    run = _run_module()
    out = session_dirs["results"] / "bench-smoke"
    res = run.main(["--params", "tiny", "--n-strings", "60", "--rounds", "1", "--paper-strings", "8",
                    "--engines", "paper,torch-fp32,fast-fp32,fast-onnx-int8-dynamic,ov-int8", "--no-side",
                    "--int8-formats", "onnx-int8-dynamic", "--invariance-probes", "20", "--invariance-fillers", "40",
                    "--quality-targets", "200", "--quality-sources", "30", "--gemm-rows", "32",
                    "--search-n", "1000", "--search-dims", "16", "--queries", "20",
                    "--search-methods", "sklearn,blocked,faiss", "--out", str(out)])
    data = json.loads((out / "bench.json").read_text())
    assert set(data["engines"]) == {"paper", "torch-fp32", "fast-fp32", "fast-onnx-int8-dynamic", "ov-int8"}
    ov, ort_int8 = data["engines"]["ov-int8"], data["engines"]["fast-onnx-int8-dynamic"]
    assert ov["torch_imported"] is False and ov["kind"] == "ov" and ov["cosine_to_fp32"]["mean"] > 0.99
    assert ov["batch_invariance"]["max_abs_dv"] < 1e-5 and ov["batch_invariance"]["strings"] == 20
    assert ort_int8["batch_invariance"]["max_abs_dv"] > ov["batch_invariance"]["max_abs_dv"]
    assert ov["speed_vs_ort_int8"] == pytest.approx(ov["strings_per_s"] / ort_int8["strings_per_s"])
    assert {"p", "only_a", "only_b", "not_worse"} <= set(ov["acc1_vs_ort_int8"])
    assert data["ours_best_int8"] in ("ov-int8", "fast-onnx-int8-dynamic")
    assert data["profile"]["engine"] == "fast-onnx-int8-dynamic"      # ORT's profiler explains the ORT engine
    assert data["machine"]["cpu"]["int8_isa"]
    for e in data["engines"].values():
        for key in ("strings_per_s", "latency_ms", "peak_rss_mb", "model_mb", "linear_gops", "energy_j_per_1k"):
            assert key in e
        assert e["latency_ms"]["n"] >= 1 and len(e["rounds_s"]) == 1 and e["model_mb"] > 0
        assert e["strings_per_s"] == pytest.approx(e["strings"] / e["median_s"])
    assert set(data["energy"]) == {"measurable", "reason"}
    assert data["engines"]["paper"]["strings"] == 8
    assert data["engines"]["fast-fp32"]["torch_imported"] is False  # the ORT-only path stays small
    assert data["engines"]["fast-fp32"]["cosine_to_fp32"]["mean"] > 0.999
    assert data["engines"]["torch-fp32"]["speed_vs_paper"] == pytest.approx(
        data["engines"]["torch-fp32"]["strings_per_s"] / data["engines"]["paper"]["strings_per_s"])
    agree = [r["agreement_with_faiss"] for r in data["search"] if r["method"] == "blocked"]
    assert agree == [1.0]
    md = (out / "bench.md").read_text()
    assert "| fast-fp32 |" in md and "| target |" in md and "x ours ORT INT8" in md and "INT8 path" in md
    assert {"GEMM ceiling", "quality encodes", "search"} <= set(data["phases_s"]) and "Run time" in md
    assert sum(data["phases_s"].values()) <= data["wall_s"]
    assert (Path(session_dirs["figures"]) / "bench" / "bench-engines.png").exists()
    assert res["targets"]


# ---------------------------------------------------------------------------------------------
# The sentence-transformers peer: its INT8 export recipe follows this CPU

XEON_SPR = ("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma "
            "avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni avx512_bf16 amx_int8\nbogomips\t: 4000\n"
            "processor\t: 1\nflags\t\t: fpu\n")
SKYLAKE_X = "flags\t\t: sse4_2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl\n"
ALDER_LAKE = "flags\t\t: sse4_2 avx avx2 fma avx_vnni\n"          # AVX-VNNI, no AVX-512: the avx2 recipe
OLD_X86 = "flags\t\t: sse sse2 ssse3 sse4_1 sse4_2 avx\n"
GRAVITON = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics asimddp\n"


@pytest.mark.parametrize("cpuinfo,machine,recipe", [
    (XEON_SPR, "x86_64", "avx512_vnni"), (SKYLAKE_X, "x86_64", "avx512"), (ALDER_LAKE, "x86_64", "avx2"),
    (OLD_X86, "x86_64", None), (GRAVITON, "aarch64", "arm64"), ("", "arm64", "arm64"), ("", "x86_64", None)])
def test_st_recipe_follows_the_cpu(cpuinfo, machine, recipe):
    assert engines.st_quantization_config(engines.cpu_flags(cpuinfo), machine) == recipe


def test_cpu_flags_reads_the_first_processor():
    assert "avx512_vnni" in engines.cpu_flags(XEON_SPR) and "fpu" in engines.cpu_flags(XEON_SPR)
    assert engines.cpu_flags(GRAVITON) >= {"asimd", "asimddp"} and engines.cpu_flags("model name: x") == frozenset()


def test_st_engine_uses_the_recipe_file():
    """sentence-transformers' own names: export_dynamic_quantized_onnx_model(..., quantization_config=<recipe>)
    writes onnx/model_<qint8|quint8>_<recipe>.onnx, which the peer's worker loads."""
    from lib import params
    P = params.load("tiny")
    for recipe, file in engines.ST_INT8_FILES.items():
        eng = {e.key: e for e in engines.default_engines(P, int8_formats=[], side_envs=("st-onnx",), st_recipe=recipe)}
        assert eng["st-onnx-int8"].fmt == file and recipe in file and eng["st-onnx-int8"].options["recipe"] == recipe
        assert f"({recipe})" in eng["st-onnx-int8"].label and eng["st-onnx-fp32"].fmt == "model.onnx"
    none = {e.key: e for e in engines.default_engines(P, int8_formats=[], side_envs=("st-onnx",), st_recipe=None)}
    assert none["st-onnx-int8"].fmt == "" and none["st-onnx-int8"].options["recipe"] is None
    here = engines.this_cpu_st_recipe()
    assert here[0] in (*engines.ST_INT8_FILES, None) and here[1]


def test_bench_st_int8_skipped_without_a_recipe(session_dirs, monkeypatch):
    """A CPU with no recipe: the peer's INT8 engine is reported as skipped, and no side venv is built for it."""
    run = _run_module()
    monkeypatch.setattr(engines, "this_cpu_st_recipe", lambda: (None, "no recipe for this test CPU"))
    monkeypatch.setattr(run, "side_env", lambda name: pytest.fail(f"side env {name} must not be built"))
    out = session_dirs["results"] / "bench-st-norecipe"
    run.main(["--params", "tiny", "--n-strings", "20", "--rounds", "1", "--engines", "torch-fp32,st-onnx-int8",
              "--no-quality", "--no-gemm", "--no-search", "--no-profile", "--out", str(out)])
    data = json.loads((out / "bench.json").read_text())
    assert set(data["engines"]) == {"torch-fp32"}
    assert data["notes"]["st-onnx-int8"] == "skipped: no recipe for this test CPU"


# ---------------------------------------------------------------------------------------------
# The paper's IPEX route (side venv): everything that runs without the 4 GB environment


def _ipex_worker_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("ipex_worker", ROOT / "bench" / "ipex_worker.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_engine_list_has_ipex_specs():
    from lib import params
    P = params.load("tiny")
    eng = {e.key: e for e in engines.default_engines(P, int8_formats=["onnx-int8-dynamic"])}
    assert eng["ipex-bf16"].kind == "ipex" and eng["ipex-bf16"].precision == "bf16"
    assert eng["ipex-bf16"].fmt == "bf16"
    assert eng["ipex-int8-sq"].kind == "ipex" and eng["ipex-int8-sq"].precision == "int8"
    assert eng["ipex-int8-sq"].fmt == "int8-sq" and eng["ipex-int8-sq"].quality
    assert f"alpha {P.smoothquant_alpha:g}" in eng["ipex-int8-sq"].label
    assert engines.SIDE_ENV_OF_KIND["ipex"] == "ipex"
    only_st = {e.key for e in engines.default_engines(P, int8_formats=[], side_envs=("st-onnx",))}
    assert "st-onnx-int8" in only_st and not any(k.startswith("ipex") for k in only_st)
    no_side = engines.default_engines(P, int8_formats=[], side_envs=())
    assert not any(e.kind in engines.SIDE_ENV_OF_KIND for e in no_side)
    with pytest.raises(ValueError, match="side venv 'ipex'"):
        engines.build_engine(eng["ipex-bf16"], P, None)  # never built in the main venv


def test_ipex_config(tmp_path):
    from lib import params
    from lib.engines import hub
    P = params.load("tiny")
    md = hub.resolve_model_dir(P)
    eng = {e.key: e for e in engines.default_engines(P, int8_formats=[])}
    cal = {"calibration": str(tmp_path / "c.json"), "calibration_batch_size": 16, "calibration_seq_len": 20,
           "calibration_key": "abc"}
    cfg = engines.ipex_config(eng["ipex-int8-sq"], P, md, 2, tmp_path, cal)
    assert cfg["mode"] == "int8-sq" and cfg["alpha"] == P.smoothquant_alpha and cfg["threads"] == 2
    assert cfg["calibration_seq_len"] == 20 and cfg["calibration_batch_size"] == 16
    assert cfg["token_budget"] == P.token_budget and cfg["max_length"] == P.max_length and cfg["pooling"] == "mean"
    assert Path(cfg["artifact"]).parent == tmp_path and cfg["artifact"].endswith(".pt")
    bf16 = engines.ipex_config(eng["ipex-bf16"], P, md, 2, tmp_path)
    assert "alpha" not in bf16 and bf16["artifact"] != cfg["artifact"]
    # the artifact name follows what changes the built module, not the serving threads
    assert engines.ipex_config(eng["ipex-int8-sq"], P, md, 1, tmp_path, cal)["artifact"] == cfg["artifact"]
    P2 = params.load("tiny", smoothquant_alpha=0.8)
    assert engines.ipex_config(eng["ipex-int8-sq"], P2, md, 2, tmp_path, cal)["artifact"] != cfg["artifact"]
    assert engines.ipex_config(eng["ipex-int8-sq"], P, md, 2, tmp_path, {**cal, "calibration_key": "x"}
                             )["artifact"] != cfg["artifact"]
    with pytest.raises(ValueError, match="calibration"):
        engines.ipex_config(eng["ipex-int8-sq"], P, md, 2, tmp_path)
    with pytest.raises(ValueError, match="dynamic padding"):
        engines.ipex_config(eng["ipex-bf16"], params.load("tiny", pooling="mean_unmasked_padded"), md, 2, tmp_path)


def test_ipex_calibration_is_lib_quantize_s(tmp_path, data_mirror):
    """Same sentences, batch size and padding length as lib.compress.calibration.prepare_calibration; the worker's
    fixed-shape batches hold the same ids as lib.compress.calibration.text_feeds."""
    from lib import params
    from lib.compress import calibration
    from lib.engines import hub
    P = params.load("tiny")
    md = hub.resolve_model_dir(P)
    cal = engines.ipex_calibration(P, md, tmp_path / "cal.json")
    texts = json.loads(Path(cal["calibration"]).read_text(encoding="utf-8"))
    assert texts == calibration.calibration_split(P)[0] and len(texts) == P.calibration_size
    tok = hub.load_tokenizer(md)
    assert cal["calibration_seq_len"] == calibration.calibration_seq_len(tok, texts, P.max_length)
    assert cal["calibration_batch_size"] == min(P.batch_size, len(texts))
    ref = calibration.text_feeds(tok, texts, ["input_ids", "attention_mask", "token_type_ids"],
                                 cal["calibration_batch_size"], cal["calibration_seq_len"])
    got = _ipex_worker_module().calibration_batches(tok, texts, cal["calibration_batch_size"],
                                                    cal["calibration_seq_len"])
    assert len(got) == len(ref)
    for (ids, mask, tt), r in zip(got, ref):
        np.testing.assert_array_equal(ids.numpy(), r["input_ids"])
        np.testing.assert_array_equal(mask.numpy(), r["attention_mask"])
        assert not tt.numpy().any()


def test_ipex_worker_batches_pads_and_pools_with_lib_batching():
    """The worker runs in another venv yet shares lib.engines.batching (numpy only) instead of copying it."""
    from lib.engines import batching
    w = _ipex_worker_module()
    assert w.token_budget_batches is batching.token_budget_batches
    assert w.pad_batch is batching.pad_batch and w.pool is batching.pool
    src = (ROOT / "lib" / "engines" / "batching.py").read_text()
    imports = {line.split()[1] for line in src.splitlines() if line.startswith(("import ", "from "))}
    assert imports <= {"__future__", "typing", "numpy"}, imports   # importable in any side venv


def _small_run(run, out: Path, *extra: str) -> dict:
    run.main(["--params", "tiny", "--n-strings", "20", "--rounds", "1", "--engines",
              "torch-fp32,ipex-bf16,ipex-int8-sq", "--no-quality", "--no-gemm", "--no-search",
              "--quality-targets", "200", "--quality-sources", "30", "--out", str(out), *extra])
    return json.loads((out / "bench.json").read_text())


def test_bench_ipex_flags_skip(session_dirs, monkeypatch):
    """--no-ipex and --no-side leave the IPEX engines out, and the report says so; no venv is built."""
    run = _run_module()
    monkeypatch.setattr(run, "side_env", lambda name: pytest.fail(f"side env {name} must not be built"))
    for flag in ("--no-ipex", "--no-side"):
        data = _small_run(run, session_dirs["results"] / f"bench-ipex{flag}", flag)
        assert set(data["engines"]) == {"torch-fp32"}
        assert data["notes"]["ipex-bf16"] == data["notes"]["ipex-int8-sq"] == f"skipped: {flag}"
        md = (session_dirs["results"] / f"bench-ipex{flag}" / "bench.md").read_text()
        assert f"- ipex-int8-sq: skipped: {flag}" in md


def test_bench_ipex_side_env_failure_is_skipped(session_dirs, monkeypatch):
    """A side venv that cannot be built: the run goes on, the IPEX engines say why they were skipped."""
    run = _run_module()
    monkeypatch.setattr(run, "side_env", lambda name: (None, f"side env {name} failed: no python3.11"))
    data = _small_run(run, session_dirs["results"] / "bench-ipex-noenv")
    assert set(data["engines"]) == {"torch-fp32"}
    for k in ("ipex-bf16", "ipex-int8-sq"):
        assert data["notes"][k] == "skipped: side env ipex failed: no python3.11"


def test_bench_ipex_worker_failures_are_skipped(session_dirs, monkeypatch, tmp_path):
    """The worker really runs, in this venv where IPEX is missing: the build fails (reason: the import
    error, with the log's path); a worker that fails to load its module is skipped too."""
    run = _run_module()
    monkeypatch.setattr(run, "side_env", lambda name: (Path(sys.executable), "ok"))
    monkeypatch.setattr(run, "side_python", lambda name: Path(sys.executable))
    out = session_dirs["results"] / "bench-ipex-build-fails"
    run.main(["--params", "tiny", "--n-strings", "20", "--rounds", "1", "--engines", "torch-fp32,ipex-bf16",
              "--no-quality", "--no-gemm", "--no-search", "--out", str(out)])
    data = json.loads((out / "bench.json").read_text())
    assert set(data["engines"]) == {"torch-fp32"}
    why = data["notes"]["ipex-bf16"]
    assert why.startswith("skipped: IPEX build failed:") and "intel_extension_for_pytorch" in why
    assert "log: " in why and Path(why.rsplit("log: ", 1)[1].rstrip(")")).exists()
    # an artifact that exists (so no build) but cannot be served: the serve worker fails to load it
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a TorchScript file")
    real_config = engines.ipex_config
    monkeypatch.setattr(engines, "ipex_config", lambda *a, **k: {**real_config(*a, **k), "artifact": str(junk)})
    out = session_dirs["results"] / "bench-ipex-load-fails"
    run.main(["--params", "tiny", "--n-strings", "20", "--rounds", "1", "--engines", "torch-fp32,ipex-bf16",
              "--no-quality", "--no-gemm", "--no-search", "--out", str(out)])
    data = json.loads((out / "bench.json").read_text())
    assert set(data["engines"]) == {"torch-fp32"}
    assert data["notes"]["ipex-bf16"].startswith("skipped: failed to load: engine ipex-bf16:")


def test_engine_list_has_the_openvino_engines_and_builds_them(data_mirror):
    """ov-fp32 / ov-int8 are lean engines built from the prebuilt IR (no torch import); the sentence-transformers
    OpenVINO peer runs in its own side venv over the same INT8 IR."""
    from lib import formats, params
    from lib.engines import hub
    P = params.load("tiny")
    eng = {e.key: e for e in engines.default_engines(P, int8_formats=[])}
    assert eng["ov-int8"].kind == "ov" and eng["ov-int8"].precision == "int8" and eng["ov-fp32"].precision == "fp32"
    assert eng["st-ov-int8"].kind == "st-ov" and eng["st-ov-int8"].fmt == engines.ST_OV_INT8_FILE
    assert engines.SIDE_ENV_OF_KIND["st-ov"] == "st-openvino" and "ov" in engines.LEAN_KINDS
    no_side = {e.key for e in engines.default_engines(P, int8_formats=[], side_envs=())}
    assert {"ov-fp32", "ov-int8"} <= no_side and "st-ov-int8" not in no_side
    spec = eng["ov-int8"]
    spec.options["model_dir"] = str(hub.resolve_model_dir(P))
    enc = engines.build_engine(spec, P, str(formats.artifact(P, "ov-int8")))
    ref = formats.load_encoder(P, "ov-int8")
    texts = ["skin rash", "abnormal heart"]
    assert enc.fingerprint == ref.fingerprint
    np.testing.assert_array_equal(enc.encode(texts, progress=False), ref.encode(texts, progress=False))
    assert len(enc.batch_times) == 1
    with pytest.raises(ValueError, match="side venv 'st-openvino'"):
        engines.build_engine(eng["st-ov-int8"], P, None)


def test_batch_invariance_and_the_mixed_probe():
    texts, pos = quality.mixed_probe(["a", "b", "c", "d"], ["x", "y", "z"], 3, seed=1)
    assert sorted(texts) == ["a", "b", "c", "x", "y", "z"] and [texts[i] for i in pos] == ["a", "b", "c"]
    v = np.eye(3, dtype=np.float32)
    assert quality.batch_invariance(v, v.copy()) == {"max_abs_dv": 0.0, "min_cosine": 1.0, "strings": 3}
    moved = v.copy()
    moved[2] = [0, 0.6, 0.8]
    inv = quality.batch_invariance(v, moved)
    assert inv["max_abs_dv"] == pytest.approx(0.6) and inv["min_cosine"] == pytest.approx(0.8)


def test_best_int8_includes_the_openvino_engine():
    def e(kind, sps, cos=0.995):
        return {"kind": kind, "precision": "int8", "strings_per_s": sps, "cosine_to_fp32": {"mean": cos}}
    assert quality.best_int8({"fast-onnx-int8-dynamic": e("fast", 1000), "ov-int8": e("ov", 1600),
                              "st-ov-int8": e("st-ov", 1700)}, 0.99) == "ov-int8"
    assert quality.best_int8({"fast-onnx-int8-dynamic": e("fast", 1000), "ov-int8": e("ov", 850)}, 0.99) \
        == "fast-onnx-int8-dynamic"


def test_profile_target_is_an_ort_engine():
    run = _run_module()
    specs = [engines.EngineSpec(k, k, kind, "f", "int8") for k, kind in
             (("fast-onnx-int8-dynamic", "fast"), ("fast-onnx-int8-smoothquant", "fast"), ("ov-int8", "ov"))]
    assert run.profile_target(specs, "fast-onnx-int8-smoothquant").key == "fast-onnx-int8-smoothquant"
    assert run.profile_target(specs, "ov-int8").key == "fast-onnx-int8-dynamic"
    assert run.profile_target(specs[2:], "ov-int8") is None and run.profile_target(specs, None).key == run.ORT_INT8


def test_openvino_int8_formats_are_the_ov_engines_never_an_ort_one():
    """`--int8-formats ...,ov-int8` gave a second `ov-int8` key and a `fast-ov-int8` that ORT failed to load
    (the IR is not an ONNX file): OpenVINO formats are benched by the `ov-*` engines only."""
    from lib import params
    P = params.load("tiny")
    specs = engines.default_engines(P, int8_formats=["onnx-int8-dynamic", "ov-int8"], side_envs=())
    keys = [e.key for e in specs]
    assert len(keys) == len(set(keys))
    assert "fast-onnx-int8-dynamic" in keys and "fast-ov-int8" not in keys
    assert {e.kind for e in specs if e.fmt == "ov-int8"} == {"ov"}


# --- bench/models.py: models side by side (issue 22) -----------------------------------------------------

def test_model_specs_are_checked_up_front():
    from bench import models
    from lib.errors import ParamsError
    P, fmt = models.parse_spec("tiny:onnx-fp32")
    assert (P.name, fmt) == ("tiny", "onnx-fp32")
    for bad in ("tiny", "tiny:", ":onnx-fp32"):
        with pytest.raises(ValueError, match="params-name:format"):
            models.parse_spec(bad)
    with pytest.raises((ParamsError, FileNotFoundError), match="no-such-model"):
        models.parse_spec("no-such-model:onnx-fp32")


def test_models_are_timed_in_the_same_rounds_and_written(tmp_path, monkeypatch):
    """Two encoders of the tiny model, interleaved: every row has its speed, the first is the reference, and
    the Markdown names the CPU and the command. No speed is asserted (correctness only)."""
    from bench import models
    monkeypatch.setenv("COMPENDIUM_RESULTS", str(tmp_path / "results"))  # no 04 result: speed alone
    assert models.main(["tiny:fp32-torch", "tiny:onnx-fp32", "--texts", "40", "--rounds", "2",
                        "--out", str(tmp_path / "models")]) == 0
    record = json.loads((tmp_path / "models.json").read_text())
    assert [r["format"] for r in record["rows"]] == ["fp32-torch", "onnx-fp32"]
    assert all(r["terms_per_s"] > 0 and len(r["rounds_s"]) == 2 for r in record["rows"])
    assert record["rows"][0]["speed_vs_first"] == 1.0 and record["texts"] == 40
    md = (tmp_path / "models.md").read_text()
    assert "interleaved rounds" in md and "tiny:fp32-torch" in md and "terms/s" in md
    with pytest.raises(FileNotFoundError, match="04-align.json"):
        models.main(["tiny:gate-chosen", "--out", str(tmp_path / "x")])
