"""Notebook 01's figure (lib.plots.preprocess): text lengths per set."""

from __future__ import annotations

import numpy as np

from lib import plots


def test_lengths_figure():
    fig = plots.preprocess.lengths_figure({"a": np.array([1, 2, 30]), "b": np.array([0, 4])}, title="t")
    ax, = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert ax.get_xscale() == "log" and ax.get_title() == "t"
