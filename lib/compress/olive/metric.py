"""Olive's user script: the model loader and the custom metric, imported by Olive from this file's path.

Olive loads this module by file path (``user_script``), so it uses absolute ``lib`` imports only. The
metric scores every candidate on held-out STS-benchmark train pairs (:mod:`lib.compress.olive.evaldata`):
agreement with the FP32 PyTorch vectors (mean / min cosine, nearest neighbour), STS Spearman with the
paired bootstrap interval of its drop from FP32's (what :mod:`lib.evaluate.gate` decides on), and the
latency of the candidate's own forward passes on real sentences, timed by :mod:`lib.perf.timing`.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lib.compress.export import keyword_wrapper, last_hidden_state
from lib.engines.batching import pool
from lib.engines.ort import onnx_forward, open_session
from lib.engines.torch import load_torch_model
from lib.evaluate.retrieval import embedding_agreement
from lib.evaluate.sts import pair_cosines, spearman, spearman_drop_ci
from lib.perf.timing import Engine, Timings, interleaved_rounds, latency_summary, timed_batches


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


def score_embeddings(vec: np.ndarray, ref: np.ndarray, n_pairs: int, gold: np.ndarray, bootstrap: int = 0,
                     seed: int = 0) -> dict:
    """Agreement with the FP32 vectors (:func:`lib.evaluate.retrieval.embedding_agreement`), STS Spearman of
    pair cosines (:mod:`lib.evaluate.sts`) and, with ``bootstrap`` resamples, the paired 95% interval of its
    drop from FP32's (``spearman_drop_ci_lo`` / ``_hi``; rows: the pairs' first then second sentences)."""
    agree = embedding_agreement(ref, vec)
    cos = pair_cosines(vec[:n_pairs], vec[n_pairs:])
    out = {"mean_cosine": agree["mean_cosine"], "min_cosine": agree["min_cosine"],
           "nn_agreement": agree.get("nn_agreement", float("nan")), "spearman": spearman(cos, gold)}
    ci = spearman_drop_ci(pair_cosines(ref[:n_pairs], ref[n_pairs:]), cos, gold, bootstrap, seed)
    # always present (NaN without resamples): Olive expects every declared sub-type in the result
    out["spearman_drop_ci_lo"], out["spearman_drop_ci_hi"] = ci if ci is not None else (float("nan"),) * 2
    return out


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


def evaluate_forward(forward, eval_data: str | Path, repeats: int = 3, bootstrap: int = 0) -> dict:
    """Our metric for any token-state function: quality vs FP32 and latency on real sentences."""
    d = load_eval_data(eval_data)
    batches, masks, order = prepared_batches(d)
    vec, t = timed_encode(forward, batches, masks, str(d["pooling"]), order, repeats)
    n_pairs = len(d["gold"])
    return {**score_embeddings(vec, d["reference"], n_pairs, d["gold"], bootstrap),
            **latency_metrics(latency_summary(t).iloc[0])}


def olive_evaluate(model, device, execution_providers, eval_data: str, repeats: int = 3,
                   threads: int | None = None, bootstrap: int = 0) -> dict:
    """Olive ``evaluate_func`` of the custom metric (runs in Olive's process); ``threads``: params'."""
    return evaluate_forward(_forward_for(model, device, execution_providers, threads), eval_data, repeats,
                            bootstrap)


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
