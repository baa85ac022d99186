"""ONNX artifacts (lib.compress.export): keyed on the model's content, not its params name; a torn file is
logged, removed and rebuilt.
"""

from __future__ import annotations

import logging

from lib import formats, params
from lib.compress import export
from tests.model_copies import TEXTS, _cos, _model_copy


def test_changing_model_behind_a_params_name_rebuilds_every_format(tmp_path):
    """Before: artifacts/<params name>/onnx-fp32 was reused after `model:` changed (cosine -0.10)."""
    a, b = _model_copy(tmp_path, 0, "a"), _model_copy(tmp_path, 1, "b")
    Pa, Pb = params.load("tiny", model=str(a)), params.load("tiny", model=str(b))
    assert Pa.name == Pb.name
    assert export.artifact_dir(Pa, "onnx-fp32") != export.artifact_dir(Pb, "onnx-fp32")
    ref = formats.load_encoder(Pb).encode(TEXTS, progress=False)
    for fmt in ("onnx-fp32", "onnx-int8-dynamic"):
        export.fused_onnx(Pa)
        vec = formats.load_encoder(Pb, fmt).encode(TEXTS, progress=False)
        assert _cos(vec, ref) > (0.999 if fmt == "onnx-fp32" else 0.9), fmt


def test_truncated_onnx_artifact_is_logged_removed_and_rebuilt(caplog):
    P = params.load("tiny")
    path = export.fused_onnx(P)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with caplog.at_level(logging.WARNING):
        enc = formats.load_encoder(P, "onnx-fp32")
    assert str(path) in caplog.text
    vec = enc.encode(TEXTS, progress=False)
    assert _cos(vec, formats.load_encoder(P).encode(TEXTS, progress=False)) > 0.999


def test_truncated_intermediate_onnx_is_rebuilt(caplog):
    P = params.load("tiny")
    unfused = export.unfused_onnx(P)
    unfused.write_bytes(unfused.read_bytes()[:1000])
    with caplog.at_level(logging.WARNING):
        again = export.unfused_onnx(P)
    export.valid_onnx(again)
    assert str(unfused) in caplog.text
