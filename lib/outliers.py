"""Activation outliers before and after SmoothQuant, and ONNX Runtime's quantization debug (Figure 4).

Two library pieces do the work:

* Neural Compressor 3.7.1 ``ORTSmoothQuant`` (the class ONNX Runtime's ``SmoothQuant`` hook and
  ``lib.quantize`` call) computes s_j = max|X_j|^alpha / max|W_j|^(1-alpha) per input channel of each
  linear MatMul. We run it with ``folding=False`` so that every scale stays visible in the graph as a
  ``<node>_smooth_scale`` initializer (= 1/s_j) feeding a ``Mul`` in front of the MatMul: the smoothed
  activation is X_j / s_j by construction, and the scales are read from that graph, not recomputed.
* ``onnxruntime.quantization.qdq_loss_debug`` saves the MatMul inputs of the FP32 graph
  (``collect_activations``) and compares FP32 with QDQ-quantized tensors (``compute_activation_error``,
  ``compute_weight_error``: signal-to-quantization-noise ratio in dB, higher is better).
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .params import Params

log = logging.getLogger("lib.outliers")

THRESHOLDS: tuple[float, ...] = (2.5, 5.0, 7.5)
SMOOTH_SCALE_SUFFIX = "_smooth_scale"
# MPNet names its attention projections attention/attn/{q,k,v,o}; lib.quantize.describe_matmul reads
# BERT names (query/key/value/output) only, so those come back as "other" there.
_MPNET_ATTN = re.compile(r"attn[./](q|k|v|o)[./]")
_MPNET_KIND = {"q": "q", "k": "k", "v": "v", "o": "attn-out"}


def describe(name: str) -> dict:
    """Layer and role of a MatMul node (``lib.quantize.describe_matmul`` plus MPNet's names)."""
    from .quantize import describe_matmul

    d = describe_matmul(name)
    m = _MPNET_ATTN.search(name)
    if d["kind"] == "other" and m:
        d["kind"] = _MPNET_KIND[m.group(1)]
    return d


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
                         "channels": int(w.shape[0]), **describe(n.name)})
    return pd.DataFrame(rows)


def smooth_scales(smoothed_path: Path) -> dict[str, np.ndarray]:
    """s_j per smoothed MatMul node, read back from the ``<node>_smooth_scale`` (= 1/s) initializers."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(smoothed_path))
    return {i.name[:-len(SMOOTH_SCALE_SUFFIX)]: 1.0 / numpy_helper.to_array(i).astype(np.float64).ravel()
            for i in m.graph.initializer if i.name.endswith(SMOOTH_SCALE_SUFFIX)}


def smoothed_unfolded(src: Path, feeds: list[dict], alpha: float, out: Path) -> Path:
    """FP32 graph smoothed by ``ORTSmoothQuant`` with the scales kept as explicit Mul nodes."""
    import onnx
    from neural_compressor.adaptor.ox_utils.smooth_quant import ORTSmoothQuant

    from .export import cached_onnx

    def build(tmp: Path) -> None:
        sq = ORTSmoothQuant(onnx.load(str(src)), ((f, None) for f in feeds), False)
        sq.transform(alpha, folding=False).save(str(tmp))
    return cached_onnx(out, build)


# ---------------------------------------------------------------------------------------------
# Activations


def collect_matmul_inputs(model_path: Path, feeds: list[dict], tensors: Sequence[str],
                          channels: dict[str, int]) -> dict[str, np.ndarray]:
    """``collect_activations`` on the MatMul inputs; each tensor as (real tokens, channels).

    ORT saves every tensor flattened; each feed's (batch, sequence) shape and the weight's in-channels
    give the shape back, and the attention mask drops padding positions.
    """
    from onnxruntime.quantization.qdq_loss_debug import (collect_activations,
                                                         modify_model_output_intermediate_tensors)

    from .quantize import FeedReader

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
    want = {l % n_layers for l in layers}
    sel = table[table.layer.isin(want) & table.kind.isin(kinds)]
    if sel.empty:
        raise ValueError(f"no MatMul for layers {list(layers)} and kinds {list(kinds)}; "
                         f"available kinds: {sorted(table.kind.unique())}")
    order = {k: i for i, k in enumerate(kinds)}
    return sel.sort_values(["layer", "kind"], key=lambda c: c.map(order) if c.name == "kind" else c
                           ).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# ONNX Runtime quantization debug: FP32 vs QDQ


def qdq_static(src: Path, out: Path, feeds: list[dict]) -> Path:
    """Static INT8 QDQ model of the linear MatMuls, for the debug comparison only.

    Same settings as ``lib.quantize.static_int8`` (u8 activations, s8 per-channel weights, MinMax).
    ORT's calibrator keeps every MatMul tensor of every calibration batch in memory (about 3 GB per
    batch of 32 x 128 tokens on a BERT-base model: the full padded calibration set ran out of memory
    here, and two such batches still took 8 GB), so callers pass a few dozen unpadded sentences
    (:func:`debug_feeds`). ``CalibMaxIntermediateOutputs`` is no way out: in ONNX Runtime 1.31 it
    discards the collected batches instead of reducing them.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from .quantize import FeedReader, linear_matmuls

    from .export import cached_onnx

    return cached_onnx(out, lambda tmp: quantize_static(
        str(src), str(tmp), FeedReader(feeds), quant_format=QuantFormat.QDQ,
        op_types_to_quantize=["MatMul"], nodes_to_quantize=linear_matmuls(src), per_channel=True,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax, extra_options={"MatMulConstBOnly": True}))


def qdq_debug(float_model: Path, qdq_model: Path, feeds: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-tensor activation error and per-weight error (SQNR, dB) between a float and a QDQ model.

    ``qdq_err``: the tensor before vs after its own QuantizeLinear/DequantizeLinear pair;
    ``xmodel_err``: the float model's tensor vs the QDQ model's dequantized tensor (error accumulated
    through all earlier quantized layers).
    """
    from onnxruntime.quantization.qdq_loss_debug import (collect_activations, compute_activation_error,
                                                         compute_weight_error, create_activation_matching,
                                                         create_weight_matching,
                                                         modify_model_output_intermediate_tensors)

    from .quantize import FeedReader

    with tempfile.TemporaryDirectory(prefix="qdqdebug.") as tmp:
        aug_f, aug_q = Path(tmp) / "float.onnx", Path(tmp) / "qdq.onnx"
        modify_model_output_intermediate_tensors(str(float_model), str(aug_f), op_types_for_saving=["MatMul"])
        modify_model_output_intermediate_tensors(str(qdq_model), str(aug_q),
                                                 op_types_for_saving=["QuantizeLinear", "DequantizeLinear"])
        _drop_weight_outputs(aug_q)
        f_acts = collect_activations(str(aug_f), FeedReader(feeds))
        q_acts = collect_activations(str(aug_q), FeedReader(feeds))
    match = create_activation_matching(q_acts, f_acts)
    match = {k: v for k, v in match.items() if "float" in v}  # tensors both graphs have
    act_err = compute_activation_error(match)
    consumers, producers, weight_users = matmul_links(qdq_model)
    rows = []
    for name, err in act_err.items():
        if name in consumers:
            role, desc = "input", [describe(u) for u in consumers[name]]
        elif name in producers:
            role, desc = "output", [describe(producers[name])]
        else:
            role, desc = "other", [{"layer": -1, "kind": "other"}]
        rows.append({"tensor": name, "role": role, "layer": desc[0]["layer"],
                     "kind": "/".join(sorted({d["kind"] for d in desc})),
                     "qdq_sqnr_db": err.get("qdq_err"), "xmodel_sqnr_db": err.get("xmodel_err")})
    acts = pd.DataFrame(rows).sort_values(["role", "layer", "kind", "tensor"]).reset_index(drop=True)
    w_err = compute_weight_error(create_weight_matching(str(float_model), str(qdq_model)))
    weights = pd.DataFrame([{"weight": k, **describe(weight_users.get(k, "")), "sqnr_db": v}
                            for k, v in w_err.items()])
    return acts, weights.sort_values(["layer", "kind"]).reset_index(drop=True)


def _drop_weight_outputs(augmented: Path) -> None:
    """Stop saving dequantized *weights*: ORT's augmentation saves every DequantizeLinear output, so
    each debug run would return a float copy of all weights (9 GB peak on MPNet-base for 16 runs);
    weights are compared once by ``create_weight_matching`` instead."""
    import onnx
    from onnxruntime.quantization.qdq_loss_debug import _TENSOR_SAVE_POSTFIX

    m = onnx.load(str(augmented))
    inits = {i.name for i in m.graph.initializer}
    weight_dq = {n.output[0] for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits}
    drop = {t + _TENSOR_SAVE_POSTFIX for t in weight_dq}
    keep_out = [o for o in m.graph.output if o.name not in drop]
    keep_nodes = [n for n in m.graph.node if not (set(n.output) & drop)]
    del m.graph.output[:]
    m.graph.output.extend(keep_out)
    del m.graph.node[:]
    m.graph.node.extend(keep_nodes)
    onnx.save(m, str(augmented))


def matmul_links(qdq_model: Path) -> tuple[dict[str, list[str]], dict[str, str], dict[str, str]]:
    """In a QDQ graph: float tensor -> MatMuls consuming its dequantized copy; MatMul output ->
    its MatMul; float weight name -> its MatMul (names follow ORT's ``_quantized`` convention)."""
    import onnx
    from onnxruntime.quantization.quant_utils import TENSOR_NAME_QUANT_SUFFIX

    m = onnx.load(str(qdq_model), load_external_data=False)
    q_src = {n.output[0]: n.input[0] for n in m.graph.node if n.op_type == "QuantizeLinear"}
    dq_src = {n.output[0]: q_src.get(n.input[0], n.input[0]) for n in m.graph.node
              if n.op_type == "DequantizeLinear"}
    consumers: dict[str, list[str]] = {}
    producers: dict[str, str] = {}
    weights: dict[str, str] = {}
    for n in m.graph.node:
        if n.op_type != "MatMul":
            continue
        if n.input[0] in dq_src:
            consumers.setdefault(dq_src[n.input[0]], []).append(n.name)
        w = dq_src.get(n.input[1], n.input[1])
        weights[w[:-len(TENSOR_NAME_QUANT_SUFFIX)] if w.endswith(TENSOR_NAME_QUANT_SUFFIX) else w] = n.name
        producers[n.output[0]] = n.name
    return consumers, producers, weights


def summarize_debug(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Mean SQNR of the MatMul inputs per (layer, role) for each variant (e.g. static INT8 vs SmoothQuant + static INT8)."""
    parts = []
    for variant, t in tables.items():
        t = t[(t.layer >= 0) & (t.role == "input")].copy()
        # per-op smoothing splits the shared Q/K/V input into three tensors: compare them as one role
        t["kind"] = t["kind"].replace({"q": "k/q/v", "k": "k/q/v", "v": "k/q/v"})
        g = t.groupby(["layer", "kind"])[["qdq_sqnr_db", "xmodel_sqnr_db"]].mean()
        g.columns = [f"{c} [{variant}]" for c in g.columns]
        parts.append(g)
    return pd.concat(parts, axis=1).reset_index() if parts else pd.DataFrame()


def debug_feeds(P: Params, texts: Sequence[str], n: int, max_len: int) -> list[dict]:
    """One unpadded feed per sentence for the debug runs: every position is a real token, so the
    per-tensor errors and the channel maxima are not diluted by padding."""
    from .encode import load_tokenizer, resolve_model_dir
    from .export import unfused_onnx
    from .quantize import onnx_input_names

    tok = load_tokenizer(resolve_model_dir(P))
    names = onnx_input_names(unfused_onnx(P))
    feeds = []
    for text in list(texts)[:n]:
        enc = tok([text], truncation=True, max_length=max_len, return_tensors="np")
        feed = {k: np.asarray(enc[k], dtype=np.int64) for k in names if k in enc}
        if "token_type_ids" in names and "token_type_ids" not in feed:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        feeds.append(feed)
    return feeds


def token_labels(P: Params, feeds: list[dict]) -> list[str]:
    """Word pieces of the real tokens, in the order of :func:`real_tokens` (for heatmap ticks)."""
    from .encode import load_tokenizer, resolve_model_dir

    tok = load_tokenizer(resolve_model_dir(P))
    out = []
    for f in feeds:
        for ids, m in zip(f["input_ids"], f["attention_mask"]):
            out.extend(tok.convert_ids_to_tokens([int(i) for i, k in zip(ids, m) if k]))
    return out
