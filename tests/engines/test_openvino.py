"""The OpenVINO engine and formats on the tiny model (lib.engines.openvino, lib.compress.openvino,
lib.formats): vectors against PyTorch FP32, batch invariance of static INT8, content keys of artifacts
and encoders, a torn IR rebuilt, the gate choosing between ONNX Runtime and OpenVINO, and 04-06's
``gate-chosen`` resolved from 03's record."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pandas as pd
import pytest

from lib import formats, gate, params, results
from lib.compress import openvino as ov_build
from lib.data.hpo import load_hpo
from lib.engines import openvino as ov_engine
from lib.formats import OV_BUILDERS, artifact, load_encoder


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


def _table(rows):
    return pd.DataFrame(rows, columns=["format", "passed", "latency_avg_ms"])


def test_gate_chooses_between_ort_and_openvino_on_a_timing_table():
    """The one rule (fastest passing INT8) picks the engine per machine: OpenVINO where it is faster
    (an AVX-512 VNNI or AMX CPU), ONNX Runtime where it is (AVX2), never a failing or non-INT8 format."""
    vnni = _table([("fp32-torch", True, 90.0), ("onnx-fp32", True, 40.0), ("ov-fp32", True, 18.0),
                   ("onnx-int8-dynamic", True, 20.0), ("onnx-int8-smoothquant", True, 26.0),
                   ("ov-int8", True, 12.0), ("ov-int8:no-smoothquant", True, 11.0)])
    assert gate.choose(vnni) == "ov-int8"              # variants and FP32 formats are never chosen
    avx2 = vnni.assign(latency_avg_ms=[90.0, 40.0, 45.0, 20.0, 26.0, 23.0, 22.0])
    assert gate.choose(avx2) == "onnx-int8-dynamic"
    failing = vnni.assign(passed=[True, True, True, True, True, False, True])
    assert gate.choose(failing) == "onnx-int8-dynamic"
    assert gate.choose(vnni.assign(passed=False)) is None


def _quantize_record(P, chosen, cpu=None):
    """A 03-quantize record with ``chosen`` (fabricated metrics, the real schema and writer)."""
    fmt = {"variant": "default", "passed": True, "reasons": [], "latency_avg_ms": 1.0, "size_mb": 1.0,
           "acc1": 0.5, "energy_j_per_1k": None, "co2_g_per_1k": None}
    formats = {f: {**fmt, "format": f} for f in ("fp32-torch", "onnx-int8-dynamic", "ov-int8")}
    path = results.write_result(P, "03-quantize", identity={}, metrics={"reference": "fp32-torch", "chosen": chosen,
                                                          "formats": formats}, data={"tier": "test"})
    if cpu is not None:
        import json
        rec = json.loads(path.read_text())
        rec["machine"]["cpu"] = cpu
        path.write_text(json.dumps(rec))
    return path


def test_formats_to_run_resolves_gate_chosen(results_dir, capsys):
    P = params.load("tiny", formats=["fp32-torch", "onnx-int8-dynamic", "gate-chosen"])
    assert formats.formats_to_run(params.load("tiny")) == (params.load("tiny").formats, {})
    fmts, info = formats.formats_to_run(P)                    # 03 has not run: said, and skipped
    assert fmts == ["fp32-torch", "onnx-int8-dynamic"] and info["gate_chosen"] is None
    assert "03-quantize has not run" in info["note"] and "03-quantize has not run" in capsys.readouterr().out
    _quantize_record(P, "ov-int8")
    fmts, info = formats.formats_to_run(P)
    assert fmts == ["fp32-torch", "onnx-int8-dynamic", "ov-int8"] and info["gate_chosen"] == "ov-int8"
    assert "note" not in info and info["chosen_on"]["int8_isa"]
    _quantize_record(P, "onnx-int8-dynamic")                 # chosen already listed: run once
    assert formats.formats_to_run(P)[0] == ["fp32-torch", "onnx-int8-dynamic"]
    _quantize_record(P, None)
    assert "passed no INT8 format" in formats.formats_to_run(P)[1]["note"]
    _quantize_record(P, "ov-int8", cpu={"model": "Some Xeon", "isa": ["avx512_vnni", "amx_int8"],
                                        "int8_isa": "AMX-INT8"})
    fmts, info = formats.formats_to_run(P)
    assert fmts[-1] == "ov-int8" and "rerun 03 here" in info["note"] and "Some Xeon" in info["note"]
    with pytest.raises(ValueError, match="not a model format"):
        load_encoder(P, "gate-chosen")
    with pytest.raises(ValueError, match="no format to run"):
        formats.formats_to_run(params.load("tiny", formats=["gate-chosen"]).model_copy(update={"name": "tiny-x"}))


@pytest.mark.notebook
def test_04_align_runs_the_format_03_chose(run_notebook, results_dir, data_mirror):
    P = params.load("tiny")
    _quantize_record(P, "ov-int8")
    run_notebook("04-align", formats=["fp32-torch", "gate-chosen"])
    r = results.read_result("tiny", "04-align")
    assert set(r.metrics.formats) == {"fp32-torch", "ov-int8"}
    assert r.metrics.model_extra["gate_chosen"]["gate_chosen"] == "ov-int8"
    assert abs(r.metrics.formats["fp32-torch"].mrr - r.metrics.formats["ov-int8"].mrr) < 0.05
    assert r.machine.cpu["isa"] is not None and r.machine.cpu["int8_isa"]
