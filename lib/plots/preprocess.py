"""Figures of notebook 01 (data integrity)."""

from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from lib.plots.style import PAPER_WIDTH_IN


def lengths_figure(lengths: Mapping[str, np.ndarray], title: str = "") -> Figure:
    """Box plots of per-table string lengths (tokens), log scale: outliers stay visible (01-lengths).

    ``lengths``: table name -> tokens per string. Empty strings are drawn at 1 (log scale).
    """
    fig, ax = plt.subplots(figsize=(PAPER_WIDTH_IN, 0.25 * len(lengths) + 1.2))
    names = list(lengths)
    ax.boxplot([np.maximum(np.asarray(lengths[n], float), 1) for n in names], vert=False,
               tick_labels=names, flierprops={"markersize": 2})
    ax.set_xscale("log")
    ax.set_xlabel("tokens per string (log scale)")
    ax.set_title(title)
    return fig
