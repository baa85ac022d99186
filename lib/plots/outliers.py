"""Figure 4 of the paper (notebook 07): activation magnitudes before and after SmoothQuant."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure

from lib.plots.style import PAPER_WIDTH_IN, STAGE_COLORS


def activation_figure(rows: Sequence[tuple[str, np.ndarray, np.ndarray]], col_titles: tuple[str, str],
                      title: str = "", cbar_label: str = "|activation|", cmap: str = "magma",
                      max_tokens: int = 96, thresholds: Sequence[float] = (2.5, 5.0, 7.5),
                      gamma: float = 0.5) -> Figure:
    """Figure 4: one row per tensor: before | after heatmaps (channel x token) | channel maxima.

    Both heatmaps of a row share one colour scale (same vmin/vmax and a square-root norm so that
    non-outlier channels stay visible), so smoothing shows as a change of colour, not of scale. The
    third panel plots max_t |x_tj| per channel before and after, with the outlier thresholds.
    ``rows``: ``(label, before, after)`` with (tokens, channels) matrices; at most ``max_tokens``
    tokens are drawn.
    """
    fig, axes = plt.subplots(len(rows), 3, figsize=(PAPER_WIDTH_IN, 1.75 * len(rows) + 0.5), squeeze=False,
                             constrained_layout=True, gridspec_kw={"width_ratios": [1, 1, 0.8]})
    for i, ((label, before, after), ax_row) in enumerate(zip(rows, axes)):
        b, a = np.abs(before[:max_tokens]).T, np.abs(after[:max_tokens]).T
        norm = PowerNorm(gamma, vmin=0.0, vmax=float(max(b.max(), a.max(), 1e-12)))
        for j, (ax, mat) in enumerate(zip(ax_row[:2], (b, a))):
            im = ax.imshow(mat, aspect="auto", cmap=cmap, norm=norm, interpolation="nearest")
            ax.grid(False)
            ax.set_ylabel(f"{label}\nchannel" if j == 0 else "")
            ax.set_xlabel("token" if i == len(rows) - 1 else "")
            if i == 0:
                ax.set_title(col_titles[j])
        fig.colorbar(im, ax=list(ax_row[:2]), label=cbar_label, pad=0.01, fraction=0.04)
        ax = ax_row[2]
        for stage, x in (("before", before), ("after", after)):
            ax.plot(np.abs(x).max(axis=0), lw=0.7, color=STAGE_COLORS[stage], label=stage)
        for t in thresholds:
            ax.axhline(t, color="#555555", lw=0.6, ls="--")
        ax.set_xlim(0, before.shape[1] - 1)
        ax.set_xlabel("channel" if i == len(rows) - 1 else "")
        ax.set_ylabel("max |x| per channel")
        if i == 0:
            ax.set_title("channel maxima")
            ax.legend(loc="upper right", frameon=True)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
