"""Activation outliers before and after SmoothQuant, and ONNX Runtime's quantization debug (Figure 4).

Two library pieces do the work:

* Neural Compressor 3.7.1 ``ORTSmoothQuant`` (the class ONNX Runtime's ``SmoothQuant`` hook calls;
  :func:`lib.compress.static.smoothed_fp32`) computes s_j = max|X_j|^alpha / max|W_j|^(1-alpha) per
  input channel of each linear MatMul. Notebook 07 runs it with ``folding=False`` so that every scale
  stays visible in the graph as a ``<node>_smooth_scale`` initializer (= 1/s_j) feeding a ``Mul`` in
  front of the MatMul: the smoothed activation is X_j / s_j by construction, and the scales are read
  from that graph, not recomputed.
* ``onnxruntime.quantization.qdq_loss_debug`` saves the MatMul inputs of the FP32 graph
  (``collect_activations``) and compares FP32 with QDQ-quantized tensors (``compute_activation_error``,
  ``compute_weight_error``: signal-to-quantization-noise ratio in dB, higher is better).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from lib.compress.calibration import FeedReader
from lib.compress.graph import describe_matmul
from lib.engines.hub import load_tokenizer, resolve_model_dir
from lib.params import Params

log = logging.getLogger("lib.analysis.outliers")


THRESHOLDS: tuple[float, ...] = (2.5, 5.0, 7.5)


SMOOTH_SCALE_SUFFIX = "_smooth_scale"


# ---------------------------------------------------------------------------------------------
# Graph helpers


def matmul_inputs(model_path: Path) -> pd.DataFrame:
    """Linear MatMuls of a graph: node, activation input, weight, in-channels, layer and role."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(model_path))
    inits = {i.name: i for i in m.graph.initializer}
    rows = []
    for n in m.graph.node:
        if n.op_type == "MatMul" and n.input[1] in inits:
            w = numpy_helper.to_array(inits[n.input[1]])
            rows.append({"node": n.name, "activation": n.input[0], "weight": n.input[1],
                         "channels": int(w.shape[0]), **describe_matmul(n.name)})
    return pd.DataFrame(rows)


def smooth_scales(smoothed_path: Path) -> dict[str, np.ndarray]:
    """s_j per smoothed MatMul node, read back from the ``<node>_smooth_scale`` (= 1/s) initializers."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(smoothed_path))
    return {i.name[:-len(SMOOTH_SCALE_SUFFIX)]: 1.0 / numpy_helper.to_array(i).astype(np.float64).ravel()
            for i in m.graph.initializer if i.name.endswith(SMOOTH_SCALE_SUFFIX)}


# ---------------------------------------------------------------------------------------------
# Activations


def collect_matmul_inputs(model_path: Path, feeds: list[dict], tensors: Sequence[str],
                          channels: dict[str, int]) -> dict[str, np.ndarray]:
    """``collect_activations`` on the MatMul inputs; each tensor as (real tokens, channels).

    ORT saves every tensor flattened; each feed's (batch, sequence) shape and the weight's in-channels
    give the shape back, and the attention mask drops padding positions.
    """
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        modify_model_output_intermediate_tensors,
    )


    with tempfile.TemporaryDirectory(prefix="outliers.") as tmp:
        aug = Path(tmp) / "augmented.onnx"
        modify_model_output_intermediate_tensors(str(model_path), str(aug), op_types_for_saving=["MatMul"])
        acts = collect_activations(str(aug), FeedReader(feeds))
    out = {}
    for name in tensors:
        parts = [real_tokens(a.reshape(*f["input_ids"].shape, channels[name]), f["attention_mask"])
                 for a, f in zip(acts[name], feeds)]
        out[name] = np.concatenate(parts, axis=0)
    return out


def real_tokens(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(tokens, channels) of the non-padding positions of a (batch, seq, channel) activation."""
    return x[mask.astype(bool)]


def channel_max(x_tokens: np.ndarray) -> np.ndarray:
    """max_t |x_tj| per channel j: the quantity SmoothQuant balances."""
    return np.abs(x_tokens).max(axis=0)


def outlier_shares(chan_max: np.ndarray, thresholds: Sequence[float] = THRESHOLDS) -> dict[str, float]:
    """Share of channels whose largest |x| exceeds each threshold."""
    return {f">{t:g}": float(np.mean(chan_max > t)) for t in thresholds}


@dataclass
class OutlierStudy:
    """Per-channel activation statistics of the chosen MatMul inputs, before and after smoothing."""

    table: pd.DataFrame                # one row per (node, stage): maxima and outlier shares
    before: dict[str, np.ndarray]      # node -> (tokens, channels), real tokens only
    after: dict[str, np.ndarray]
    scales: dict[str, np.ndarray]      # node -> s_j
    weight_max_before: dict[str, np.ndarray]
    weight_max_after: dict[str, np.ndarray]


def weight_in_channel_max(model_path: Path, weights: dict[str, str]) -> dict[str, np.ndarray]:
    """max_k |W_jk| per input channel j for the given node -> weight-initializer names."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(model_path))
    inits = {i.name: i for i in m.graph.initializer}
    return {node: np.abs(numpy_helper.to_array(inits[w])).max(axis=1) for node, w in weights.items()
            if w in inits}


def study_outliers(fp32: Path, smoothed: Path, feeds: list[dict], nodes: pd.DataFrame,
                   thresholds: Sequence[float] = THRESHOLDS) -> OutlierStudy:
    """Activations of ``nodes`` (rows of :func:`matmul_inputs`) on ``feeds``, before and after smoothing.

    After = X * (1/s): exactly the output of the Mul that ``ORTSmoothQuant`` inserted (folding off).
    """
    scales = smooth_scales(smoothed)
    missing = [n for n in nodes.node if n not in scales]
    if missing:
        raise ValueError(f"ORTSmoothQuant left no scale for {missing[:3]}... in {smoothed}")
    tensors = list(dict.fromkeys(nodes.activation))
    chans = dict(zip(nodes.activation, nodes.channels))
    acts = collect_matmul_inputs(fp32, feeds, tensors, chans)
    sm = smoothed_weights(smoothed, list(nodes.node))
    w_before = weight_in_channel_max(fp32, dict(zip(nodes.node, nodes.weight)))
    w_after = weight_in_channel_max(smoothed, sm)
    rows, before, after = [], {}, {}
    for r in nodes.itertuples(index=False):
        xb = acts[r.activation]
        xa = xb / scales[r.node][None, :]
        before[r.node], after[r.node] = xb, xa
        for stage, x, wmax in (("before", xb, w_before.get(r.node)), ("after", xa, w_after.get(r.node))):
            cm = channel_max(x)
            rows.append({"node": r.node, "layer": r.layer, "kind": r.kind, "stage": stage,
                         "channels": r.channels, "tokens": x.shape[0], "max_abs": float(cm.max()),
                         "median_channel_max": float(np.median(cm)),
                         "max_over_median": float(cm.max() / max(np.median(cm), 1e-12)),
                         "weight_max_abs": float(wmax.max()) if wmax is not None else np.nan,
                         **{f"share{k}": v for k, v in outlier_shares(cm, thresholds).items()}})
    return OutlierStudy(pd.DataFrame(rows), before, after, scales, w_before, w_after)


def smoothed_weights(smoothed: Path, nodes: Sequence[str]) -> dict[str, str]:
    """Weight-initializer name of each node in the smoothed graph (INC rewrites them in place)."""
    import onnx
    m = onnx.load(str(smoothed), load_external_data=False)
    want = set(nodes)
    return {n.name: n.input[1] for n in m.graph.node if n.name in want}


def choose_nodes(table: pd.DataFrame, layers: Sequence[int], kinds: Sequence[str]) -> pd.DataFrame:
    """Rows of :func:`matmul_inputs` for the given layers (negative = from the end) and roles."""
    n_layers = int(table.layer.max()) + 1
    want = {layer % n_layers for layer in layers}
    sel = table[table.layer.isin(want) & table.kind.isin(kinds)]
    if sel.empty:
        raise ValueError(f"no MatMul for layers {list(layers)} and kinds {list(kinds)}; "
                         f"available kinds: {sorted(table.kind.unique())}")
    order = {k: i for i, k in enumerate(kinds)}
    return sel.sort_values(["layer", "kind"], key=lambda c: c.map(order) if c.name == "kind" else c
                           ).reset_index(drop=True)


def token_labels(P: Params, feeds: list[dict]) -> list[str]:
    """Word pieces of the real tokens, in the order of :func:`real_tokens` (for heatmap ticks)."""

    tok = load_tokenizer(resolve_model_dir(P))
    out = []
    for f in feeds:
        for ids, m in zip(f["input_ids"], f["attention_mask"]):
            out.extend(tok.convert_ids_to_tokens([int(i) for i, k in zip(ids, m) if k]))
    return out


# Figure 4's row labels per MatMul role
ROLE_LABELS = {"q": "attn. in (Q)", "k": "attn. in (K)", "v": "attn. in (V)", "attn-out": "attn. out-proj in",
               "ffn-in": "FFN in", "ffn-out": "FFN out-proj in"}


def figure_rows(study: OutlierStudy, chosen: pd.DataFrame) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Figure 4's rows: (label, activations before, after) of each chosen MatMul (:func:`choose_nodes`)."""
    return [(f"L{r.layer} {ROLE_LABELS.get(r.kind, r.kind)}", study.before[r.node], study.after[r.node])
            for r in chosen.itertuples()]


def stage_summary(shares: pd.DataFrame) -> pd.DataFrame:
    """Mean maxima and outlier shares per MatMul role and stage (before / after smoothing)."""
    cols = ["max_abs", "max_over_median"] + [c for c in shares.columns if c.startswith("share>")]
    return shares.groupby(["kind", "stage"], sort=False)[cols].mean()


def result_metrics(alpha: float, study: OutlierStudy, debug: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]],
                   qdq_cosine: Mapping[str, float], n_linear: int) -> dict[str, Any]:
    """The ``metrics`` block of notebook 07's record: channel outlier shares, maxima and max/median before
    and after smoothing, and per variant (``static``, ``smoothquant``) the quantization debugger's mean
    SQNR of MatMul inputs (own Q/DQ and accumulated), of weights, and the QDQ model's cosine to FP32."""
    shares = study.table
    share_cols = [c for c in shares.columns if c.startswith("share>")]
    by_stage = {stage: shares[shares.stage == stage] for stage in ("before", "after")}
    inputs = {v: acts[acts.role == "input"] for v, (acts, _) in debug.items()}
    return {
        "alpha": alpha,
        "channel_shares": {st: {c: float(t[c].mean()) for c in share_cols} for st, t in by_stage.items()},
        "max_abs": {st: float(t.max_abs.max()) for st, t in by_stage.items()},
        "mean_max_over_median": {st: float(t.max_over_median.mean()) for st, t in by_stage.items()},
        "qdq_input_sqnr_db": {v: float(t.qdq_sqnr_db.mean()) for v, t in inputs.items()},
        "xmodel_input_sqnr_db": {v: float(t.xmodel_sqnr_db.mean()) for v, t in inputs.items()},
        "weight_sqnr_db": {v: float(w.sqnr_db.mean()) for v, (_, w) in debug.items()},
        "qdq_mean_cosine_to_fp32": dict(qdq_cosine),
        "n_linear_matmuls": int(n_linear), "debug_tokens": int(shares.tokens.iloc[0]),
    }
