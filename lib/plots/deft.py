"""Figures of notebooks 05 (DEFT Task 1, the paper's Figure 3) and 06 (DEFT Task 2 MAP)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lib.plots.style import FORMAT_COLORS, PAPER_WIDTH_IN

REGRESSOR_COLORS = {"linear": "#4C72B0", "svr-rbf": "#DD8452", "random-forest": "#55A868", "poly-3": "#C44E52"}


def regression_figure(panels: Sequence[tuple[str, Sequence[float], Sequence[float], Mapping[str, Any]]],
                      title: str = "", xlabel: str = "predicted similarity (mapped to 0-5)") -> Figure:
    """Figure 3: per data set, test pairs (predicted vs gold) and each regressor's curve, held-out R^2.

    ``panels``: one ``(label, x_test, y_test, fits)`` per data set, ``fits`` as returned by
    ``lib.evaluate.regression.compare_regressors`` (regressor -> ``curve_x``, ``curve_y``, ``r2_test``).
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(PAPER_WIDTH_IN, 3.2), squeeze=False)
    for ax, (label, x_test, y_test, fits) in zip(axes[0], panels):
        ax.scatter(x_test, y_test, s=8, alpha=0.35, color="#888888", label="test pairs")
        for name, f in fits.items():
            order = np.argsort(f["curve_x"])
            ax.plot(np.asarray(f["curve_x"])[order], np.asarray(f["curve_y"])[order],
                    color=REGRESSOR_COLORS.get(name), lw=1.6, label=f"{name}  R²={f['r2_test']:.3f}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("gold similarity (0-5)")
        ax.set_title(label, fontsize=7)
        ax.legend(loc="upper left", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return fig


def task2_map_figure(frame: pd.DataFrame, paper_rows: Sequence[Mapping[str, float]] = (),
                     title: str = "") -> Figure:
    """DEFT Task 2: bars of map-1/2/3, their mean and P@1 per data set; the paper's values as dashes.

    ``frame``: index = metric (``map_1`` ... ``p_at_1``), one column per data set. ``paper_rows``: the
    paper's reported rows; each metric of the index that a row has is marked at its bar group.
    """
    fig, ax = plt.subplots(figsize=(PAPER_WIDTH_IN, 2.8))
    frame.plot.bar(ax=ax, rot=0)
    for row in paper_rows:
        at = [(i, row[m]) for i, m in enumerate(frame.index) if row.get(m) is not None]
        ax.scatter([i for i, _ in at], [v for _, v in at], marker="_", s=300, color=FORMAT_COLORS["paper"],
                   zorder=3)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    return fig
