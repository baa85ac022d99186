"""The Olive workflow of the study's step 2, built from params (never hand-edited JSON).

    PyTorchModel (model_loader -> lib.compress.export's keyword wrapper; HfModel hits the ``use_cache`` bug)
    -> OnnxConversion (TorchScript exporter, opset = P.opset)
    -> OrtTransformersOptimization (BERT fusions)
    -> [CUDA only] OrtMixedPrecision (FP16)        | [CPU only] OnnxDynamicQuantization (INT8)
    -> OrtSessionParamsTuning

searched jointly (pass parameters and session parameters) with Optuna's TPE sampler,
``max_samples = P.olive_max_samples``, ``seed = P.seed``. Every candidate is scored by *our* metric
(:func:`lib.compress.olive.metric.olive_evaluate`, an Olive ``custom`` metric).

Goals (constraints). The paper's "at most 0.01% degradation, at least 20% latency improvement" are
the goals of Olive's stock BERT examples, ``{"type": "max-degradation", "value": 0.01}`` on accuracy
and ``{"type": "percent-min-improvement", "value": 20}`` on latency: an *absolute* drop of 0.01 of a
0-1 metric, not a relative 0.01%. For our metric that means (see :func:`quality_goals`):
  * STS Spearman >= Spearman(FP32) - ``P.gate_max_spearman_drop`` (0.01, absolute);
  * mean cosine to the FP32 embeddings >= ``P.gate_min_cosine`` (0.99);
  * mean batch latency <= 0.8 x that of the search's input model (PyTorch FP32; Olive resolves
    relative goals against its input model). The 20% is :data:`SPEEDUP_GOAL_PERCENT`, the default of
    the keyword ``speedup_goal_percent`` of :func:`lib.compress.olive.search.search` /
    :func:`~lib.compress.olive.search.olive_best` (and of the functions they call); ``None`` drops the
    latency goal. Only tests use that: on a shared CPU whether a candidate is 20% faster is noise, so a
    test that must know its outcome cannot keep this goal. The value is part of the Olive config, hence
    of its hash: searches with other goals never share a cache.
Olive ranks candidates on these goals itself; the project's own goal flags (which one is chosen) apply
the study's one gate rule, :mod:`lib.evaluate.gate`, with the paired interval of each Spearman drop.
The literal reading (relative drop <= 0.01%: Spearman >= 0.9999 x FP32 and mean cosine >= 0.9999)
is reported for each candidate as ``meets_literal_goal``; no INT8 model is expected to satisfy it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

from lib.compress.olive import metric
from lib.params import Params


SPEEDUP_GOAL_PERCENT = 20.0          # latency improvement >= 20% (Olive: percent-min-improvement)


LITERAL_RELATIVE_DROP = 1e-4         # the literal "0.01%" reading, reported beside the goals


METRIC = "quality"                   # the custom metric's name; sub-types below


RANKED_SUBTYPES = ("mean_cosine", "spearman", "latency_ms")   # Olive objectives, in priority order


FINAL_PASS = "session_params_tuning"


# Olive imports this file by path to call the model loader and the custom metric
USER_SCRIPT = str(Path(metric.__file__).resolve())


def olive_env() -> None:
    """Environment every Olive code path needs here: no telemetry (~10 s per run), no hub access."""
    os.environ.setdefault("OLIVE_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def device_for(providers: Sequence[str]) -> str:
    """Olive accelerator type for an EP list: GPU for CUDA / TensorRT, CPU otherwise."""
    gpu = {"CUDAExecutionProvider", "TensorrtExecutionProvider", "ROCMExecutionProvider"}
    return "gpu" if any(p in gpu for p in providers) else "cpu"


def thread_choices(P: Params) -> list[int]:
    """Intra-op thread counts to try: 1 and the configured count (all cores by default)."""
    n = P.threads or os.cpu_count() or 1
    return sorted({1, n})


def search_space(P: Params) -> dict[str, dict[str, list]]:
    """Searched values per pass (every other searchable Olive parameter is pinned, see
    :func:`_pin_unsearched`). FP16: OrtMixedPrecision when the first EP is CUDA, TensorRT's own
    FP16 mode when it is TensorRT; INT8 dynamic quantization (MatMulInteger /
    DynamicQuantizeLinear) has CPU kernels only, so it is part of the CPU workflow only."""
    providers = P.execution_providers
    gpu = device_for(providers) == "gpu"
    space: dict[str, dict[str, list]] = {
        "transformers_optimization": {"opt_level": [0, 1, 2]},
        FINAL_PASS: {
            "execution_mode_list": [0, 1],
            "opt_level_list": [1, 99],
        },
    }
    if providers[0] == "CUDAExecutionProvider":
        space["mixed_precision"] = {"atol": [1e-6, 1e-4]}
    elif providers[0] == "TensorrtExecutionProvider":  # TensorRT builds its own FP16 engine
        space[FINAL_PASS]["trt_fp16_enable"] = [False, True]
    if not gpu:
        space["quantization"] = {
            "per_channel": [True, False],
            "reduce_range": [False, True],
            "op_types_to_quantize": [["MatMul", "Attention"], ["MatMul"]],
        }
        space[FINAL_PASS]["intra_thread_num_list"] = thread_choices(P)
    return space


def _categorical(values: list) -> dict:
    """Olive 0.13's JSON form of a searched value (a bare list is only searched for some params)."""
    return {"olive_parameter_type": "SearchParameter", "type": "Categorical", "support": list(values)}


def _pin_unsearched(pass_type: str, config: dict, providers: Sequence[str]) -> dict:
    """Fix every parameter that has Olive search defaults but that we do not search, to its
    default: with a search strategy, Olive would otherwise search them all silently."""
    from olive.hardware.accelerator import AcceleratorSpec
    from olive.package_config import OlivePackageConfig

    pkg = OlivePackageConfig.load_default_config()
    pass_cls = pkg.import_pass_module(pass_type)
    spec = AcceleratorSpec(accelerator_type=device_for(providers), execution_provider=providers[0])
    out = dict(config)
    for name, param in pass_cls.default_config(spec).items():
        if param.search_defaults is not None and name not in out:
            out[name] = param.default_value
    return out


def model_shape(model_dir: Path) -> dict[str, Any]:
    """num_heads / hidden_size / fusion model type for ONNX Runtime's transformer optimizer."""
    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    return {"model_type": "bert", "num_heads": int(cfg.get("num_attention_heads", 0)),
            "hidden_size": int(cfg.get("hidden_size", 0))}


def build_passes(P: Params, model_dir: Path, input_names: list[str]) -> dict[str, dict]:
    """Olive ``passes`` section from params: fixed settings plus the searched values."""
    providers = list(P.execution_providers)
    gpu = device_for(providers) == "gpu"
    space = search_space(P)
    passes: dict[str, dict] = {
        # TorchScript exporter: the dynamo exporter's graph does not get ORT's Attention fusion
        "conversion": {"type": "OnnxConversion", "target_opset": P.opset, "use_dynamo_exporter": False},
        "transformers_optimization": {"type": "OrtTransformersOptimization", **model_shape(model_dir),
                                      "use_gpu": gpu, "only_onnxruntime": False, "float16": False},
    }
    if providers[0] == "CUDAExecutionProvider":
        passes["mixed_precision"] = {"type": "OrtMixedPrecision"}
    if not gpu:
        passes["quantization"] = {
            "type": "OnnxDynamicQuantization", "precision": "int8",
            # quant_pre_process is required on the fused graph, else "Unable to find data type for
            # weight_name" (stack notes)
            "quant_preprocess": True,
        }
    tuning: dict[str, Any] = {"type": "OrtSessionParamsTuning", "providers_list": providers[0],
                              "data_config": "latency_data", "io_bind": False}
    if gpu:
        tuning["enable_cuda_graph"] = False
    passes[FINAL_PASS] = tuning
    for name, cfg in passes.items():
        for param, values in space.get(name, {}).items():
            cfg[param] = _categorical(values)
        passes[name] = _pin_unsearched(cfg["type"], cfg, providers)
    return passes


def quality_goals(P: Params, *, speedup_goal_percent: float | None = SPEEDUP_GOAL_PERCENT) -> dict[str, dict]:
    """Olive goals of the custom metric's ranked sub-types (see the module docstring); no
    ``latency_ms`` goal when ``speedup_goal_percent`` is None."""
    goals = {
        "mean_cosine": {"type": "threshold", "value": P.gate_min_cosine},
        "spearman": {"type": "max-degradation", "value": P.gate_max_spearman_drop},
    }
    if speedup_goal_percent is not None:
        goals["latency_ms"] = {"type": "percent-min-improvement", "value": speedup_goal_percent}
    return goals


def build_metric(P: Params, eval_data: Path, repeats: int = 3, *,
                 speedup_goal_percent: float | None = SPEEDUP_GOAL_PERCENT) -> dict:
    """The custom metric: :func:`olive_evaluate` from this file, ranked cosine > Spearman > latency."""
    goals = quality_goals(P, speedup_goal_percent=speedup_goal_percent)
    higher = {"mean_cosine": True, "spearman": True, "latency_ms": False}
    subs = [{"name": n, "priority": i + 1, "higher_is_better": higher[n],
             **({"goal": goals[n]} if n in goals else {})}
            for i, n in enumerate(RANKED_SUBTYPES)]
    subs += [{"name": n, "priority": -1, "higher_is_better": h} for n, h in
             (("min_cosine", True), ("nn_agreement", True), ("latency_max_ms", False),
              ("latency_min_ms", False), ("sentences_per_s", True), ("spearman_drop_ci_lo", False),
              ("spearman_drop_ci_hi", False))]
    return {"name": METRIC, "type": "custom", "sub_types": subs,
            "user_config": {"user_script": USER_SCRIPT,
                            "evaluate_func": "olive_evaluate",
                            "evaluate_func_kwargs": {"eval_data": str(eval_data), "repeats": repeats,
                                                     "bootstrap": P.bootstrap,
                                                     # only when set: the default keeps the config hash
                                                     **({"threads": P.threads} if P.threads else {})}}}


def latency_data_config(P: Params, input_names: list[str], seq_len: int = 32) -> dict:
    """Dummy token batches for OrtSessionParamsTuning's own latency probe (it needs a data config);
    the candidates themselves are timed on real sentences by :func:`olive_evaluate`."""
    return {"name": "latency_data", "type": "DummyDataContainer",
            "load_dataset_config": {"input_names": input_names,
                                    "input_shapes": [[P.batch_size, seq_len]] * len(input_names),
                                    "input_types": ["int64"] * len(input_names),
                                    "max_samples": 4}}


def io_config(input_names: list[str], sample_len: int = 16) -> dict:
    return {"input_names": input_names, "input_shapes": [[2, sample_len]] * len(input_names),
            "input_types": ["int64"] * len(input_names), "output_names": ["last_hidden_state"],
            "dynamic_axes": {**{n: {"0": "batch", "1": "sequence"} for n in input_names},
                             "last_hidden_state": {"0": "batch", "1": "sequence"}}}


def olive_config(P: Params, model_dir: Path, eval_data: Path, work: Path,
                 input_names: list[str] | None = None, *,
                 speedup_goal_percent: float | None = SPEEDUP_GOAL_PERCENT) -> dict:
    """The whole Olive run config (a plain dict, JSON-serialisable) for params ``P``."""
    names = input_names or ["input_ids", "attention_mask", "token_type_ids"]
    providers = list(P.execution_providers)
    return {
        "input_model": {"type": "PyTorchModel", "model_path": str(model_dir),
                        "model_script": USER_SCRIPT,
                        "model_loader": "olive_model_loader", "io_config": io_config(names)},
        # Olive 0.13 allows one EP per accelerator: the first of P.execution_providers is the
        # target (ONNX Runtime itself falls back to CPU for nodes the target EP cannot run)
        "systems": {"local_system": {"type": "LocalSystem", "accelerators": [
            {"device": device_for(providers), "execution_providers": providers[:1]}]}},
        "data_configs": [latency_data_config(P, names)],
        "evaluators": {"ours": {"metrics": [build_metric(P, eval_data,
                                                         speedup_goal_percent=speedup_goal_percent)]}},
        "passes": build_passes(P, model_dir, names),
        "engine": {
            "search_strategy": {"execution_order": "joint", "sampler": "tpe",
                                "sampler_config": {"max_samples": P.olive_max_samples, "seed": P.seed}},
            "evaluator": "ours", "evaluate_input_model": True,
            "host": "local_system", "target": "local_system",
            "cache_dir": str(work / "cache"), "output_dir": str(work / "output"),
            "log_severity_level": 3, "plot_pareto_frontier": False,
        },
    }


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]
