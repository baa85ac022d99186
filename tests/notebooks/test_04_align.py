"""Papermill smoke runs of 04-align on the tiny model: the embedded tier, the licensed tier on synthetic
fixtures, the format 03 chose (``gate-chosen``), and a trained model."""

from __future__ import annotations

import pytest

from lib import params, results
from tests.test_formats import _quantize_record


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


@pytest.mark.notebook
def test_04_align_embedded(run_notebook):
    run_notebook("04-align", formats=["fp32-torch", "onnx-fp32"])
    r = results.read_result("tiny", "04-align")
    m = r.metrics.formats
    assert set(m) == {"fp32-torch", "onnx-fp32"}
    assert m["fp32-torch"].n_sources == 60 and 0 <= m["fp32-torch"].acc_at_1 <= m["fp32-torch"].acc_at_10 <= 1
    # FP32 torch and ONNX FP32 must align the same way
    assert abs(m["fp32-torch"].mrr - m["onnx-fp32"].mrr) < 0.02
    assert r.data.tier == "embedded" and r.data.hpo_version
    assert r.versions["torch"].startswith("2.13.0")


@pytest.mark.notebook
def test_04_align_licensed_fixture(run_notebook, licensed_fixtures):
    run_notebook("04-align", formats=["fp32-torch"], umls_mrconso=str(licensed_fixtures["umls_mrconso"]),
                 lay_lexicon=str(licensed_fixtures["lay_lexicon"]), max_targets=None, max_sources=None)
    r = results.read_result("tiny", "04-align")
    assert r.data.tier == "licensed" and r.metrics.formats["fp32-torch"].n_targets == 6
