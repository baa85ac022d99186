"""Reading ONNX graphs (lib.compress.graph)."""

from __future__ import annotations

import pytest

from lib.compress import graph


@pytest.mark.parametrize("name,want", [
    ("/m/encoder/layer.3/output/dense/MatMul", {"layer": 3, "kind": "ffn-out"}),
    ("/m/encoder/layer.0/attention/output/dense/MatMul", {"layer": 0, "kind": "attn-out"}),
    ("/m/encoder/layer.11/intermediate/dense/MatMul", {"layer": 11, "kind": "ffn-in"}),
    ("/m/encoder/layer.1/attention/self/value/MatMul", {"layer": 1, "kind": "v"}),
    ("/m/encoder/layer.1/attention/self/query/MatMul", {"layer": 1, "kind": "q"}),
    # MPNet's names: attention/attn/{q,k,v,o}
    ("/m/encoder/layer.2/attention/attn/q/MatMul", {"layer": 2, "kind": "q"}),
    ("/m/encoder/layer.2/attention/attn/k/MatMul", {"layer": 2, "kind": "k"}),
    ("/m/encoder/layer.2/attention/attn/v/MatMul", {"layer": 2, "kind": "v"}),
    ("/m/encoder/layer.2/attention/attn/o/MatMul", {"layer": 2, "kind": "attn-out"}),
    ("/m/pooler/dense/MatMul", {"layer": -1, "kind": "pooler"}),
    ("/something/else", {"layer": -1, "kind": "other"}),
])
def test_describe_matmul_reads_layer_and_role_of_bert_and_mpnet(name, want):
    assert graph.describe_matmul(name) == want


def test_linear_matmuls_and_inputs_of_the_tiny_export(cal):
    names = graph.linear_matmuls(cal.unfused)
    assert len(names) == 12                              # 2 layers x 6 linear layers
    assert {graph.describe_matmul(n)["kind"] for n in names} == {"q", "k", "v", "attn-out", "ffn-in", "ffn-out"}
    assert graph.onnx_input_names(cal.unfused) == ["input_ids", "attention_mask", "token_type_ids"]


@pytest.mark.parametrize("name,layer,kind", [
    ("/m/encoder/layer.3/attention/self/query/MatMul", 3, "q"),
    ("/m/encoder/layer.0/attention/attn/q/MatMul", 0, "q"),      # MPNet
    ("/m/encoder/layer.1/attention/attn/o/MatMul", 1, "attn-out"),
    ("/m/encoder/layer.1/intermediate/dense/MatMul", 1, "ffn-in"),
])
def test_describe_roles(name, layer, kind):
    from lib.compress.graph import describe_matmul
    assert describe_matmul(name) == {"layer": layer, "kind": kind}
