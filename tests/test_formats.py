"""The format registry (lib.formats): every format and variant loads and encodes like FP32."""

from __future__ import annotations

import numpy as np
import pytest

from lib import formats, params
from lib.evaluate import retrieval


@pytest.fixture(scope="module")
def P():
    return params.load("tiny")


def test_registered_formats_load_through_encode(P):
    ref = formats.load_encoder(P, "fp32-torch").encode(["skin rash", "abnormal heart"], progress=False)
    for fmt in ("onnx-fp32", "onnx-int8-dynamic", "onnx-int8-smoothquant", "torch-int8", *formats.variants(P)):
        vec = formats.load_encoder(P, fmt).encode(["skin rash", "abnormal heart"], progress=False)
        assert vec.shape == ref.shape
        assert np.allclose(np.linalg.norm(vec, axis=1), 1.0, atol=1e-5)
        assert retrieval.mean_cosine(ref, vec) > 0.98, fmt


def test_variants_are_the_ablations_of_params_formats(P):
    assert formats.variants(P) == ["onnx-int8-dynamic:per-tensor", "onnx-int8-smoothquant:QOperator",
                                   "onnx-int8-smoothquant:no-fallback", "onnx-int8-static:no-smoothquant",
                                   "ov-int8:no-smoothquant", f"ov-int8:alpha-{P.smoothquant_alpha:g}"]
    qop = params.load("tiny", quant_format="QOperator")
    assert "onnx-int8-smoothquant:QDQ" in formats.variants(qop)
    paths = {v: formats.artifact(P, v) for v in formats.variants(P)}
    assert len(set(paths.values())) == len(paths)                  # six distinct artifacts
    assert formats.artifact(P, "onnx-int8-dynamic") not in paths.values()
    assert formats.artifact(P, "ov-int8") not in paths.values()


def test_unknown_format_names_the_known_ones(P):
    with pytest.raises(ValueError, match="onnx-int8-dynamic:per-tensor"):
        formats.load_encoder(P, "onnx-int4")
