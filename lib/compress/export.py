"""ONNX export of an encoder, and ONNX Runtime's transformer graph fusion.

The TorchScript exporter goes through :class:`EncoderWrapper` because transformers 5 models called
positionally clash on ``use_cache`` (stack notes); eager attention keeps the pattern that ONNX
Runtime's optimizer fuses into Attention / SkipLayerNormalization / BiasGelu nodes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from lib import atomic, paths
from lib.engines.hub import load_tokenizer, resolve_model_dir
from lib.engines.torch import load_torch_model
from lib.fingerprint import engine_versions, model_fingerprint, settings_key
from lib.params import Params

log = logging.getLogger("lib.compress.export")


def artifact_key(P: Params) -> str:
    """Folder name of a model's artifacts: the model's content fingerprint plus the settings every
    artifact depends on (opset, max_length, library versions). Not the params name: a params name
    can be pointed at another model, and two params files on one model share their artifacts."""
    fp = model_fingerprint(resolve_model_dir(P))
    return f"{fp}-{settings_key(opset=P.opset, max_length=P.max_length, **engine_versions())}"


def artifact_dir(P: Params, fmt: str) -> Path:
    """Folder of a format's artifacts (git-ignored cache), keyed by :func:`artifact_key`."""
    d = paths.models_dir() / "artifacts" / artifact_key(P) / fmt
    d.mkdir(parents=True, exist_ok=True)
    return d


def valid_onnx(path: Path) -> None:
    """Raise if ``path`` is not a loadable ONNX model (a cached file from an interrupted older run)."""
    import onnx
    onnx.load(str(path), load_external_data=False)


def cached_onnx(out_path: Path, build) -> Path:
    """``out_path`` if it holds a loadable model, else ``build(tmp)`` written atomically to it."""
    def load(p: Path) -> Path:
        valid_onnx(p)
        return p

    def make(p: Path) -> None:
        with atomic.atomic_path(p) as tmp:
            build(tmp)
    return atomic.load_or_rebuild(out_path, load, make, what="ONNX artifact")


def keyword_wrapper(model, output: Callable[[Any], Any]):
    """An ``nn.Module`` that calls the HF model with keywords (transformers 5's positional calls clash
    with the exporter's positional inputs) and returns ``output(model outputs)``: the last hidden state
    for an encoder, the [MASK] margin for a reranker (lib.rerank.onnx). The one export wrapper."""
    import torch

    class KeywordCall(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            kw = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                kw["token_type_ids"] = token_type_ids
            return output(self.m(**kw))

    return KeywordCall(model)


def last_hidden_state(outputs):
    return outputs.last_hidden_state


def model_input_names(tokenizer) -> list[str]:
    """Inputs in the wrapper's positional order (not the tokenizer's, which may differ)."""
    have = set(tokenizer.model_input_names) | {"input_ids", "attention_mask"}
    return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in have]


def export_onnx(model_dir: Path, out_path: Path, opset: int = 14) -> Path:
    """FP32 ONNX graph with dynamic batch and sequence axes (TorchScript exporter)."""
    def build(tmp: Path) -> None:
        import torch


        tok = load_tokenizer(model_dir)
        model = load_torch_model(model_dir)
        names = model_input_names(tok)
        # two lengths (a padded row), within the tokenizer's limit when it has one (a trained model saves
        # its max_length there; past it transformers warns of indexing errors)
        limit = tok.model_max_length if tok.model_max_length < 1_000_000 else None
        enc = tok(["an example sentence", "a second, longer example sentence for export"],
                  padding=True, truncation=limit is not None, max_length=limit, return_tensors="pt")
        args = tuple(enc[n] for n in names)
        axes = {n: {0: "batch", 1: "sequence"} for n in names}
        axes["last_hidden_state"] = {0: "batch", 1: "sequence"}
        with torch.inference_mode():
            torch.onnx.export(keyword_wrapper(model, last_hidden_state), args, str(tmp), input_names=names,
                              output_names=["last_hidden_state"], dynamic_axes=axes,
                              opset_version=opset, do_constant_folding=True, dynamo=False)
        log.info("exported %s (opset %d)", out_path, opset)
    return cached_onnx(out_path, build)


def fuse(onnx_in: Path, out_path: Path, model_dir: Path) -> Path:
    """ONNX Runtime transformer fusion (model_type from the HF config)."""
    def build(tmp: Path) -> None:
        import json

        from onnxruntime.transformers.optimizer import optimize_model

        cfg = json.loads((model_dir / "config.json").read_text())
        model_type = {"mpnet": "bert", "xlm-roberta": "bert", "roberta": "bert"}.get(cfg.get("model_type"), "bert")
        opt = optimize_model(str(onnx_in), model_type=model_type,
                             num_heads=cfg.get("num_attention_heads", 0), hidden_size=cfg.get("hidden_size", 0))
        opt.save_model_to_file(str(tmp))
        log.info("fused %s: %s", out_path, opt.get_fused_operator_statistics())
    return cached_onnx(out_path, build)


def unfused_onnx(P: Params) -> Path:
    """Plain exported FP32 graph (SmoothQuant needs its LayerNorm -> MatMul pattern)."""
    return export_onnx(resolve_model_dir(P), artifact_dir(P, "onnx-fp32") / "model-unfused.onnx", P.opset)


def fused_onnx(P: Params) -> Path:
    """The ``onnx-fp32`` format: exported, then fused by ONNX Runtime's transformer optimizer."""
    return fuse(unfused_onnx(P), artifact_dir(P, "onnx-fp32") / "model.onnx", resolve_model_dir(P))


def fusion_stats(path: Path) -> dict[str, int]:
    import collections

    import onnx
    m = onnx.load(str(path), load_external_data=False)
    return dict(collections.Counter(n.op_type for n in m.graph.node))
