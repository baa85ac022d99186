"""Notebook 03's figures (lib.plots.quantize): per-node sensitivity, the alpha sweep, the gate (labels never
overlap)."""

from __future__ import annotations

import pandas as pd
import pytest

from lib import plots


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_sensitivity_figure_marks_the_fp32_fallback():
    sens = pd.DataFrame({"node": ["a", "b", "c"], "layer": [1, 0, 0], "kind": ["q", "ffn-in", "q"],
                         "order": [0, 1, 0], "loss": [0.1, 0.01, 0.001]})
    fig = plots.quantize.sensitivity_figure(sens, keep_fp32=["a"], method="qdq-debug", title="t")
    ax, = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["L0 q", "L0 ffn-in", "L1 q"]   # graph order
    red = [p.get_facecolor()[:3] for p in ax.patches]
    assert red[2] != red[0] and red[0] == red[1]                  # only node a (L1 q) kept FP32
    assert "noise" in ax.get_ylabel() and ax.get_yscale() == "log"


def test_alpha_sweep_figure():
    sweep = pd.DataFrame({"alpha": [0.3, 0.5, 0.3, 0.5, None, None], "n_fp32": [0, 0, 2, 2, 0, 2],
                          "mean_cosine": [0.95, 0.96, 0.99, 0.995, 0.9, 0.97],
                          "smoothquant": [True, True, True, True, False, False]})
    fig = plots.quantize.alpha_sweep_figure(sweep, gate_min_cosine=0.99)
    ax, = fig.axes
    assert _legend(ax) == ["0 MatMul(s) FP32", "2 MatMul(s) FP32", "gate"]
    assert {ln.get_ydata()[0] for ln in ax.lines if ln.get_linestyle() == ":"} == {0.9, 0.97}


def _gate_table() -> pd.DataFrame:
    """A gate table where static INT8 without SmoothQuant lands exactly on dynamic INT8 (the defect)."""
    return pd.DataFrame({
        "format": ["fp32-torch", "onnx-fp32", "onnx-int8-dynamic", "onnx-int8-static:no-smoothquant",
                   "onnx-int8-dynamic:per-tensor", "onnx-int8-smoothquant", "onnx-int8-smoothquant:QOperator"],
        "passed": [True, True, True, False, False, True, True],
        "sentences_per_s": [100.0, 150.0, 300.0, 300.0, 300.0, 280.0, 280.0],
        "acc1": [0.50, 0.50, 0.49, 0.49, 0.49, 0.495, 0.495]})


def test_gate_figure_labels_every_point():
    fig = plots.quantize.gate_figure(_gate_table(), batch_size=32)
    ax, = fig.axes
    assert sorted(t.get_text() for t in ax.texts) == sorted(
        ["fp32-torch", "onnx-fp32", "dynamic", "static:no-smoothquant", "dynamic:per-tensor", "smoothquant",
         "smoothquant:QOperator"])
    assert ax.get_xlabel() == "sentences / s (batch 32, this CPU)"
    assert len([c for c in ax.collections if c.get_alpha() != 0]) == 7   # one visible marker per format


def _overlapping_labels(fig) -> list[tuple[str, str]]:
    fig.canvas.draw()
    boxes = [(t.get_text(), t.get_window_extent()) for ax in fig.axes for t in ax.texts]
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:] if ba.overlaps(bb)]


@pytest.mark.parametrize("all_on_one_point", [False, True])
def test_gate_figure_labels_never_overlap(all_on_one_point):
    """The 03-gate defect: "static:no-smoothquant" was printed on top of "dynamic" (same point)."""
    import matplotlib
    assert matplotlib.get_backend().lower() == "agg"
    table = _gate_table()
    if all_on_one_point:                                # every variant built the same graph
        table = table.assign(sentences_per_s=200.0, acc1=0.5)
    assert _overlapping_labels(plots.quantize.gate_figure(table, batch_size=32)) == []


def test_overlap_check_can_fail():
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.text(0.5, 0.5, "dynamic")
    ax.text(0.5, 0.5, "static:no-smoothquant")
    assert _overlapping_labels(fig) == [("dynamic", "static:no-smoothquant")]
