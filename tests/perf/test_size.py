"""lib.perf.size: the one model-size function of the gate and the benchmark."""

from __future__ import annotations

import pytest

from lib.perf import size

MB = 2**20


def test_files_size_counts_external_data_and_skips_missing(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"x" * MB)
    (tmp_path / "m.onnx.data").write_bytes(b"x" * (2 * MB))
    (tmp_path / "w.pt").write_bytes(b"x" * (MB // 2))
    assert size.files_size_mb([tmp_path / "m.onnx"]) == 3.0
    assert size.files_size_mb([tmp_path / "m.onnx", tmp_path / "w.pt", tmp_path / "gone.onnx"]) == 3.5


def test_model_size_onnx_then_weights(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"x" * MB)
    (tmp_path / "pytorch_model.bin").write_bytes(b"x" * (4 * MB))   # the same weights again: not counted
    (tmp_path / "m.onnx").write_bytes(b"x" * (2 * MB))
    assert size.model_size_mb("fp32-torch", tmp_path) == 1.0
    assert size.model_size_mb("onnx-fp32", tmp_path, onnx=tmp_path / "m.onnx") == 2.0
    (tmp_path / "model.safetensors").unlink()
    assert size.model_size_mb("fp32-torch", tmp_path) == 4.0
    with pytest.raises(ValueError, match="neither an ONNX file nor a model folder"):
        size.model_size_mb("fp32-torch")


def test_torch_int8_is_its_quantized_state_dict():
    """torch-int8 ships its quantized weights: smaller than the FP32 weight files of the same model."""
    from lib import params
    from lib.engines import hub
    model_dir = hub.resolve_model_dir(params.load("tiny"))
    fp32, int8 = size.model_size_mb("fp32-torch", model_dir), size.model_size_mb("torch-int8", model_dir)
    assert 0 < int8 < fp32
