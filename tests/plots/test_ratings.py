"""Notebook 08's figures (lib.plots.ratings): Figure 5a rating shares, 5b score distributions, 5c complementarity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib import plots


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_rating_figure_shares():
    counts = pd.DataFrame({0: [1, 0], 1: [0, 0], 2: [0, 2], 3: [0, 0], 4: [0, 0], 5: [3, 2]}, index=["a", "b"])
    fig = plots.ratings.rating_figure(counts, title="Figure 5a")
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["25", "0", "0", "0", "0", "75", "0", "0", "50", "0", "0", "50"]
    assert ax.get_title() == "Figure 5a"


def test_score_figure_one_panel_per_model_with_fits():
    rng = np.random.default_rng(0)
    panels = {"A (embedded tier)": {"fp32-torch": (rng.normal(0.6, 0.1, 50), (0.6, 0.1)),
                                    "onnx-int8-dynamic": (rng.normal(0.5, 0.1, 50), (0.5, 0.1))},
              "B (embedded tier)": {"fp32-torch": (rng.normal(0.4, 0.1, 50), (0.4, 0.1))}}
    fig = plots.ratings.score_figure(panels, title="Figure 5b")
    assert [ax.get_title() for ax in fig.axes] == ["A (embedded tier)", "B (embedded tier)"]
    assert _legend(fig.axes[0]) == ["FP32 (PyTorch): mu=0.600, sd=0.100", "INT8 dynamic: mu=0.500, sd=0.100"]
    curve = fig.axes[0].lines[0]
    peak = curve.get_ydata().max()
    assert peak == pytest.approx(1 / (0.1 * np.sqrt(2 * np.pi)), rel=1e-3)      # N(0.6, 0.1) density at its mean


def test_complementarity_figure():
    merged = pd.DataFrame({"score_a": [0.9, 0.5, 0.7, 0.1], "score_b": [0.2, 0.8, 0.6, 0.4],
                           "category": ["both right", "only A right", "only B right", "both wrong"]})
    acc = pd.DataFrame({"acc_a": [0.5], "acc_b": [0.5], "fusion": [0.25], "oracle": [0.75]}, index=["onnx-fp32"])
    fig = plots.ratings.complementarity_figure(merged, acc, "MiniLM", "MPNet", "onnx-fp32", title="Figure 5c")
    ax1, ax2 = fig.axes
    assert ax1.get_xlabel() == "A = MiniLM: top-1 score" and ax1.get_ylabel() == "B = MPNet: top-1 score"
    assert _legend(ax1) == ["both right (1)", "only A right (1)", "only B right (1)", "both wrong (1)"]
    assert _legend(ax2) == ["A MiniLM", "B MPNet", "score fusion", "oracle union"]
    assert [p.get_height() for p in ax2.patches] == pytest.approx([0.5, 0.5, 0.25, 0.75])
