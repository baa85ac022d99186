"""Figures of training runs (lib.train, notebook 11): how fast dev accuracy rises and the loss falls."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import seaborn as sns
from matplotlib.figure import Figure

from lib.plots.style import PAPER_WIDTH_IN


def _series(rows: Sequence[Mapping[str, Any]], x: str, y: str) -> tuple[list[float], list[float]]:
    """(x, y) of the rows that logged ``y`` (an evaluation or a loss is not logged at every row)."""
    pts = [(float(r[x]), float(r[y])) for r in rows
           if r.get(y) is not None and r.get(x) is not None and not math.isnan(float(r[y]))]
    pts.sort()
    return [p[0] for p in pts], [p[1] for p in pts]


def curves_figure(histories: Mapping[str, Sequence[Mapping[str, Any]]], title: str = "") -> Figure:
    """Training curves of one or more runs, one colour per run label: (a) dev Acc@1 against training
    minutes (wall clock: what a recipe costs), (b) training loss against optimizer step.

    ``histories``: run label -> history rows, each with ``step`` and ``minutes``, plus ``dev_acc@1``
    where a dev evaluation happened and ``loss`` where a loss was logged. A run with no such row draws
    no line in that panel; a panel with no line at all says so instead of showing empty axes.
    """
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(PAPER_WIDTH_IN, 2.6))
    colors = sns.color_palette("deep", max(len(histories), 1)).as_hex()
    panels = ((ax_acc, "minutes", "dev_acc@1", "training time (minutes)", "dev Acc@1", "(a) dev Acc@1"),
              (ax_loss, "step", "loss", "optimizer step", "training loss", "(b) training loss"))
    for ax, x, y, xlabel, ylabel, panel_title in panels:
        for color, (label, rows) in zip(colors, histories.items()):
            xs, ys = _series(rows, x, y)
            if xs:
                ax.plot(xs, ys, "-", marker="o" if y == "dev_acc@1" else None, ms=3, lw=1.2, color=color,
                        label=label)
        if not ax.lines:
            ax.text(0.5, 0.5, f"no {ylabel} logged", ha="center", va="center", transform=ax.transAxes,
                    color="0.4")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(panel_title)
    if ax_acc.lines:
        ax_acc.set_ylim(0, 1)
    legend_ax = ax_acc if ax_acc.lines else ax_loss  # one legend: the colours are the same in both
    if legend_ax.lines:
        legend_ax.legend(loc="best", frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
