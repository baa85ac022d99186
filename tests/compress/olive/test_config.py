"""The Olive workflow config built from params (lib.compress.olive.config): passes, search space, goals, systems."""

from __future__ import annotations

import json
from pathlib import Path

from lib import params
from lib.compress.olive import compat as olive_compat
from lib.compress.olive import config as olive_config
from lib.compress.olive import metric as olive_metric


def _build(P, model_dir: Path, tmp_path: Path) -> dict:
    return olive_config.olive_config(P, model_dir, tmp_path / "eval.npz", tmp_path / "work",
                                 ["input_ids", "attention_mask", "token_type_ids"])


def _searched(cfg: dict) -> dict[str, list]:
    return {k: v["support"] for k, v in cfg.items()
            if isinstance(v, dict) and v.get("olive_parameter_type") == "SearchParameter"}


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
