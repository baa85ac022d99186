"""Olive workflow (lib.compress.olive.search), its 0.13 shims (lib.compress.olive.compat), notebook 02."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lib import params
from lib.compress.olive import compat as olive_compat
from lib.compress.olive import config as olive_config
from lib.compress.olive import metric as olive_metric
from lib.compress.olive import search as olive_search

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _mirror(data_mirror):
    """The STS calibration split comes from the public mirror (tests/conftest.py)."""


@pytest.fixture
def fake_model_dir(tmp_path) -> Path:
    (tmp_path / "config.json").write_text(json.dumps({"num_attention_heads": 4, "hidden_size": 64}))
    return tmp_path


def _build(P, model_dir: Path, tmp_path: Path) -> dict:
    return olive_config.olive_config(P, model_dir, tmp_path / "eval.npz", tmp_path / "work",
                                 ["input_ids", "attention_mask", "token_type_ids"])


def _searched(cfg: dict) -> dict[str, list]:
    return {k: v["support"] for k, v in cfg.items()
            if isinstance(v, dict) and v.get("olive_parameter_type") == "SearchParameter"}


# ---------------------------------------------------------------------------------------------
# Building the Olive config from params


def test_cpu_config_from_params(fake_model_dir, tmp_path):
    P = params.load("tiny", opset=14, olive_max_samples=5, seed=7, threads=2)
    cfg = _build(P, fake_model_dir, tmp_path)
    assert list(cfg["passes"]) == ["conversion", "transformers_optimization", "quantization",
                                   "session_params_tuning"]
    conv, opt, quant, tune = (cfg["passes"][k] for k in cfg["passes"])
    assert (conv["type"], conv["target_opset"], conv["use_dynamo_exporter"]) == ("OnnxConversion", 14, False)
    assert (opt["num_heads"], opt["hidden_size"], opt["use_gpu"]) == (4, 64, False)
    assert quant["type"] == "OnnxDynamicQuantization" and quant["quant_preprocess"] is True
    assert _searched(quant) == {"per_channel": [True, False], "reduce_range": [False, True],
                                "op_types_to_quantize": [["MatMul", "Attention"], ["MatMul"]]}
    assert _searched(tune) == {"execution_mode_list": [0, 1], "opt_level_list": [1, 99],
                               "intra_thread_num_list": [1, 2]}
    # searchable Olive parameters we do not search are pinned (else Olive searches them silently)
    assert quant["precision"] == "int8"
    assert tune["inter_thread_num_list"] is None and tune["provider_options_list"] == {}
    assert "mixed_precision" not in cfg["passes"]
    s = cfg["engine"]["search_strategy"]
    assert s == {"execution_order": "joint", "sampler": "tpe",
                 "sampler_config": {"max_samples": 5, "seed": 7}}
    assert cfg["systems"]["local_system"]["accelerators"] == [
        {"device": "cpu", "execution_providers": ["CPUExecutionProvider"]}]
    assert cfg["input_model"]["type"] == "PyTorchModel"
    assert cfg["input_model"]["model_loader"] == "olive_model_loader"
    metric = cfg["evaluators"]["ours"]["metrics"][0]
    assert metric["type"] == "custom" and Path(metric["user_config"]["user_script"]) == Path(olive_metric.__file__)
    assert callable(getattr(olive_metric, metric["user_config"]["evaluate_func"]))
    goals = {s["name"]: s.get("goal") for s in metric["sub_types"]}
    assert goals["mean_cosine"] == {"type": "threshold", "value": P.gate_min_cosine}
    assert goals["spearman"] == {"type": "max-degradation", "value": P.gate_max_spearman_drop}
    assert goals["latency_ms"] == {"type": "percent-min-improvement", "value": 20.0}
    assert str(tmp_path / "work") in cfg["engine"]["cache_dir"]
    json.dumps(cfg)  # plain JSON


def test_config_is_valid_for_olive(fake_model_dir, tmp_path):
    """Olive's own schema accepts the generated configs (CPU and CUDA)."""
    from olive.workflows.run.config import RunConfig

    olive_compat.apply()
    for eps in (["CPUExecutionProvider"], ["CUDAExecutionProvider", "CPUExecutionProvider"]):
        rc = RunConfig.parse_file_or_obj(_build(params.load("tiny", execution_providers=eps),
                                                fake_model_dir, tmp_path))
        assert rc.engine.evaluator.metrics[0].user_config.evaluate_func == "olive_evaluate"


def test_cuda_config_uses_fp16_not_int8(fake_model_dir, tmp_path):
    P = params.load("tiny", execution_providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    cfg = _build(P, fake_model_dir, tmp_path)
    assert list(cfg["passes"]) == ["conversion", "transformers_optimization", "mixed_precision",
                                   "session_params_tuning"]
    assert cfg["passes"]["mixed_precision"]["type"] == "OrtMixedPrecision"
    assert cfg["passes"]["transformers_optimization"]["use_gpu"] is True
    tune = cfg["passes"]["session_params_tuning"]
    assert tune["providers_list"] == "CUDAExecutionProvider" and tune["enable_cuda_graph"] is False
    assert "intra_thread_num_list" not in _searched(tune)
    assert cfg["systems"]["local_system"]["accelerators"][0]["device"] == "gpu"


def test_tensorrt_config_searches_trt_fp16(fake_model_dir, tmp_path):
    P = params.load("tiny", execution_providers=["TensorrtExecutionProvider", "CUDAExecutionProvider"])
    cfg = _build(P, fake_model_dir, tmp_path)
    assert "mixed_precision" not in cfg["passes"] and "quantization" not in cfg["passes"]
    assert _searched(cfg["passes"]["session_params_tuning"])["trt_fp16_enable"] == [False, True]


# ---------------------------------------------------------------------------------------------
# Small pure functions (hand-computed cases)


def test_pareto_flags_hand_computed():
    df = pd.DataFrame({"mean_cosine": [0.99, 0.98, 0.99, 0.97, np.nan],
                       "spearman": [0.80, 0.80, 0.81, 0.79, 0.9],
                       "latency_ms": [10.0, 8.0, 12.0, 9.0, 1.0]})
    # row 3 is dominated by row 1 (worse cosine, Spearman, slower); NaN rows are never on it
    assert olive_search.pareto_flags(df).tolist() == [True, True, True, False, False]


def test_goal_flags_and_choice():
    P = params.load("tiny", gate_min_cosine=0.99, gate_max_spearman_drop=0.01)
    base = {"spearman": 0.80, "latency_ms": 100.0}
    df = pd.DataFrame({"mean_cosine": [0.995, 0.989, 0.999, 0.99995],
                       "spearman": [0.795, 0.80, 0.785, 0.79995],
                       "latency_ms": [70.0, 50.0, 60.0, 80.0], "pruned": [False] * 4})
    g = olive_search.goal_flags(df, base, P)
    assert g["goal_cosine"].tolist() == [True, False, True, True]
    assert g["goal_spearman"].tolist() == [True, True, False, True]   # 0.785 < 0.80 - 0.01
    assert g["goal_latency"].tolist() == [True, True, True, True]     # <= 80 ms
    assert g["meets_literal_goal"].tolist() == [False, False, False, True]
    df = pd.concat([df, g], axis=1)
    assert olive_search.choose(df) == 0           # fastest of the rows meeting every goal
    df.loc[[0, 3], "meets_goals"] = False
    assert olive_search.choose(df) is None        # never a failing model


def test_exactly_one_candidate_meets_the_goals_and_latency_goal_is_an_argument(fake_model_dir, tmp_path):
    """Hand-built frame: only row 1 meets cosine, Spearman and the 20% latency goal, so it is chosen
    although row 3 is faster (fails cosine) and row 2 better (too slow). Without the latency goal
    (``speedup_goal_percent=None``, what the end-to-end test uses) row 2 qualifies too, and choice is
    still the fastest qualifying row; the Olive config then has no latency goal and another hash."""
    P = params.load("tiny", gate_min_cosine=0.99, gate_max_spearman_drop=0.01)
    base = {"spearman": 0.80, "latency_ms": 100.0}
    df = pd.DataFrame({"mean_cosine": [0.999, 0.995, 0.999, 0.95],
                       "spearman": [0.70, 0.795, 0.80, 0.80],
                       "latency_ms": [50.0, 80.0, 90.0, 40.0], "pruned": [False] * 4})
    g = olive_search.goal_flags(df, base, P)
    assert g["meets_goals"].tolist() == [False, True, False, False]
    assert olive_search.choose(pd.concat([df, g], axis=1)) == 1
    free = olive_search.goal_flags(df, base, P, speedup_goal_percent=None)
    assert free["goal_latency"].all() and free["meets_goals"].tolist() == [False, True, True, False]
    assert olive_search.choose(pd.concat([df, free], axis=1)) == 1         # 80 ms beats 90 ms
    assert "latency_ms" not in olive_config.quality_goals(P, speedup_goal_percent=None)
    cfg = olive_config.olive_config(P, fake_model_dir, tmp_path / "e.npz", tmp_path / "w", speedup_goal_percent=None)
    subs = {s["name"]: s for s in cfg["evaluators"]["ours"]["metrics"][0]["sub_types"]}
    assert "goal" not in subs["latency_ms"] and subs["mean_cosine"]["goal"]["value"] == 0.99
    assert olive_config.config_hash(cfg) != olive_config.config_hash(_build(P, fake_model_dir, tmp_path))


def test_evaluate_forward_uses_the_one_latency_harness(tmp_path):
    """Our metric on a fake model: one warm-up batch, then ``repeats`` passes of lib.perf.timing's harness;
    vectors back in input order (cosine 1 to the reference), Olive's latency sub-types filled."""
    ids = {0: 0, 1: 1, 2: 0, 3: 2}                      # sentence -> token id; pairs (0, 2) and (1, 3)
    onehot = np.eye(4, dtype=np.float32)
    batches = [[2, 0], [1, 3]]
    arrays = {"reference": np.stack([onehot[ids[i]] for i in range(4)]), "gold": np.array([5.0, 0.0]),
              "pooling": np.array("mean"), "order": np.array([2, 0, 1, 3]), "n_batches": np.array(2)}
    for b, rows in enumerate(batches):
        arrays[f"b{b}/input_ids"] = np.array([[ids[i]] * 3 for i in rows], dtype=np.int64)
        arrays[f"b{b}/attention_mask"] = np.ones((2, 3), dtype=np.int64)
    np.savez(tmp_path / "e.npz", **arrays)
    calls = []

    def forward(enc):
        calls.append(1)
        return onehot[enc["input_ids"]]                 # (rows, tokens, 4): the token's one-hot state
    m = olive_metric.evaluate_forward(forward, tmp_path / "e.npz", repeats=3)
    assert len(calls) == 1 + 3 * 2
    assert m["mean_cosine"] == pytest.approx(1.0) and m["spearman"] == pytest.approx(1.0)
    assert m["latency_min_ms"] <= m["latency_ms"] <= m["latency_max_ms"] and m["sentences_per_s"] > 0


def test_score_embeddings_hand_computed():
    ref = np.eye(4, dtype=np.float32)                   # pairs (0, 2) and (1, 3)
    vec = ref.copy()
    vec[2] = [0.6, 0.0, 0.8, 0.0]                      # pair-0 cosine 0.6; its cosine to ref 0.8
    s = olive_metric.score_embeddings(vec, ref, n_pairs=2, gold=np.array([5.0, 0.0]))
    assert s["mean_cosine"] == pytest.approx((1 + 1 + 0.8 + 1) / 4)
    assert s["min_cosine"] == pytest.approx(0.8)
    assert s["spearman"] == pytest.approx(1.0)          # cosines (0.6, 0.0) rank like gold (5, 0)


def test_session_options():
    import onnxruntime as ort

    so = olive_metric.session_options_from({"session_options": {"execution_mode": 1,
                                                            "graph_optimization_level": 99,
                                                            "intra_op_num_threads": 2}})
    assert so == {"execution_mode": ort.ExecutionMode.ORT_PARALLEL,
                  "graph_optimization_level": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                  "intra_op_num_threads": 2}


def test_olive_candidates_run_in_our_session_with_their_tuned_settings(monkeypatch):
    """A candidate is timed in a session built like every ORT engine's (memory pattern off), its tuned
    settings on top, on the providers they name (Olive's forms: names or (name, options) pairs)."""
    from olive.model import ONNXModelHandler

    from lib.compress import export
    from lib.engines import ort as ort_engine

    P = params.load("tiny")
    path = export.fused_onnx(P)
    opened = {}
    real_open = ort_engine.open_session

    def spy(*args):
        opened["args"] = args
        opened["session"] = real_open(*args)
        return opened["session"]
    monkeypatch.setattr(olive_metric, "open_session", spy)  # the name Olive's module calls
    model = ONNXModelHandler(model_path=str(path), inference_settings={
        "execution_provider": [("CPUExecutionProvider", {})],
        "session_options": {"intra_op_num_threads": 1, "execution_mode": 0}})
    forward = olive_metric._forward_for(model, "cpu", ["NoSuchExecutionProvider"], threads=2)
    feeds = {"input_ids": np.array([[2, 5, 3]]), "attention_mask": np.ones((1, 3), dtype=np.int64)}
    assert forward(feeds).shape == (1, 3, 64)
    assert opened["args"][1:3] == (2, ["CPUExecutionProvider"])
    so = opened["session"].get_session_options()
    assert so.intra_op_num_threads == 1 and not so.enable_mem_pattern
    assert olive_metric._provider_names("CUDAExecutionProvider") == ["CUDAExecutionProvider"]


# ---------------------------------------------------------------------------------------------
# Olive 0.13 shims: still needed (the bug is still there unpatched) and still working

_REPRO = r"""
import json, os, sys
os.environ["OLIVE_DISABLE_TELEMETRY"] = "1"
from olive.engine.footprint import FootprintNode
from olive.evaluator.metric import Metric
from olive.workflows.run.config import RunEngineConfig
from lib.compress.olive import compat as olive_compat

METRIC = {"name": "q", "type": "custom",
          "sub_types": [{"name": "s", "priority": 1, "higher_is_better": True}],
          "user_config": {"user_script": sys.argv[1], "evaluate_func": "olive_evaluate"}}

def alias():  # bug 1
    FootprintNode(model_id="m", model_config={"type": "A"}).update(model_config={"type": "B"})

def backend():  # bug 2
    Metric(**METRIC).to_json()

def sub_metric():  # bug 3
    Metric(**METRIC).sub_types[0].model_dump()

def user_config():  # bug 4
    eng = RunEngineConfig(evaluator={"metrics": [METRIC]}).create_engine(None, "w")
    assert eng.evaluator_config.metrics[0].user_config.evaluate_func == "olive_evaluate", "lost"

CHECKS = {"footprint_model_config_alias": [alias], "metric_serializers_none": [backend, sub_metric],
          "config_dump_as_any": [user_config]}

def run(checks):
    out = []
    for fn in checks:
        try:
            fn()
            out.append("ok")
        except Exception as e:
            out.append(f"{type(e).__name__}: {e}")
    return out

res = {"unpatched": {}, "patched": {}}
# each bug before its own shim, after the earlier ones (bug 2 would otherwise hide bug 4)
for name in olive_compat.SHIMS:  # shims applied in order, so bug 4 is seen past bug 2
    res["unpatched"][name] = run(CHECKS[name])
    olive_compat.apply([name])
for name in olive_compat.SHIMS:
    res["patched"][name] = run(CHECKS[name])
print(json.dumps(res))
"""


@pytest.fixture(scope="module")
def shim_checks(tmp_path_factory) -> dict:
    """Each bug reproduced without its shim, then checked with it, in a fresh interpreter (the shims
    patch Olive's classes process-wide)."""
    env = {**os.environ, "OLIVE_DISABLE_TELEMETRY": "1"}
    proc = subprocess.run([sys.executable, "-c", _REPRO, olive_metric.__file__],
                          cwd=tmp_path_factory.mktemp("shims"), capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not olive_compat.needs_shims(), reason="shims target olive-ai 0.13.* only")
def test_shims_still_needed(shim_checks):
    """Fails when Olive fixes a bug upstream: then delete that shim from lib/olive_compat.py."""
    res = shim_checks["unpatched"]
    fixed = [k for k, v in res.items() if "ok" in v]
    assert not fixed, f"olive-ai {olive_compat.olive_version()} fixed {fixed}: remove those shims"
    assert "has no field" in res["footprint_model_config_alias"][0]
    assert all("model_dump" in r for r in res["metric_serializers_none"])
    assert "lost" in res["config_dump_as_any"][0]


@pytest.mark.skipif(not olive_compat.needs_shims(), reason="shims target olive-ai 0.13.* only")
def test_shims_work(shim_checks):
    assert all(r == ["ok"] * len(r) for r in shim_checks["patched"].values()), shim_checks["patched"]
    assert set(shim_checks["patched"]) == set(olive_compat.SHIMS)


def test_shims_are_version_guarded():
    assert olive_compat.needs_shims("0.13.0") and olive_compat.needs_shims("0.13.2")
    assert not olive_compat.needs_shims("0.14.0") and not olive_compat.needs_shims("0.12.9")


# ---------------------------------------------------------------------------------------------
# End to end on the tiny model (2 TPE samples), then the notebook (reuses the cached search)


# Known to choose: every candidate is asserted to have mean cosine > 0.9 (= the cosine goal here), the
# Spearman goal holds for any Spearman in [-1, 1] (drop <= 2), and there is no latency goal (the tiny
# model runs a batch in ~2-4 ms, where "20% faster than PyTorch" on a shared CPU is noise: with the
# default goals one of the two candidates passed and one failed on latency alone). So every candidate
# meets every goal by construction, and `chosen is None` can only mean a broken search or choice.
TINY_SEARCH = {"gate_min_cosine": 0.9, "gate_max_spearman_drop": 2.0}


def test_tiny_search_end_to_end():
    import onnxruntime as ort

    P = params.load("tiny", **TINY_SEARCH)
    summary = olive_search.search(P, speedup_goal_percent=None)
    assert len(summary["candidates"]) >= 1
    assert summary["baseline"]["mean_cosine"] == pytest.approx(1.0, abs=1e-5)
    for c in summary["candidates"]:
        assert {"mean_cosine", "spearman", "latency_ms", "meets_goals", "pareto"} <= set(c)
        assert 0.9 < c["mean_cosine"] <= 1.0 + 1e-6
    assert summary["chosen"] is not None, "no candidate chosen although every one meets the goals"
    assert summary["chosen"]["meets_goals"] and not summary["chosen"]["pruned"]
    path = olive_search.olive_best(P, speedup_goal_percent=None)
    assert path.exists() and path == Path(summary["chosen_model"])
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert {i.name for i in sess.get_inputs()} >= {"input_ids", "attention_mask"}
    assert summary["opsets"]["ai.onnx"] == P.opset == olive_search.onnx_opsets(path)["ai.onnx"]
    assert summary["vs_onnx_fp32"]["speedup"] > 0
    again = olive_search.search(P, speedup_goal_percent=None)   # reused, not rerun
    assert again["config_hash"] == summary["config_hash"] and again["seconds"] == summary["seconds"]


def test_notebook_02_optimize_tiny(run_notebook, session_dirs):
    run_notebook("02-optimize")
    res = json.loads((session_dirs["results"] / "tiny" / "02-optimize.json").read_text())
    assert res["metrics"]["n_candidates"] >= 1
    assert {"candidates", "search", "baseline_input_model", "chosen"} <= set(res)
    assert (session_dirs["results"] / "tiny" / "02-optimize-candidates.csv").exists()
    ov = {c["candidate"]: c for c in res["metrics"]["openvino_candidates"]}   # Olive's OpenVINO passes ran
    assert set(ov) == {"olive-openvino-fp32", "olive-openvino-int8"}
    int8 = ov["olive-openvino-int8"]
    assert int8["runtime"] == "openvino" and "OpenVINOQuantization" in int8["passes"]
    assert ov["olive-openvino-fp32"]["mean_cosine"] > 0.9999 and ov["olive-openvino-int8"]["mean_cosine"] > 0.99
    assert (session_dirs["results"] / "tiny" / "02-optimize-openvino.csv").exists()
    assert (session_dirs["figures"] / "tiny" / "02-optimize-pareto.png").exists()
