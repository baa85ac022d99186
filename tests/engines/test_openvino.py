"""The OpenVINO engine (lib.engines.openvino) on the tiny model: vectors against PyTorch FP32, batch invariance
of static INT8, and an engine that runs from prebuilt files without torch. (The IR builds and their keys:
tests/compress/test_openvino.py; ``gate-chosen``: tests/test_formats.py.)"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from lib import params
from lib.compress import openvino as ov_build
from lib.data.hpo import load_hpo
from lib.formats import load_encoder


@pytest.fixture
def P(data_mirror):  # ov-int8 calibrates on the public STS-b sentences (the one calibration set)
    return params.load("tiny")


@pytest.fixture(scope="module")
def texts():
    hpo = load_hpo()
    return hpo.lexicon.source_text.iloc[:40].tolist(), hpo.targets.STR.iloc[:300].tolist()


def test_ov_vectors_within_tolerance_of_pytorch_fp32(P, texts):
    probe, _ = texts
    ref = load_encoder(P, "fp32-torch").encode(probe, progress=False)
    fp32 = load_encoder(P, "ov-fp32")
    v = fp32.encode(probe, progress=False)
    assert v.shape == ref.shape and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.abs(v - ref).max() < 1e-4          # FP32 is FP32 (the BF16 default of the CPU plugin is off)
    assert fp32.info["inference_precision"] == "f32" and fp32.info["runtime"] == "openvino"
    int8 = load_encoder(P, "ov-int8").encode(probe, progress=False)
    cos = np.sum(int8 * ref, axis=1)
    assert cos.mean() > 0.99 and np.abs(int8 - ref).max() > 1e-6  # quantized: close, but not FP32


def test_ov_int8_is_batch_invariant_where_dynamic_int8_is_not(P, texts):
    """A string's vector must not depend on its batch-mates (calibrated scales; on the tiny model not at all,
    on MiniLM by <= 3.4e-3: OpenVINO picks other kernels for other batch shapes); ORT's dynamic INT8 computes
    its activation scale per call, so the same comparison moves its vectors."""
    probe, mates = texts

    def moved(fmt: str) -> float:
        enc = load_encoder(P, fmt)
        alone = enc.encode(probe, progress=False)
        mixed = enc.encode(mates + probe, progress=False)[len(mates):]
        single = np.stack([enc.encode([t], progress=False)[0] for t in probe[:10]])
        return float(max(np.abs(alone - mixed).max(), np.abs(alone[:10] - single).max()))

    assert moved("ov-int8") < 1e-5
    assert moved("onnx-int8-dynamic") > 1e-5


def test_the_engine_never_imports_torch(P, tmp_path):
    """The OpenVINO engine runs from prebuilt files without torch (as the benchmark's and Dask's workers do)."""
    import subprocess

    xml = ov_build.ov_int8(P)
    from lib.engines.hub import resolve_model_dir
    code = ("import sys; from pathlib import Path; from lib import params; from lib.engines.openvino import ov_encoder;"
            f"e = ov_encoder(params.load('tiny'), 'ov-int8', Path({str(xml)!r}), model_dir=Path("
            f"{str(resolve_model_dir(P))!r})); v = e.encode(['skin rash'], progress=False);"
            "assert v.shape[0] == 1 and 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
