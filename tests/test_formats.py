"""The format registry (lib.formats): every format and variant loads and encodes like FP32, unknown formats
are named, olive-best keeps its tuned session options, and 04-06's ``gate-chosen`` resolves from 03's record."""

from __future__ import annotations

import numpy as np
import pytest

from lib import formats, params, results
from lib.compress import export
from lib.evaluate import retrieval
from lib.formats import load_encoder


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


def test_olive_best_keeps_its_tuned_session_options(monkeypatch):
    """olive-best opens its artifact with the search's tuned SessionOptions on top of ours."""
    import onnxruntime as ort

    P = params.load("tiny")
    basic = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    monkeypatch.setitem(formats.ONNX_BUILDERS, "olive-best", export.fused_onnx)
    monkeypatch.setitem(formats.SESSION_OPTIONS, "olive-best", lambda P: {"graph_optimization_level": basic})
    assert formats.load_encoder(P, "olive-best").session.get_session_options().graph_optimization_level == basic
    assert formats.load_encoder(P, "onnx-fp32").session.get_session_options().graph_optimization_level != basic


def test_unknown_format():
    with pytest.raises(ValueError, match="unknown format"):
        formats.load_encoder(params.load("tiny"), "int3")


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
