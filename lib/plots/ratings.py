"""Figure 5 of the paper (notebook 08): ratings heatmap (a), score distributions (b), complementarity (c)."""

from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from lib.plots.style import FONT_SIZE, MODEL_LINESTYLES, PAPER_WIDTH_IN, figsize, format_color, format_label

CATEGORY_COLORS = {"both right": "#55A868", "only A right": "#4C72B0", "only B right": "#DD8452",
                   "both wrong": "#BBBBBB"}


def rating_figure(counts: pd.DataFrame, title: str = "", cmap: str = "Blues") -> Figure:
    """Figure 5a: rows = model x format, columns = rating 0-5; cells = share of alignments, in %.

    ``counts``: alignments per rating (one row per model x format); rows are normalised to shares so
    that models rated on different numbers of sources compare.
    """
    fig, ax = plt.subplots(figsize=(PAPER_WIDTH_IN, max(2.0, 0.32 * len(counts) + 1.0)))
    shares = counts.div(counts.sum(axis=1).replace(0, np.nan), axis=0)
    sns.heatmap(shares, ax=ax, cmap=cmap, vmin=0, vmax=1, annot=shares.map(lambda v: f"{100 * v:.0f}"),
                fmt="", cbar_kws={"label": "share"}, linewidths=0.5, linecolor="white",
                annot_kws={"fontsize": FONT_SIZE})
    ax.set_xlabel("rating (0 unrelated ... 5 same concept); cells: % of alignments")
    ax.set_ylabel("")
    if title:
        ax.set_title(title)
    return fig


def _normal_pdf(x: np.ndarray, mu: float, sd: float) -> np.ndarray:
    """Density of N(mu, sd) on x; in numpy because lib.plots depends on drawing libraries only."""
    sd = max(sd, 1e-9)
    return np.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))


def score_figure(panels: Mapping[str, Mapping[str, tuple[np.ndarray, tuple[float, float]]]], title: str = "",
                 bins: int = 40) -> Figure:
    """Figure 5b: per model, histograms (density) of alignment scores per format with fitted normals.

    ``panels``: panel title (a model) -> format -> (top-1 scores, (mu, sigma) of the fitted normal).
    Within a panel all formats share one set of bin edges so their histograms compare.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=figsize(1.0, 0.42), sharey=True, squeeze=False)
    for ax, (panel, by_fmt) in zip(axes[0], panels.items()):
        all_s = np.concatenate([np.asarray(s, float) for s, _ in by_fmt.values()]) if by_fmt else np.zeros(1)
        lo, hi = float(np.nanmin(all_s)), float(np.nanmax(all_s))
        pad = 0.05 * (hi - lo or 1.0)
        grid = np.linspace(lo - pad, hi + pad, 300)
        edges = np.linspace(lo - pad, hi + pad, bins + 1)
        for i, (fmt, (scores, (mu, sd))) in enumerate(by_fmt.items()):
            color = format_color(fmt)
            ax.hist(scores, bins=edges, density=True, alpha=0.25, color=color, histtype="stepfilled")
            ax.plot(grid, _normal_pdf(grid, mu, sd), color=color, ls=MODEL_LINESTYLES[i % len(MODEL_LINESTYLES)],
                    lw=1.4, label=f"{format_label(fmt)}: mu={mu:.3f}, sd={sd:.3f}")
        ax.set_xlabel("alignment score (cosine of top-1)")
        ax.set_ylabel("density")
        ax.set_title(panel)
        ax.legend(loc="upper left", frameon=True)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def complementarity_figure(merged: pd.DataFrame, accuracy: pd.DataFrame, label_a: str, label_b: str,
                           shown_format: str, title: str = "") -> Figure:
    """Figure 5c: two models' top-1 scores per source by who is right, and Acc@1 of A, B, fusion, oracle.

    ``merged``: one row per source (``score_a``, ``score_b``, ``category`` as
    ``lib.analysis.ratings.complementarity`` names them) for ``shown_format``; ``accuracy``: index =
    format, columns ``acc_a``, ``acc_b``, ``fusion``, ``oracle``. A and B must be two different models:
    the notebook pairs them with ``lib.analysis.ratings.pair_second_model``.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=figsize(1.0, 0.42), gridspec_kw={"width_ratios": [1, 1.2]})
    for cat, col in CATEGORY_COLORS.items():
        sel = merged[merged.category == cat]
        ax1.scatter(sel.score_a, sel.score_b, s=6, color=col, label=f"{cat} ({len(sel)})", alpha=0.7, lw=0)
    ax1.set_xlabel(f"A = {label_a}: top-1 score")
    ax1.set_ylabel(f"B = {label_b}: top-1 score")
    ax1.set_title(f"per source, {format_label(shown_format)}")
    ax1.legend(loc="lower right", markerscale=2)
    bars = accuracy[["acc_a", "acc_b", "fusion", "oracle"]].astype(float)
    bars.columns = [f"A {label_a}", f"B {label_b}", "score fusion", "oracle union"]
    bars.index = [format_label(f) for f in bars.index]
    bars.plot.bar(ax=ax2, rot=15, color=["#4C72B0", "#DD8452", "#8172B3", "#55A868"], width=0.8)
    ax2.set_ylabel("Acc@1 vs gold")
    ax2.set_ylim(0, 1)
    ax2.set_title("single models, fusion and oracle")
    ax2.legend(loc="upper left", ncols=2)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
