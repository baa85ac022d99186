"""Benchmark plumbing (lib.bench, lib.fastencode, bench/run.py): correctness only, never speed."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from lib import bench
from lib.engines.batching import pad_batch, pool, token_budget_batches

ROOT = Path(__file__).resolve().parents[1]


def _graph_with_weights(tmp_path: Path) -> Path:
    """MatMul [K=4,N=6], Gemm transB [N=3,K=6], MatMulInteger [6,2], one activation x activation MatMul."""
    inits = [numpy_helper.from_array(np.zeros((4, 6), np.float32), "W1"),
             numpy_helper.from_array(np.zeros((3, 6), np.float32), "W2"),
             numpy_helper.from_array(np.zeros((6, 2), np.int8), "W3")]
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["h1"]),
             helper.make_node("Gemm", ["h1", "W2"], ["h2"], transB=1),
             helper.make_node("MatMulInteger", ["u", "W3"], ["h3"]),
             helper.make_node("MatMul", ["h1", "h1t"], ["h4"])]  # no initializer: not counted
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                          [helper.make_tensor_value_info("h2", TensorProto.FLOAT, [2, 3])], inits)
    path = tmp_path / "g.onnx"
    path.write_bytes(helper.make_model(g).SerializeToString())
    return path


def test_linear_macs_hand_graph(tmp_path):
    res = bench.linear_macs_per_token(_graph_with_weights(tmp_path))
    assert res["macs_per_token"] == 4 * 6 + 6 * 3 + 6 * 2
    assert sorted(map(tuple, res["shapes"])) == [(4, 6), (6, 2), (6, 3)]


def test_model_ops_hand_computed():
    ops = bench.model_ops(np.array([3, 5]), macs_per_token=10, layers=2, hidden=4)
    assert ops["tokens"] == 8
    assert ops["linear_ops"] == 2 * 10 * 8
    assert ops["attention_ops"] == 2 * (2 * 2 * 4 * (9 + 25))
    assert ops["total_ops"] == 160 + 1088


def test_tiny_bert_macs_per_token():
    """The tiny test BERT (hidden 64, FFN 256, 2 layers): 2 * (4*64*64 + 2*64*256) MACs per token."""
    from lib import params
    from lib.compress import export
    res = bench.linear_macs_per_token(export.unfused_onnx(params.load("tiny")))
    assert res["macs_per_token"] == 2 * (4 * 64 * 64 + 2 * 64 * 256)
    assert res["n_matmuls"] == 12


def test_token_budget_batches_hand_case():
    batches = token_budget_batches(np.array([5, 1, 3, 3, 10]), token_budget=9, max_rows=4)
    assert [b.tolist() for b in batches] == [[1, 2, 3], [0], [4]]
    batches = token_budget_batches(np.array([2] * 10), token_budget=100, max_rows=4)
    assert [len(b) for b in batches] == [4, 4, 2]


def test_pad_and_pool():
    ids, mask = pad_batch([[1, 2, 3], [4]], pad_id=0)
    assert ids.tolist() == [[1, 2, 3], [4, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    hidden = np.zeros((2, 3, 2), np.float32)
    hidden[0] = [[1, 0], [3, 0], [2, 0]]
    hidden[1] = [[0, 2], [9, 9], [9, 9]]
    v = pool(hidden, mask, "mean")
    np.testing.assert_allclose(v, [[1, 0], [0, 1]], atol=1e-6)  # padding ignored, then normalised
    v = pool(hidden, mask, "mean_unmasked_padded")
    assert v[1, 0] > 0.5  # the paper's unmasked mean lets the padding in


def test_latency_and_cosine_stats():
    s = bench.latency_stats([0.001, 0.002, 0.003, 0.010])
    assert s["avg"] == pytest.approx(4.0) and s["p50"] == pytest.approx(2.5) and s["max"] == pytest.approx(10)
    a = np.eye(3, dtype=np.float32)
    b = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 1]], np.float32)
    c = bench.mean_cosine(a, b)
    assert c["min"] == pytest.approx(1 / np.sqrt(2)) and c["mean"] == pytest.approx((2 + 1 / np.sqrt(2)) / 3)


def test_acc_at_1_hand_case():
    t = np.array([[1, 0], [0, 1], [0.7071, 0.7071]], np.float32)
    q = np.array([[0.9, 0.1], [0.1, 0.9]], np.float32)
    acc = bench.acc_at_1(q, t, ["HP:1", "HP:2", "HP:3"], [("HP:1",), ("HP:3",)])
    assert acc == 0.5


def test_hits_and_not_worse():
    t = np.array([[1, 0], [0, 1], [0.7071, 0.7071]], np.float32)
    q = np.array([[0.9, 0.1], [0.1, 0.9]], np.float32)
    hits = bench.hits_at_1(q, t, ["HP:1", "HP:2", "HP:3"], [("HP:1",), ("HP:3",)])
    assert hits.tolist() == [True, False]
    ours = np.array([1] * 50 + [0] * 50, bool)
    peer = ours.copy()
    peer[50:53] = True                       # the peer is right on 3 more terms: 3 discordant, p = 0.25
    t = bench.not_worse(ours, peer)
    assert not t["higher"] and t["p"] == pytest.approx(0.25) and t["not_worse"]
    peer[50:60] = True                       # 10 more: p = 0.002, ours is worse
    t = bench.not_worse(ours, peer)
    assert t["only_b"] == 10 and t["p"] < 0.01 and not t["not_worse"]


def test_best_int8_is_the_fastest_gated_lean_engine():
    def e(kind, sps, cos=0.995, not_worse=True, precision="int8"):
        return {"kind": kind, "precision": precision, "strings_per_s": sps, "cosine_to_fp32": {"mean": cos},
                "acc1_vs_st_int8": {"not_worse": not_worse}}
    engines = {"onnx-int8-dynamic": e("lib", 990), "fast-dyn": e("fast", 950), "fast-sq": e("fast", 700),
               "fast-fp32": e("fast", 2000, precision="fp32"), "fast-bad-cos": e("fast", 1500, cos=0.95),
               "fast-worse": e("fast", 1400, not_worse=False), "ipex-int8-sq": e("ipex", 1500)}
    assert bench.best_int8(engines, 0.99) == "fast-dyn"
    assert bench.best_int8({"x": e("fast", 1, cos=0.5)}, 0.99) is None


def test_ort_op_profile_tiny(tmp_path):
    """ORT's profiler on the fast engine: kernel time per op type, inside the pass's wall time."""
    from lib import params
    from lib.compress import export
    from lib.engines import hub

    P = params.load("tiny", threads=1)
    texts = ["abnormal heart", "pain", "small hand and foot with long finger", "fever"] * 10
    spec = bench.EngineSpec("fast-fp32", "fast", "fast", "onnx-fp32", "fp32",
                            options={"model_dir": str(hub.resolve_model_dir(P)), "token_budget": 32})
    p = bench.ort_op_profile(spec, P, str(export.fused_onnx(P)), texts, tmp_path)
    assert p["texts"] == 40 and p["ort_calls"] >= 2
    assert 0 < p["kernel_s"] <= p["session_run_s"] <= p["wall_s"]
    assert p["gemm_op_s"] > 0 and set(p["by_op_s"]) & set(bench.GEMM_OPS)
    assert not list(tmp_path.glob("ort-profile*.json"))      # the trace is summarised, then removed
    md = "\n".join(bench.profile_markdown({"profile": {**p, "engine": "fast-fp32"}}))
    assert "Where the time of `fast-fp32` goes" in md and "| outside ORT" in md


def test_sklearn_memory_prediction():
    assert bench.sklearn_bytes(2, 10, 3) == 4 * 12 * 3 + 4 * 20 + 8 * 20
    # the largest case: ~24 GiB of working set before the targets themselves (1.5 GB)
    assert bench.sklearn_bytes(2000, 1_000_000, 384) > 23 * bench.GB


def test_random_unit_vectors():
    x = bench.random_unit_vectors(1000, 16, seed=3, chunk=300)
    assert x.dtype == np.float32 and x.shape == (1000, 16)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(x, bench.random_unit_vectors(1000, 16, seed=3, chunk=300))


@pytest.mark.parametrize("method", ["sklearn", "faiss", "blocked", "blocked-ort"])
def test_exact_topk_equals_brute_force(method):
    t = bench.random_unit_vectors(3000, 32, seed=0)
    q = bench.random_unit_vectors(40, 32, seed=1)
    ref = np.argsort(-(q @ t.T), axis=1)[:, :10]
    if method == "sklearn":
        _, idx = bench.search_sklearn(q, t, 10)
    elif method == "faiss":
        _, idx = bench.search_faiss(q, t, 10, threads=1)
    elif method == "blocked":
        _, idx = bench.search_blocked(q, t, 10, block=700)
    else:
        _, idx = bench.search_blocked_ort(q, t, 10, block=700, threads=1)
    np.testing.assert_array_equal(np.asarray(idx), ref)
    assert bench.topk_agreement(np.asarray(idx), ref) == 1.0


def test_int8_rescore_matches_exact_mostly():
    t = bench.random_unit_vectors(5000, 64, seed=0)
    q = bench.random_unit_vectors(50, 64, seed=1)
    ref = np.argsort(-(q @ t.T), axis=1)[:, :10]
    scores, idx = bench.search_int8_rescore(q, t, 10, candidates=50, block=1200, threads=1)
    assert bench.topk_agreement(idx, ref) >= 0.95
    np.testing.assert_allclose(scores, np.take_along_axis(q @ t.T, idx, 1), atol=1e-5)  # FP32 re-scored


def test_search_child_schema():
    rec = bench.search_child("blocked", 2000, 16, 20, 5, 512, 1, 0)
    for key in ("seconds", "gflops", "peak_rss_mb", "peak_extra_mb", "rss_inputs_mb"):
        assert key in rec
    assert rec["gflops"] > 0


def test_search_child_reads_saved_targets(tmp_path):
    """Targets saved once and read by each method's child give the same top-k as generating them."""
    saved = tmp_path / "t.npy"
    np.save(saved, bench.random_unit_vectors(2000, 16, 0))
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    bench.search_child("blocked", 2000, 16, 20, 5, 512, 1, 0, out_npy=str(a))
    bench.search_child("blocked", 2000, 16, 20, 5, 512, 1, 0, out_npy=str(b), targets_npy=str(saved))
    np.testing.assert_array_equal(np.load(a), np.load(b))
    with pytest.raises(ValueError, match=r"t.npy: targets \(2000, 16\)"):
        bench.search_child("blocked", 1000, 16, 20, 5, 512, 1, 0, targets_npy=str(saved))


def test_gemm_ceiling_schema():
    g = bench.gemm_ceiling([(32, 64), (32, 64), (64, 32)], rows=(32,), threads=1, backends=("ort", "numpy"))
    assert {r["dtype"] for r in g["runs"]} == {"fp32", "int8"}
    assert g["ceiling"]["int8"]["backend"] == "onnxruntime-mlas"
    assert [32, 64, 2] in g["shapes"]
    assert all(r["ops_per_s"] > 0 for r in g["runs"])


def test_fast_encoder_matches_lib_encoder():
    """Same vectors as lib.encode's ONNX FP32 engine (different batching, same maths)."""
    from lib import formats, params
    from lib.compress import export
    from lib.engines import hub
    from lib.engines.ort import load_fast_encoder

    P = params.load("tiny")
    texts = ["abnormal heart", "pain", "small hand and foot with long finger", "fever", "x" * 40]
    ref = formats.load_encoder(P, "onnx-fp32").encode(texts, progress=False)
    fast = load_fast_encoder(P, export.fused_onnx(P), hub.resolve_model_dir(P), token_budget=16, max_rows=2)
    got = fast.encode(texts)
    assert len(fast.batch_times) >= 3
    np.testing.assert_allclose((ref * got).sum(1), 1.0, atol=1e-4)


def test_bench_quality_sample_keeps_every_gold_target_and_counts_the_rest():
    t = bench.bench_texts(50, seed=0, max_targets=500, max_sources=40)
    assert len(t.timing) == 50 and len(t.sources) == 40 == len(t.gold)
    codes = set(t.target_codes)
    assert all(set(g) <= codes for g in t.gold)          # Acc@1 stays defined for every sampled term
    s = t.info["quality_sample"]
    assert s["targets"] == len(t.targets) and s["queries_left_out"] > 0 and s["targets_left_out"] > 0
    assert len(t.targets) == max(500, s["gold_targets"])


def test_bench_run_smoke_tiny(session_dirs):
    """The whole script on tiny with small sizes: JSON schema, Markdown table and figures written."""
    sys.path.insert(0, str(ROOT / "bench"))
    sys.path.insert(0, str(ROOT))
    import importlib
    run = importlib.import_module("bench.run") if (ROOT / "bench" / "__init__.py").exists() else \
        importlib.import_module("run")
    out = session_dirs["results"] / "bench-smoke"
    res = run.main(["--params", "tiny", "--n-strings", "60", "--rounds", "1", "--paper-strings", "8",
                    "--engines", "paper,torch-fp32,fast-fp32", "--no-side",
                    "--quality-targets", "200", "--quality-sources", "30", "--gemm-rows", "32",
                    "--search-n", "1000", "--search-dims", "16", "--queries", "20",
                    "--search-methods", "sklearn,blocked,faiss", "--out", str(out)])
    data = json.loads((out / "bench.json").read_text())
    assert set(data["engines"]) == {"paper", "torch-fp32", "fast-fp32"}
    for e in data["engines"].values():
        for key in ("strings_per_s", "latency_ms", "peak_rss_mb", "model_mb", "linear_gops"):
            assert key in e
    assert data["engines"]["paper"]["strings"] == 8
    assert data["engines"]["fast-fp32"]["torch_imported"] is False  # the ORT-only path stays small
    assert data["engines"]["fast-fp32"]["cosine_to_fp32"]["mean"] > 0.999
    assert data["engines"]["torch-fp32"]["speed_vs_paper"] == pytest.approx(
        data["engines"]["torch-fp32"]["strings_per_s"] / data["engines"]["paper"]["strings_per_s"])
    agree = [r["agreement_with_faiss"] for r in data["search"] if r["method"] == "blocked"]
    assert agree == [1.0]
    md = (out / "bench.md").read_text()
    assert "| fast-fp32 |" in md and "| target |" in md
    assert {"GEMM ceiling", "quality encodes", "search"} <= set(data["phases_s"]) and "Run time" in md
    assert sum(data["phases_s"].values()) <= data["wall_s"]
    assert (Path(session_dirs["figures"]) / "bench" / "bench-engines.png").exists()
    assert res["targets"]


# ---------------------------------------------------------------------------------------------
# The paper's IPEX route (side venv): everything that runs without the 4 GB environment

MIRROR = ROOT.parent / "shared" / "data"


def _run_module():
    sys.path.insert(0, str(ROOT / "bench"))
    sys.path.insert(0, str(ROOT))
    import importlib
    return importlib.import_module("bench.run") if (ROOT / "bench" / "__init__.py").exists() else \
        importlib.import_module("run")


def _ipex_worker_module():
    import importlib.util
    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("ipex_worker", ROOT / "bench" / "ipex_worker.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_engine_list_has_ipex_specs():
    from lib import params
    P = params.load("tiny")
    eng = {e.key: e for e in bench.default_engines(P, int8_formats=["onnx-int8-dynamic"])}
    assert eng["ipex-bf16"].kind == "ipex" and eng["ipex-bf16"].precision == "bf16"
    assert eng["ipex-bf16"].fmt == "bf16"
    assert eng["ipex-int8-sq"].kind == "ipex" and eng["ipex-int8-sq"].precision == "int8"
    assert eng["ipex-int8-sq"].fmt == "int8-sq" and eng["ipex-int8-sq"].quality
    assert f"alpha {P.smoothquant_alpha:g}" in eng["ipex-int8-sq"].label
    assert bench.SIDE_ENV_OF_KIND["ipex"] == "ipex"
    only_st = {e.key for e in bench.default_engines(P, int8_formats=[], side_envs=("st-onnx",))}
    assert "st-onnx-int8" in only_st and not any(k.startswith("ipex") for k in only_st)
    assert not any(e.kind in bench.SIDE_ENV_OF_KIND for e in bench.default_engines(P, int8_formats=[], side_envs=()))
    with pytest.raises(ValueError, match="side venv 'ipex'"):
        bench.build_engine(eng["ipex-bf16"], P, None)  # never built in the main venv


def test_ipex_config(tmp_path):
    from lib import params
    from lib.engines import hub
    P = params.load("tiny")
    md = hub.resolve_model_dir(P)
    eng = {e.key: e for e in bench.default_engines(P, int8_formats=[])}
    cal = {"calibration": str(tmp_path / "c.json"), "calibration_batch_size": 16, "calibration_seq_len": 20,
           "calibration_key": "abc"}
    cfg = bench.ipex_config(eng["ipex-int8-sq"], P, md, 2, tmp_path, cal)
    assert cfg["mode"] == "int8-sq" and cfg["alpha"] == P.smoothquant_alpha and cfg["threads"] == 2
    assert cfg["calibration_seq_len"] == 20 and cfg["calibration_batch_size"] == 16
    assert cfg["token_budget"] == P.token_budget and cfg["max_length"] == P.max_length and cfg["pooling"] == "mean"
    assert Path(cfg["artifact"]).parent == tmp_path and cfg["artifact"].endswith(".pt")
    bf16 = bench.ipex_config(eng["ipex-bf16"], P, md, 2, tmp_path)
    assert "alpha" not in bf16 and bf16["artifact"] != cfg["artifact"]
    # the artifact name follows what changes the built module, not the serving threads
    assert bench.ipex_config(eng["ipex-int8-sq"], P, md, 1, tmp_path, cal)["artifact"] == cfg["artifact"]
    P2 = params.load("tiny", smoothquant_alpha=0.8)
    assert bench.ipex_config(eng["ipex-int8-sq"], P2, md, 2, tmp_path, cal)["artifact"] != cfg["artifact"]
    assert bench.ipex_config(eng["ipex-int8-sq"], P, md, 2, tmp_path, {**cal, "calibration_key": "x"}
                             )["artifact"] != cfg["artifact"]
    with pytest.raises(ValueError, match="calibration"):
        bench.ipex_config(eng["ipex-int8-sq"], P, md, 2, tmp_path)
    with pytest.raises(ValueError, match="dynamic padding"):
        bench.ipex_config(eng["ipex-bf16"], params.load("tiny", pooling="mean_unmasked_padded"), md, 2, tmp_path)


def test_ipex_calibration_is_lib_quantize_s(tmp_path, monkeypatch):
    """Same sentences, batch size and padding length as lib.quantize.prepare_calibration; the worker's
    fixed-shape batches hold the same ids as lib.quantize.fixed_shape_batches."""
    from lib import params
    from lib.compress import calibration
    from lib.engines import hub
    if not os.environ.get("COMPENDIUM_DATA_MIRROR") and (MIRROR / "SHA256SUMS").exists():
        monkeypatch.setenv("COMPENDIUM_DATA_MIRROR", str(MIRROR))
    P = params.load("tiny")
    md = hub.resolve_model_dir(P)
    cal = bench.ipex_calibration(P, md, tmp_path / "cal.json")
    texts = json.loads(Path(cal["calibration"]).read_text(encoding="utf-8"))
    assert texts == calibration.calibration_split(P)[0] and len(texts) == P.calibration_size
    tok = hub.load_tokenizer(md)
    assert cal["calibration_seq_len"] == calibration.calibration_seq_len(tok, texts, P.max_length)
    assert cal["calibration_batch_size"] == min(P.batch_size, len(texts))
    ref = calibration.fixed_shape_batches(tok, texts, ["input_ids", "attention_mask", "token_type_ids"],
                                       cal["calibration_batch_size"], cal["calibration_seq_len"])
    got = _ipex_worker_module().calibration_batches(tok, texts, cal["calibration_batch_size"],
                                                    cal["calibration_seq_len"])
    assert len(got) == len(ref)
    for (ids, mask, tt), r in zip(got, ref):
        np.testing.assert_array_equal(ids.numpy(), r["input_ids"])
        np.testing.assert_array_equal(mask.numpy(), r["attention_mask"])
        assert not tt.numpy().any()


def test_ipex_worker_batches_pads_and_pools_with_lib_batching():
    """The worker runs in another venv yet shares lib.batching (numpy only) instead of copying it."""
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
    real_config = bench.ipex_config
    monkeypatch.setattr(bench, "ipex_config", lambda *a, **k: {**real_config(*a, **k), "artifact": str(junk)})
    out = session_dirs["results"] / "bench-ipex-load-fails"
    run.main(["--params", "tiny", "--n-strings", "20", "--rounds", "1", "--engines", "torch-fp32,ipex-bf16",
              "--no-quality", "--no-gemm", "--no-search", "--out", str(out)])
    data = json.loads((out / "bench.json").read_text())
    assert set(data["engines"]) == {"torch-fp32"}
    assert data["notes"]["ipex-bf16"].startswith("skipped: failed to load: engine ipex-bf16:")
