"""Figures of notebook 04 (alignment of lay terms to concepts)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lib.plots.style import PAPER_WIDTH_IN, format_color, format_label


def accuracy_figure(frame: pd.DataFrame, metrics: list[str], title: str = "", ylabel: str = "score") -> Figure:
    """Grouped bars (one group per metric, one bar per format) with 95% CI error bars (04-align-accuracy).

    ``frame``: index = format, columns = metric names and ``<metric>_lo`` / ``<metric>_hi``.
    """
    fig, ax = plt.subplots(figsize=(PAPER_WIDTH_IN, 2.8))
    n = len(frame.index)
    width = 0.8 / max(n, 1)
    x = np.arange(len(metrics))
    for i, fmt in enumerate(frame.index):
        vals = frame.loc[fmt, metrics].to_numpy(float)
        lo = frame.loc[fmt, [f"{m}_lo" for m in metrics]].to_numpy(float)
        hi = frame.loc[fmt, [f"{m}_hi" for m in metrics]].to_numpy(float)
        ax.bar(x + (i - (n - 1) / 2) * width, vals, width, label=format_label(fmt),
               color=format_color(fmt), yerr=[vals - lo, hi - vals], capsize=2)
    ax.set_xticks(x, metrics)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(ncols=min(n, 4), loc="upper left", frameon=False)
    return fig
