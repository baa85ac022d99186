"""ONNX export of a model folder of either kind, and ONNX Runtime's transformer graph fusion.

Two kinds of model folder (:func:`lib.engines.cross.model_kind`), one export, as sentence-transformers'
``backend/`` serves bi- and cross-encoders alike: an *encoder* exports ``(input_ids, attention_mask[,
token_type_ids]) -> last_hidden_state``; a *reranker* exports the cross-encoder scorer,
``(input_ids, attention_mask, token_type_ids, position_ids, attention_groups) -> token_scores``. Both
go through :func:`keyword_wrapper` (transformers 5 models called positionally clash on ``use_cache``,
stack notes); eager attention keeps the pattern that ONNX Runtime's optimizer fuses into Attention /
SkipLayerNormalization / BiasGelu nodes. Artifacts are keyed by the folder's content
(:func:`artifact_key_of`), whatever its kind.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from lib import atomic, paths
from lib.engines import cross
from lib.engines.hub import load_tokenizer, resolve_model_dir
from lib.engines.torch import load_torch_model
from lib.fingerprint import engine_versions, model_fingerprint, settings_key
from lib.params import Params

log = logging.getLogger("lib.compress.export")


def artifact_key_of(model_dir: Path, opset: int, max_length: int) -> str:
    """Folder name of a model folder's artifacts (either kind): its content fingerprint plus the settings
    every artifact depends on (opset, max_length, library versions)."""
    fp = model_fingerprint(Path(model_dir))
    return f"{fp}-{settings_key(opset=opset, max_length=max_length, **engine_versions())}"


def artifact_key(P: Params) -> str:
    """:func:`artifact_key_of` a params model. Not the params name: a params name can be pointed at
    another model, and two params files on one model share their artifacts."""
    return artifact_key_of(resolve_model_dir(P), P.opset, P.max_length)


def artifact_dir_of(model_dir: Path, opset: int, max_length: int, fmt: str) -> Path:
    """Folder of a format's artifacts of a model folder (git-ignored cache), keyed by :func:`artifact_key_of`."""
    d = paths.models_dir() / "artifacts" / artifact_key_of(model_dir, opset, max_length) / fmt
    d.mkdir(parents=True, exist_ok=True)
    return d


def artifact_dir(P: Params, fmt: str) -> Path:
    """Folder of a format's artifacts of a params model, keyed by :func:`artifact_key`."""
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
    """An ``nn.Module`` that calls the model with keywords (transformers 5's positional calls clash
    with the exporter's positional inputs) and returns ``output(model outputs)``: the last hidden state
    for an encoder, the token scores for a reranker. The one export wrapper."""
    import torch

    class KeywordCall(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids=None, position_ids=None, attention_groups=None):
            kw = {"input_ids": input_ids, "attention_mask": attention_mask}
            for k, v in (("token_type_ids", token_type_ids), ("position_ids", position_ids),
                         ("attention_groups", attention_groups)):
                if v is not None:
                    kw[k] = v
            return output(self.m(**kw))

    return KeywordCall(model)


def last_hidden_state(outputs):
    return outputs.last_hidden_state


def model_input_names(tokenizer) -> list[str]:
    """Inputs in the wrapper's positional order (not the tokenizer's, which may differ)."""
    have = set(tokenizer.model_input_names) | {"input_ids", "attention_mask"}
    return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in have]


def _encoder_export(model_dir: Path):
    """(module, example feeds by input name, input names, output name) of a bi-encoder folder."""
    tok = load_tokenizer(model_dir)
    names = model_input_names(tok)
    # two lengths (a padded row), within the tokenizer's limit when it has one (a trained model saves
    # its max_length there; past it transformers warns of indexing errors)
    limit = tok.model_max_length if tok.model_max_length < 1_000_000 else None
    enc = tok(["an example sentence", "a second, longer example sentence for export"], padding=True,
              truncation=limit is not None, max_length=limit, return_tensors="pt")
    return keyword_wrapper(load_torch_model(model_dir), last_hidden_state), dict(enc), names, "last_hidden_state"


def _reranker_export(model_dir: Path):
    """(module, example feeds, input names, output name) of a reranker folder (lib.engines.cross)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model = cross.load_scorer(model_dir, attn_implementation="eager")
    finally:
        hf_logging.set_verbosity(level)
    names = [n for n in cross.INPUTS if n != "token_type_ids" or model.token_types]
    return keyword_wrapper(model, lambda out: out), cross.example_feeds(model.encoder.config.vocab_size), names, \
        cross.OUTPUT


# Model kind -> its export spec (lib.engines.cross.model_kind reads the kind from the folder).
EXPORTS: dict[str, Callable[[Path], tuple]] = {"encoder": _encoder_export, "reranker": _reranker_export}


def export_onnx(model_dir: Path, out_path: Path, opset: int = 14) -> Path:
    """FP32 ONNX graph of a model folder of either kind, dynamic batch and sequence axes (TorchScript
    exporter)."""
    def build(tmp: Path) -> None:
        import torch

        module, feeds, names, output = EXPORTS[cross.model_kind(model_dir)](Path(model_dir))
        axes = {n: {0: "batch", 1: "sequence"} for n in [*names, output]}
        with torch.inference_mode():
            torch.onnx.export(module, tuple(feeds[n] for n in names), str(tmp), input_names=names,
                              output_names=[output], dynamic_axes=axes, opset_version=opset,
                              do_constant_folding=True, dynamo=False)
        log.info("exported %s (opset %d)", out_path, opset)
    return cached_onnx(out_path, build)


def fuse(onnx_in: Path, out_path: Path, model_dir: Path) -> Path:
    """ONNX Runtime transformer fusion (model_type from the HF config).

    A reranker's graph is fused without EmbedLayerNormalization: with both ``position_ids`` and
    ``token_type_ids`` as graph inputs, ONNX Runtime 1.31's embedding fusion swaps them (the position
    ids index the token-type table), silently in FP32 and "index out of range" in INT8. Its attention
    (a mask built from attention groups) is not matched by the Attention fusion either; LayerNorm and
    GELU fusions apply."""
    def build(tmp: Path) -> None:
        import json

        from onnxruntime.transformers.fusion_options import FusionOptions
        from onnxruntime.transformers.optimizer import optimize_model

        cfg = json.loads((model_dir / "config.json").read_text())
        model_type = {"mpnet": "bert", "xlm-roberta": "bert", "roberta": "bert"}.get(cfg.get("model_type"), "bert")
        options = FusionOptions(model_type)
        options.enable_embed_layer_norm = cross.model_kind(model_dir) == "encoder"
        opt = optimize_model(str(onnx_in), model_type=model_type, num_heads=cfg.get("num_attention_heads", 0),
                             hidden_size=cfg.get("hidden_size", 0), optimization_options=options)
        opt.save_model_to_file(str(tmp))
        log.info("fused %s: %s", out_path, opt.get_fused_operator_statistics())
    return cached_onnx(out_path, build)


def unfused_onnx_of(model_dir: Path, opset: int, max_length: int) -> Path:
    """Plain exported FP32 graph of a model folder (SmoothQuant needs its LayerNorm -> MatMul pattern)."""
    return export_onnx(model_dir, artifact_dir_of(model_dir, opset, max_length, "onnx-fp32") / "model-unfused.onnx",
                       opset)


def fused_onnx_of(model_dir: Path, opset: int, max_length: int) -> Path:
    """The ``onnx-fp32`` format of a model folder: exported, then fused by ONNX Runtime's optimizer."""
    return fuse(unfused_onnx_of(model_dir, opset, max_length),
                artifact_dir_of(model_dir, opset, max_length, "onnx-fp32") / "model.onnx", Path(model_dir))


def unfused_onnx(P: Params) -> Path:
    """:func:`unfused_onnx_of` a params model."""
    return unfused_onnx_of(resolve_model_dir(P), P.opset, P.max_length)


def fused_onnx(P: Params) -> Path:
    """The ``onnx-fp32`` format of a params model (:func:`fused_onnx_of`)."""
    return fused_onnx_of(resolve_model_dir(P), P.opset, P.max_length)


def fusion_stats(path: Path) -> dict[str, int]:
    import collections

    import onnx
    m = onnx.load(str(path), load_external_data=False)
    return dict(collections.Counter(n.op_type for n in m.graph.node))
