"""OpenVINO artifacts (lib.compress.openvino) on the tiny model: content keys of the IRs and of the
encoders that run them, and a torn IR removed and rebuilt."""

from __future__ import annotations

import shutil

import pytest

from lib import params
from lib.compress import openvino as ov_build
from lib.engines import openvino as ov_engine
from lib.formats import OV_BUILDERS, artifact, load_encoder


@pytest.fixture
def P(data_mirror):  # ov-int8 calibrates on the public STS-b sentences (the one calibration set)
    return params.load("tiny")


def test_artifact_keys_and_fingerprints_are_content_keys(P, tmp_path):
    fp32, int8 = ov_build.ov_fp32(P), ov_build.ov_int8(P)
    assert fp32.name == int8.name == "model.xml" and fp32.with_suffix(".bin").exists()
    assert ov_build.ov_fp32(P) == fp32 and ov_build.ov_int8(P) == int8            # built once, then reused
    assert artifact(P, "ov-int8") == int8 and set(OV_BUILDERS) == {"ov-fp32", "ov-int8"}
    assert "ov-fp32" in fp32.parts and "ov-int8" in int8.parts
    # every input of the INT8 build is in its key: SmoothQuant alpha, the calibration set
    other_alpha = ov_build.ov_int8_to(P, alpha=0.5)
    assert other_alpha != int8 and other_alpha.parent.parent == int8.parent.parent
    other_cal = ov_build.ov_int8(params.load("tiny", calibration_size=12))
    assert other_cal != int8 and ov_build.ov_fp32(params.load("tiny", calibration_size=12)) == fp32
    # the encoder's fingerprint: format, IR bytes (XML and weights), batching, openvino version, precision
    e8, e32 = load_encoder(P, "ov-int8"), load_encoder(P, "ov-fp32")
    assert e8.fingerprint != e32.fingerprint and "ov-int8" in e8.fingerprint
    assert e8.fingerprint == load_encoder(P, "ov-int8").fingerprint
    copy = tmp_path / "ir"
    shutil.copytree(int8.parent, copy)
    model_fp = e8.info["model_fingerprint"]
    same = ov_engine.ir_fingerprint(model_fp, "ov-int8", e8.batching, copy / "model.xml")
    assert same == e8.fingerprint
    weights = copy / "model.bin"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert ov_engine.ir_fingerprint(model_fp, "ov-int8", e8.batching, copy / "model.xml") != e8.fingerprint
    assert ov_engine.ir_fingerprint(model_fp, "ov-int8", e8.batching, int8, precision="bf16") != e8.fingerprint
    other_batching = params.load("tiny", ort_token_budget=64)
    assert load_encoder(other_batching, "ov-int8").fingerprint != e8.fingerprint


def test_a_torn_ir_is_removed_and_rebuilt(P, caplog):
    xml = ov_build.ov_fp32(P)
    xml.with_suffix(".bin").unlink()                     # an interrupted copy: XML without its weights
    again = ov_build.ov_fp32(P)
    assert again == xml and xml.with_suffix(".bin").exists()
    assert "failed to load" in caplog.text and "removing it and rebuilding" in caplog.text
