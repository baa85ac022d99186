"""Reading ONNX graphs: inputs, linear MatMuls and their roles, file sizes.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

log = logging.getLogger("lib.compress.graph")


def onnx_input_names(path: Path) -> list[str]:
    import onnx
    m = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    return [i.name for i in m.graph.input if i.name not in inits]


def linear_matmuls(path: Path) -> list[str]:
    """Names of the MatMul nodes whose weight is a constant: the model's linear layers.

    The attention score MatMuls (two activations) are not in the search space.
    """
    import onnx
    m = onnx.load(str(path), load_external_data=False)
    consts = {i.name for i in m.graph.initializer}
    consts |= {o for n in m.graph.node if n.op_type == "Constant" for o in n.output}
    return [n.name for n in m.graph.node if n.op_type == "MatMul" and n.input[1] in consts]


_KIND_PATTERNS = (("attention.*query", "q"), ("attention.*key", "k"), ("attention.*value", "v"),
                  ("attention.*output", "attn-out"), ("intermediate", "ffn-in"), ("output", "ffn-out"),
                  ("pooler", "pooler"))


def describe_matmul(name: str) -> dict:
    """Layer index and role (q/k/v/attn-out/ffn-in/ffn-out) read from an exported node name."""
    layer = re.search(r"layers?[._/](\d+)", name)
    kind = next((k for pat, k in _KIND_PATTERNS if re.search(pat, name)), "other")
    return {"layer": int(layer.group(1)) if layer else -1, "kind": kind}



_MPNET_ATTN = re.compile(r"attn[./](q|k|v|o)[./]")


_MPNET_KIND = {"q": "q", "k": "k", "v": "v", "o": "attn-out"}


def describe(name: str) -> dict:
    """Layer and role of a MatMul node (``lib.compress.graph.describe_matmul`` plus MPNet's names)."""

    d = describe_matmul(name)
    m = _MPNET_ATTN.search(name)
    if d["kind"] == "other" and m:
        d["kind"] = _MPNET_KIND[m.group(1)]
    return d
