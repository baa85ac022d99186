"""Search-optimized ONNX Runtime configuration with Olive 0.13 (the study's step 2).

The Olive workflow is built from params (never hand-edited JSON):

    PyTorchModel (model_loader -> lib.export's keyword wrapper; HfModel hits the ``use_cache`` bug)
    -> OnnxConversion (TorchScript exporter, opset = P.opset)
    -> OrtTransformersOptimization (BERT fusions)
    -> [CUDA only] OrtMixedPrecision (FP16)        | [CPU only] OnnxDynamicQuantization (INT8)
    -> OrtSessionParamsTuning

and searched jointly (pass parameters and session parameters) with Optuna's TPE sampler,
``max_samples = P.olive_max_samples``, ``seed = P.seed``. Every candidate is scored by *our* metric
(:func:`olive_evaluate`, an Olive ``custom`` metric): agreement with the FP32 embeddings (mean cosine)
and STS Spearman on held-out STS-benchmark train pairs (``P.olive_eval_pairs``; not the static INT8
calibration set), plus latency measured on the same sentences.

Goals (constraints). The paper's "at most 0.01% degradation, at least 20% latency improvement" are
the goals of Olive's stock BERT examples, ``{"type": "max-degradation", "value": 0.01}`` on accuracy
and ``{"type": "percent-min-improvement", "value": 20}`` on latency: an *absolute* drop of 0.01 of a
0-1 metric, not a relative 0.01%. For our metric that means (see :func:`quality_goals`):
  * STS Spearman >= Spearman(FP32) - ``P.gate_max_spearman_drop`` (0.01, absolute);
  * mean cosine to the FP32 embeddings >= ``P.gate_min_cosine`` (0.99);
  * mean batch latency <= 0.8 x that of the search's input model (PyTorch FP32; Olive resolves
    relative goals against its input model). The 20% is :data:`SPEEDUP_GOAL_PERCENT`, the default of
    the keyword ``speedup_goal_percent`` of :func:`search` / :func:`olive_best` (and of the functions
    they call); ``None`` drops the latency goal. Only tests use that: on a shared CPU whether a
    candidate is 20% faster is noise, so a test that must know its outcome cannot keep this goal. The
    value is part of the Olive config, hence of its hash: searches with other goals never share a cache.
The literal reading (relative drop <= 0.01%: Spearman >= 0.9999 x FP32 and mean cosine >= 0.9999)
is reported for each candidate as ``meets_literal_goal``; no INT8 model is expected to satisfy it.

This module is also Olive's *user script*: Olive imports it by file path to call
:func:`olive_model_loader` and :func:`olive_evaluate`, so it only uses absolute ``lib`` imports.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from lib import atomic, paths
from lib.compress.export import (artifact_dir, artifact_key, keyword_wrapper, last_hidden_state, model_input_names,
                                unfused_onnx)
from lib.compress.olive import compat as olive_compat
from lib.data.public import load_sts
from lib.engines.batching import pool
from lib.engines.encoder import length_sorted_batches, tokenize
from lib.engines.hub import load_tokenizer, resolve_model_dir
from lib.engines.ort import onnx_forward, open_session, ort_session
from lib.engines.torch import load_torch_encoder, load_torch_model
from lib.evaluate.retrieval import embedding_agreement
from lib.fingerprint import settings_key
from lib.params import Params
from lib.perf.timing import Engine, Timings, interleaved_rounds, latency_summary, timed_batches

log = logging.getLogger("lib.compress.olive.search")


NOTEBOOK = "02-optimize"


SPEEDUP_GOAL_PERCENT = 20.0          # latency improvement >= 20% (Olive: percent-min-improvement)


LITERAL_RELATIVE_DROP = 1e-4         # the literal "0.01%" reading, reported beside the goals


METRIC = "quality"                   # the custom metric's name; sub-types below


RANKED_SUBTYPES = ("mean_cosine", "spearman", "latency_ms")   # Olive objectives, in priority order


FINAL_PASS = "session_params_tuning"


def olive_env() -> None:
    """Environment every Olive code path needs here: no telemetry (~10 s per run), no hub access."""
    os.environ.setdefault("OLIVE_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


# ---------------------------------------------------------------------------------------------
# Execution providers and the search space


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


# ---------------------------------------------------------------------------------------------
# Metric and goals


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
              ("latency_min_ms", False), ("sentences_per_s", True))]
    return {"name": METRIC, "type": "custom", "sub_types": subs,
            "user_config": {"user_script": str(Path(__file__).resolve()),
                            "evaluate_func": "olive_evaluate",
                            "evaluate_func_kwargs": {"eval_data": str(eval_data), "repeats": repeats,
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
                        "model_script": str(Path(__file__).resolve()),
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


# ---------------------------------------------------------------------------------------------
# Olive user-script functions (imported by Olive from this file)


def olive_model_loader(model_path: str):
    """Olive's ``model_loader``: the keyword-calling export wrapper of lib.export."""

    model_dir = Path(model_path)
    return keyword_wrapper(load_torch_model(model_dir), last_hidden_state)


def _provider_names(providers) -> list[str]:
    """Execution provider names from Olive's forms: a name, or a list of names or (name, options) pairs."""
    if isinstance(providers, str):
        return [providers]
    return [p[0] if isinstance(p, (tuple, list)) else str(p) for p in (providers or [])]


def _forward_for(model, device, execution_providers, threads: int | None = None):
    """Token-state function for an Olive model handler. A candidate (ONNX) runs in a session built the
    way every ORT engine here builds one (:func:`lib.engines.ort.open_session`, so a candidate is timed
    as it is later deployed), with the candidate's tuned inference settings on top; the PyTorch input
    model runs in its eval-mode wrapper."""
    from olive.model import ONNXModelHandler

    if isinstance(model, ONNXModelHandler):

        settings = model.inference_settings or {}
        providers = _provider_names(settings.get("execution_provider") or execution_providers) \
            or ["CPUExecutionProvider"]
        return onnx_forward(open_session(Path(model.model_path), threads, providers,
                                         session_options_from(settings)))
    import torch

    wrapper = model.prepare_session(device=device, execution_providers=execution_providers)
    names = set(inspect.signature(wrapper.forward).parameters)

    def forward(enc: dict) -> np.ndarray:
        feeds = {k: torch.from_numpy(np.asarray(v)) for k, v in enc.items() if k in names}
        with torch.inference_mode():
            return wrapper(**feeds).float().numpy()
    return forward


def pooled_engine(forward, batches: list[dict], attention_masks: list[np.ndarray], pooling: str
                  ) -> tuple[Engine, list]:
    """An engine of lib.perf.timing over the prepared batches: each model call (``forward``) timed alone,
    its token states pooled outside the timed call into the returned list (the latest pass's vectors,
    batch order). Real text: Olive's own latency metric times dummy inputs."""

    vecs: list = [None] * len(batches)

    def keep(i: int, hidden: np.ndarray) -> None:
        vecs[i] = pool(hidden, attention_masks[i], pooling)
    return timed_batches(forward, batches, [len(m) for m in attention_masks], then=keep), vecs


def in_input_order(vecs: list, order: np.ndarray) -> np.ndarray:
    """Batch-ordered vectors back in input order."""
    out = np.zeros((len(order), vecs[0].shape[1]), dtype=np.float32)
    out[order] = np.concatenate(vecs)
    return out


def timed_encode(forward, batches: list[dict], attention_masks: list[np.ndarray], pooling: str,
                 order: np.ndarray, repeats: int) -> tuple[np.ndarray, Timings]:
    """Vectors (in input order) and the timings of ``repeats`` passes after one warm-up batch, by
    lib.perf.timing's harness (:func:`pooled_engine`)."""
    engine, vecs = pooled_engine(forward, batches, attention_masks, pooling)
    t = interleaved_rounds({"model": engine}, repeats, warmup_strings=1, desc=None)
    return in_input_order(vecs, order), t


def score_embeddings(vec: np.ndarray, ref: np.ndarray, n_pairs: int, gold: np.ndarray) -> dict:
    """Agreement with FP32 (lib.evaluate) and STS Spearman of pair cosines (scipy)."""
    from scipy.stats import spearmanr


    agree = embedding_agreement(ref, vec)
    cos = (vec[:n_pairs] * vec[n_pairs:]).sum(1)
    return {"mean_cosine": agree["mean_cosine"], "min_cosine": agree["min_cosine"],
            "nn_agreement": agree.get("nn_agreement", float("nan")),
            "spearman": float(spearmanr(cos, gold).statistic)}


def latency_metrics(row: pd.Series) -> dict:
    """Our metric's latency sub-types from a row of :func:`lib.perf.timing.latency_summary`:
    ``latency_ms`` is the mean batch latency of the fastest pass (best-of-r: on this shared CPU the noise
    is additive, so the minimum is the least biased estimate), with max/min batch latency and throughput."""
    return {"latency_ms": float(row["latency_best_round_ms"]), "latency_max_ms": float(row["latency_max_ms"]),
            "latency_min_ms": float(row["latency_min_ms"]), "sentences_per_s": float(row["sentences_per_s"])}


def load_eval_data(eval_data: str | Path) -> dict:
    with np.load(eval_data, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def prepared_batches(d: dict) -> tuple[list[dict], list[np.ndarray], np.ndarray]:
    """Rebuild the tokenised batches stored by :func:`prepare_eval_data` (no tokenizer needed)."""
    batches, masks, order = [], [], d["order"]
    for b in range(int(d["n_batches"])):
        enc = {k.split("/", 1)[1]: d[k] for k in d if k.startswith(f"b{b}/")}
        batches.append(enc)
        masks.append(enc["attention_mask"])
    return batches, masks, order


def evaluate_forward(forward, eval_data: str | Path, repeats: int = 3) -> dict:
    """Our metric for any token-state function: quality vs FP32 and latency on real sentences."""
    d = load_eval_data(eval_data)
    batches, masks, order = prepared_batches(d)
    vec, t = timed_encode(forward, batches, masks, str(d["pooling"]), order, repeats)
    n_pairs = len(d["gold"])
    return {**score_embeddings(vec, d["reference"], n_pairs, d["gold"]),
            **latency_metrics(latency_summary(t).iloc[0])}


def olive_evaluate(model, device, execution_providers, eval_data: str, repeats: int = 3,
                   threads: int | None = None) -> dict:
    """Olive ``evaluate_func`` of the custom metric (runs in Olive's process); ``threads``: params'."""
    return evaluate_forward(_forward_for(model, device, execution_providers, threads), eval_data, repeats)


# ---------------------------------------------------------------------------------------------
# Held-out evaluation pairs (Olive's own metric) and FP32 reference


def eval_pairs(P: Params) -> pd.DataFrame:
    """Seeded sample of ``P.olive_eval_pairs`` pairs of the STS-benchmark *train* split in the params'
    language, on which Olive scores every candidate: held out from every evaluation set (BIOSSES,
    STS-b dev/test). Not the static INT8 calibration set (``calibration_size`` sentences,
    :mod:`lib.compress.calibration`)."""

    df = load_sts(f"stsb-{P.language}", "train")
    n = min(P.olive_eval_pairs, len(df))
    out = df.sample(n=n, random_state=P.seed).reset_index(drop=True)
    out.attrs.update(df.attrs, sample=f"{n} pairs, seed {P.seed}")
    return out


def prepare_eval_data(P: Params, out: Path) -> Path:
    """Tokenised held-out sentences (fixed batches, so every candidate sees the same inputs), the
    gold scores and the FP32 PyTorch reference vectors, in one ``.npz``."""

    if out.exists():
        try:
            with np.load(out) as z:
                int(z["n_batches"])
            return out
        except Exception as err:  # a torn file from an interrupted older run: never trusted
            log.warning("eval data %s is unreadable (%s): removing it and rebuilding", out, err)
            atomic.remove(out)
    pairs = eval_pairs(P)
    texts = list(pairs["sentence1"]) + list(pairs["sentence2"])
    ref = load_torch_encoder(P).encode(texts, progress=False)
    tok = load_tokenizer(resolve_model_dir(P))
    arrays: dict[str, np.ndarray] = {"reference": ref, "gold": pairs["score"].to_numpy(float),
                                     "pooling": np.array(P.pooling)}
    batches = length_sorted_batches(texts, P.batch_size)
    for b, idx in enumerate(batches):
        for k, v in tokenize(tok, [texts[i] for i in idx], P).items():
            arrays[f"b{b}/{k}"] = np.asarray(v, dtype=np.int64)
    arrays["order"] = np.concatenate(batches)
    arrays["n_batches"] = np.array(len(batches))
    with atomic.atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:  # a file object: np.savez must not append its own suffix
            np.savez(fh, **arrays)
    return out


# ---------------------------------------------------------------------------------------------
# Running the search and reading its footprint


def work_dir(P: Params) -> Path:
    """Olive's work folder (cache, output, eval data) under the git-ignored cache, keyed by the model's
    content (:func:`lib.export.artifact_key`), not the params name; the Olive config's hash keys the rest."""
    return paths.cache_dir() / "olive" / artifact_key(P)


def _node_config(node) -> dict:
    return (node.model_config_data or {}).get("config", {}) if node is not None else {}


def _pass_params(footprint, model_id: str) -> dict[str, Any]:
    """Searched parameters along the chain of passes that produced ``model_id``, as
    ``<pass>.<param>`` (pass = Olive pass type)."""
    out: dict[str, Any] = {}
    node = footprint.nodes.get(model_id)
    while node is not None and node.parent_model_id is not None:
        cfg = node.pass_run_config or {}
        for k, v in cfg.items():
            out[f"{node.from_pass.lower()}.{k}"] = v
        node = footprint.nodes.get(node.parent_model_id)
    return out


def candidates_table(footprint, space: dict[str, dict[str, list]], passes: dict[str, dict]) -> pd.DataFrame:
    """One row per evaluated candidate (output of the final pass): its searched pass and session
    parameters, every metric value, Olive's goal and Pareto flags, the model file."""
    type_of = {name: cfg["type"].lower() for name, cfg in passes.items()}  # footprint: lower case
    final_type = type_of[FINAL_PASS]
    rows = []
    for model_id, node in footprint.nodes.items():
        if (node.from_pass or "").lower() != final_type:
            continue
        row: dict[str, Any] = {"model_id": model_id}
        chain = _pass_params(footprint, model_id)
        for pname, params in space.items():
            for param in params:
                row[f"{pname}.{param}"] = _jsonable_value(chain.get(f"{type_of[pname]}.{param}"))
        values = node.metrics.value if node.metrics and node.metrics.value else None
        if values is not None:
            for key, sub in values.root.items() if hasattr(values, "root") else values.items():
                row[key.split("-", 1)[-1]] = sub.value
        row["olive_goals_met"] = bool(node.metrics.if_goals_met) if node.metrics else False
        row["olive_pareto"] = bool(node.is_pareto_frontier)
        cfg = _node_config(node)
        row["model_path"] = cfg.get("model_path")
        row["inference_settings"] = json.dumps(cfg.get("inference_settings") or {}, default=str)
        row["pruned"] = bool((node.model_config_data or {}).get("is_pruned")) or values is None
        rows.append(row)
    return pd.DataFrame(rows)


def _jsonable_value(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, (list, dict)) else v


def input_model_metrics(footprint) -> dict[str, float]:
    node = footprint.nodes.get(footprint.input_model_id)
    if node is None or not node.metrics or not node.metrics.value:
        return {}
    return {k.split("-", 1)[-1]: v.value for k, v in node.metrics.value.root.items()}


def pareto_flags(df: pd.DataFrame, maximise: Sequence[str] = ("mean_cosine", "spearman"),
                 minimise: Sequence[str] = ("latency_ms",)) -> np.ndarray:
    """Non-dominated rows over the objectives (small and exact; recomputed here so that the
    frontier also covers the candidates Olive pruned from its own frontier, e.g. duplicates)."""
    x = np.column_stack([df[c].to_numpy(float) for c in maximise] +
                        [-df[c].to_numpy(float) for c in minimise])
    ok = ~np.isnan(x).any(1)
    flags = np.zeros(len(df), dtype=bool)
    for i in np.flatnonzero(ok):
        dominated = (x[ok] >= x[i]).all(1) & (x[ok] > x[i]).any(1)
        flags[i] = not dominated.any()
    return flags


def goal_flags(df: pd.DataFrame, baseline: dict[str, float], P: Params, *,
               speedup_goal_percent: float | None = SPEEDUP_GOAL_PERCENT) -> pd.DataFrame:
    """Each goal as a boolean column (see the module docstring for their exact meaning); with
    ``speedup_goal_percent=None`` there is no latency goal and ``goal_latency`` is True throughout."""
    out = pd.DataFrame(index=df.index)
    out["goal_cosine"] = df["mean_cosine"] >= P.gate_min_cosine
    out["goal_spearman"] = df["spearman"] >= baseline["spearman"] - P.gate_max_spearman_drop
    if speedup_goal_percent is None:
        out["goal_latency"] = True
    else:
        out["goal_latency"] = df["latency_ms"] <= baseline["latency_ms"] * (1 - speedup_goal_percent / 100)
    out["meets_goals"] = out[["goal_cosine", "goal_spearman", "goal_latency"]].all(1)
    out["meets_literal_goal"] = ((df["spearman"] >= baseline["spearman"] * (1 - LITERAL_RELATIVE_DROP))
                                 & (df["mean_cosine"] >= 1 - LITERAL_RELATIVE_DROP))
    return out


def choose(df: pd.DataFrame) -> int | None:
    """Index of the fastest candidate that meets every goal, or None (never a failing model)."""
    ok = df[df["meets_goals"] & ~df["pruned"]]
    return None if ok.empty else int(ok["latency_ms"].idxmin())


def run_olive(config: dict):
    """Run the workflow (with the Olive 0.13 shims); returns Olive's WorkflowOutput."""
    olive_env()

    olive_compat.apply()
    from olive.workflows import run as olive_run

    return olive_run(copy.deepcopy(config))  # Olive normalises the dict in place


def _copy_model(src: str | Path, dest_dir: Path) -> Path:
    """Copy an ONNX file and its external-data files (if any) out of Olive's cache."""
    src = Path(src)
    if src.is_dir():
        src = next(iter(sorted(src.glob("*.onnx"))))
    with atomic.atomic_dir(dest_dir) as tmp:  # the folder appears whole, with its external data
        for f in src.parent.iterdir():
            if f.is_file() and (f == src or f.suffix in {".data", ".bin"} or f.name.startswith(src.name + ".")):
                shutil.copy2(f, tmp / (f.name if f != src else "model.onnx"))
    return dest_dir / "model.onnx"


def compare_with_onnx_fp32(P: Params, chosen: Path, session_options: dict, eval_data: Path,
                           rounds: int = 3, repeats: int = 3) -> dict:
    """Our metric for the chosen model and the un-optimized ONNX FP32 export (lib.export.unfused_onnx),
    timed by lib.perf.timing's interleaved rounds (``rounds * repeats`` passes each, the order rotating
    every pass) so both see the same load on the shared CPU."""

    base = onnx_forward(ort_session(unfused_onnx(P), P))
    best = onnx_forward(ort_session(chosen, P, extra_options=session_options))
    d = load_eval_data(eval_data)
    batches, masks, order = prepared_batches(d)
    engines, vecs = {}, {}
    for name, forward in (("onnx_fp32", base), ("olive_best", best)):
        engines[name], vecs[name] = pooled_engine(forward, batches, masks, str(d["pooling"]))
    lat = latency_summary(interleaved_rounds(engines, rounds * repeats, warmup_strings=1, desc=None))
    summary = {k: {**score_embeddings(in_input_order(vecs[k], order), d["reference"], len(d["gold"]), d["gold"]),
                   **latency_metrics(lat.loc[k])} for k in engines}
    summary["speedup"] = summary["onnx_fp32"]["latency_ms"] / summary["olive_best"]["latency_ms"]
    summary["latency_improvement_percent"] = 100 * (1 - 1 / summary["speedup"])
    return summary


def onnx_opsets(path: Path) -> dict[str, int]:
    """Opset per domain of an ONNX file ('' = the default ai.onnx domain)."""
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    return {o.domain or "ai.onnx": int(o.version) for o in m.opset_import}


def session_options_from(inference_settings: dict) -> dict:
    """ORT SessionOptions attributes (``extra_options`` of lib.engines.ort.ort_session) from Olive's
    inference settings."""
    import onnxruntime as ort

    so = dict((inference_settings or {}).get("session_options") or {})
    out: dict[str, Any] = {}
    if so.get("execution_mode") is not None:
        out["execution_mode"] = ort.ExecutionMode(int(so["execution_mode"]))
    if so.get("graph_optimization_level") is not None:
        out["graph_optimization_level"] = ort.GraphOptimizationLevel(int(so["graph_optimization_level"]))
    for k in ("intra_op_num_threads", "inter_op_num_threads"):
        if so.get(k) is not None:
            out[k] = int(so[k])
    return out


def search(P: Params, force: bool = False, *,
           speedup_goal_percent: float | None = SPEEDUP_GOAL_PERCENT) -> dict:
    """Run (or reuse) the search for ``P``; returns the summary stored in ``search.json``.
    ``speedup_goal_percent``: the latency goal (None: none; tests only, see the module docstring).

    Summary: ``config_hash``, ``olive_config``, ``search_space``, ``candidates`` (records of
    :func:`candidates_table` + goal and frontier flags), ``baseline`` (the input model's metrics),
    ``chosen`` (a candidate record or None), ``chosen_model`` (path or None), ``session_options``,
    ``vs_onnx_fp32`` (latency and quality of the chosen model against the un-optimized ONNX FP32
    export, same run), ``seconds`` (search wall time), ``opsets`` (of the chosen model),
    ``eval_data`` (the held-out split used)."""

    model_dir = resolve_model_dir(P)
    names = model_input_names(load_tokenizer(model_dir))
    base = work_dir(P)
    eval_key = settings_key(pooling=P.pooling, max_length=P.max_length, batch_size=P.batch_size,
                            token_budget=P.token_budget, language=P.language, size=P.olive_eval_pairs, seed=P.seed)
    # the file keeps its old "calibration-" name: same key, same cached eval data and search as before the split
    eval_data = prepare_eval_data(P, base / "eval" / f"calibration-{P.olive_eval_pairs}-seed{P.seed}-{eval_key}.npz")
    config = olive_config(P, model_dir, eval_data, base, names, speedup_goal_percent=speedup_goal_percent)
    h = config_hash(config)
    summary_path = base / f"search-{h}.json"
    if summary_path.exists() and not force:
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
            if summary.get("chosen_model") is None or Path(summary["chosen_model"]).exists():
                return summary
        except ValueError as err:
            log.warning("Olive summary %s is unreadable (%s): removing it and searching again", summary_path, err)
            atomic.remove(summary_path)
    work = base / h
    config = olive_config(P, model_dir, eval_data, work, names, speedup_goal_percent=speedup_goal_percent)
    t0 = time.perf_counter()
    output = run_olive(config)
    seconds = time.perf_counter() - t0
    footprint = output.footprint
    space = search_space(P)
    df = candidates_table(footprint, space, config["passes"])
    baseline = input_model_metrics(footprint)
    if df.empty or not baseline:
        raise RuntimeError(f"Olive search produced no evaluated candidate (see {work}/output)")
    df = pd.concat([df, goal_flags(df, baseline, P, speedup_goal_percent=speedup_goal_percent)], axis=1)
    df["pareto"] = pareto_flags(df)
    pick = choose(df)
    chosen = df.loc[pick].to_dict() if pick is not None else None
    chosen_model, session_options, versus = None, {}, None
    if chosen is not None:
        chosen_model = _copy_model(chosen["model_path"], artifact_dir(P, "olive-best") / h)
        session_options = session_options_from(json.loads(chosen["inference_settings"]))
        versus = compare_with_onnx_fp32(P, chosen_model, session_options, eval_data)
    summary = {"config_hash": h, "olive_config": config, "search_space": space,
               "candidates": df.to_dict(orient="records"), "baseline": baseline,
               "chosen": chosen, "chosen_model": str(chosen_model) if chosen_model else None,
               "session_options": {k: (v.value if hasattr(v, "value") else v)
                                   for k, v in session_options.items()},
               "vs_onnx_fp32": versus, "seconds": seconds,
               "opsets": onnx_opsets(chosen_model) if chosen_model else {},
               "eval_data": {"file": str(eval_data), "source": f"stsb-{P.language}/train",
                             "pairs": P.olive_eval_pairs, "seed": P.seed}}
    atomic.write_json(summary_path, summary, indent=2, default=str)
    return summary


def olive_session_options(P: Params) -> dict:
    """Tuned ONNX Runtime SessionOptions of the chosen model, which lib.formats applies to ``olive-best``
    (``lib.engines.ort.ort_session(path, P, extra_options=...)``; empty when nothing was chosen)."""
    summary = search(P)
    if summary.get("chosen") is None:
        return {}
    return session_options_from(json.loads(summary["chosen"]["inference_settings"]))


def olive_best(P: Params, *, speedup_goal_percent: float | None = SPEEDUP_GOAL_PERCENT) -> Path:
    """``olive-best`` format (lib.formats.ONNX_BUILDERS): the chosen model of the (cached) search
    (``speedup_goal_percent`` as in :func:`search`).

    Raises if no candidate meets the goals: a failing model is never silently chosen."""
    summary = search(P, speedup_goal_percent=speedup_goal_percent)
    if summary["chosen_model"] is None:
        latency = "none" if speedup_goal_percent is None else f"-{speedup_goal_percent:.0f}%"
        raise RuntimeError(f"params {P.name!r}: no Olive candidate met the goals "
                           f"(cosine >= {P.gate_min_cosine}, Spearman drop <= "
                           f"{P.gate_max_spearman_drop}, latency {latency}); "
                           f"see results/{P.name}/{NOTEBOOK}.json")
    return Path(summary["chosen_model"])


# ---------------------------------------------------------------------------------------------
# Reporting (used by notebooks/02-optimize.ipynb)


TABLE_COLUMNS = ("mean_cosine", "min_cosine", "nn_agreement", "spearman", "latency_ms",
                 "latency_max_ms", "latency_min_ms", "sentences_per_s", "goal_cosine", "goal_spearman",
                 "goal_latency", "meets_goals", "meets_literal_goal", "olive_goals_met", "olive_pareto",
                 "pareto", "pruned")


def candidates_frame(summary: dict) -> pd.DataFrame:
    """Candidates table: searched parameters first, then metrics and flags, fastest first."""
    df = pd.DataFrame(summary["candidates"])
    params_cols = [f"{p}.{k}" for p, ks in summary["search_space"].items() for k in ks]
    cols = ["model_id"] + [c for c in params_cols if c in df] + [c for c in TABLE_COLUMNS if c in df]
    return df[cols].sort_values("latency_ms").reset_index(drop=True)


def result_record(summary: dict) -> tuple[dict, dict]:
    """(metrics, extra) for ``report.write_result`` of notebook 02-optimize."""
    df = pd.DataFrame(summary["candidates"])
    chosen, vs = summary.get("chosen"), summary.get("vs_onnx_fp32") or {}
    metrics = {
        "n_candidates": int(len(df)), "n_evaluated": int((~df["pruned"].astype(bool)).sum()),
        "n_meeting_goals": int(df["meets_goals"].astype(bool).sum()),
        "n_meeting_literal_goal": int(df["meets_literal_goal"].astype(bool).sum()),
        "n_pareto": int(df["pareto"].astype(bool).sum()), "search_seconds": summary["seconds"],
        "chosen": chosen is not None,
        "input_fp32_spearman": summary["baseline"]["spearman"],
        "input_fp32_latency_ms": summary["baseline"]["latency_ms"],
    }
    if chosen is not None:
        metrics.update({"chosen_mean_cosine": chosen["mean_cosine"], "chosen_spearman": chosen["spearman"],
                        "chosen_latency_ms": chosen["latency_ms"]})
    if vs:
        metrics.update({"onnx_fp32_latency_ms": vs["onnx_fp32"]["latency_ms"],
                        "olive_best_latency_ms": vs["olive_best"]["latency_ms"],
                        "speedup_vs_onnx_fp32": vs["speedup"],
                        "latency_improvement_vs_onnx_fp32_percent": vs["latency_improvement_percent"],
                        "olive_best_mean_cosine": vs["olive_best"]["mean_cosine"],
                        "olive_best_spearman": vs["olive_best"]["spearman"],
                        "onnx_fp32_spearman": vs["onnx_fp32"]["spearman"]})
    cfg = summary["olive_config"]
    extra = {"search": {"space": summary["search_space"], "strategy": cfg["engine"]["search_strategy"],
                        "goals": cfg["evaluators"]["ours"]["metrics"][0]["sub_types"][:3],
                        "goal_definition": GOAL_DEFINITION, "config_hash": summary["config_hash"],
                        "execution_providers": cfg["systems"]["local_system"]["accelerators"][0],
                        "opset": cfg["passes"]["conversion"]["target_opset"]},
             "baseline_input_model": summary["baseline"], "candidates": summary["candidates"],
             "chosen": chosen, "chosen_model": summary["chosen_model"],
             "session_options": summary["session_options"], "vs_onnx_fp32": vs or None,
             "opsets": summary.get("opsets", {})}
    return metrics, extra


GOAL_DEFINITION = (
    "Goals as in the paper, read as Olive's stock BERT goals (max-degradation 0.01 = an absolute drop "
    "of 0.01, percent-min-improvement 20): mean cosine to FP32 >= gate_min_cosine; held-out STS "
    "Spearman >= FP32 Spearman - gate_max_spearman_drop; mean batch latency <= 0.8 x the PyTorch FP32 "
    "input model's. meets_literal_goal = relative drop <= 0.01% (Spearman >= 0.9999 x FP32 and mean "
    "cosine >= 0.9999).")
