"""Notebook 07's figure (lib.plots.outliers): Figure 4's activation heatmaps, one colour scale per row."""

from __future__ import annotations

import numpy as np

from lib import plots


def test_activation_figure_shares_colour_scale_per_row():
    before = np.array([[0.0, 8.0], [1.0, -2.0], [3.0, 0.5]])  # 3 tokens x 2 channels
    after = before / np.array([4.0, 2.0])
    fig = plots.outliers.activation_figure([("row", before, after)], ("before", "after"), title="Figure 4",
                                           max_tokens=2)
    ims = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(ims) == 2
    for im in ims:
        assert im.get_clim() == (0.0, 8.0)               # the row's max |x|, shared
        assert im.get_array().shape == (2, 2)             # channel x token, tokens capped
    assert np.allclose(ims[1].get_array(), np.abs(after[:2]).T)
    assert fig.get_suptitle() == "Figure 4"
