"""Reading ONNX graphs: the model's inputs, its linear MatMuls and the role of each (layer, q/k/v, ...).
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


# Node-name patterns of each role, first match wins: BERT's exported names (attention/self/query, ...,
# intermediate, output) and MPNet's (attention/attn/{q,k,v,o}).
_KIND_PATTERNS = (("attention.*query", "q"), ("attention.*key", "k"), ("attention.*value", "v"),
                  (r"attn[./]q[./]", "q"), (r"attn[./]k[./]", "k"), (r"attn[./]v[./]", "v"),
                  (r"attn[./]o[./]", "attn-out"), ("attention.*output", "attn-out"), ("intermediate", "ffn-in"),
                  ("output", "ffn-out"), ("pooler", "pooler"))


def describe_matmul(name: str) -> dict:
    """Layer index and role (q/k/v/attn-out/ffn-in/ffn-out/pooler, else other) read from an exported
    MatMul node name, for BERT and MPNet graphs alike (the one describer: sensitivity tables, the
    quantization debugger and the outlier figure all label layers with it)."""
    layer = re.search(r"layers?[._/](\d+)", name)
    kind = next((k for pat, k in _KIND_PATTERNS if re.search(pat, name)), "other")
    return {"layer": int(layer.group(1)) if layer else -1, "kind": kind}
