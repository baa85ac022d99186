"""ONNX Runtime's quantization debugger: per-tensor SQNR between an FP32 graph and its QDQ model.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Sequence

import pandas as pd

from lib.compress.calibration import FeedReader, text_feeds
from lib.compress.export import unfused_onnx
from lib.compress.graph import describe_matmul, onnx_input_names
from lib.engines.hub import load_tokenizer, resolve_model_dir
from lib.params import Params

log = logging.getLogger("lib.compress.qdq_debug")


def qdq_debug(float_model: Path, qdq_model: Path, feeds: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-tensor activation error and per-weight error (SQNR, dB) between a float and a QDQ model.

    ``qdq_err``: the tensor before vs after its own QuantizeLinear/DequantizeLinear pair;
    ``xmodel_err``: the float model's tensor vs the QDQ model's dequantized tensor (error accumulated
    through all earlier quantized layers).
    """
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        compute_activation_error,
        compute_weight_error,
        create_activation_matching,
        create_weight_matching,
        modify_model_output_intermediate_tensors,
    )


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
            role, desc = "input", [describe_matmul(u) for u in consumers[name]]
        elif name in producers:
            role, desc = "output", [describe_matmul(producers[name])]
        else:
            role, desc = "other", [{"layer": -1, "kind": "other"}]
        rows.append({"tensor": name, "role": role, "layer": desc[0]["layer"],
                     "kind": "/".join(sorted({d["kind"] for d in desc})),
                     "qdq_sqnr_db": err.get("qdq_err"), "xmodel_sqnr_db": err.get("xmodel_err")})
    acts = pd.DataFrame(rows).sort_values(["role", "layer", "kind", "tensor"]).reset_index(drop=True)
    w_err = compute_weight_error(create_weight_matching(str(float_model), str(qdq_model)))
    weights = pd.DataFrame([{"weight": k, **describe_matmul(weight_users.get(k, "")), "sqnr_db": v}
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
    """Mean SQNR of the MatMul inputs per (layer, role) for each variant (e.g. static INT8 vs
    SmoothQuant + static INT8)."""
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
    """One unpadded feed per sentence for the debug runs (:func:`lib.compress.calibration.text_feeds`
    with one row per batch): every position is a real token, so the per-tensor errors and the channel
    maxima are not diluted by padding. Also the calibration feeds of the debug QDQ models: ORT's
    calibrator keeps every MatMul tensor of every batch in memory (about 3 GB per batch of 32 x 128
    tokens on a BERT-base model; ``CalibMaxIntermediateOutputs`` discards batches in ORT 1.31 instead
    of reducing them), so those are calibrated on a few dozen unpadded sentences."""
    tok = load_tokenizer(resolve_model_dir(P))
    return text_feeds(tok, list(texts)[:n], onnx_input_names(unfused_onnx(P)), 1, None, max_length=max_len)
