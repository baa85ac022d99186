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
