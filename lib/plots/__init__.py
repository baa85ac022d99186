"""Plot helpers: one style, one colour per model format, figures saved as PNG and PDF.

Every figure of the compendium is drawn at the paper's print width (:data:`PAPER_WIDTH_IN`) with the
fonts set by :func:`style`, so that what is legible on screen is legible in print.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from lib import atomic, paths  # noqa: E402

log = logging.getLogger("lib.plots")


FORMAT_COLORS = {
    "fp32-torch": "#4C72B0", "onnx-fp32": "#55A868", "onnx-int8-dynamic": "#DD8452",
    "onnx-int8-smoothquant": "#C44E52", "torch-int8": "#8172B3", "olive-best": "#937860",
    "paper": "#444444",
}


FORMAT_LABELS = {
    "fp32-torch": "FP32 (PyTorch)", "onnx-fp32": "FP32 (ONNX)", "onnx-int8-dynamic": "INT8 dynamic",
    "onnx-int8-smoothquant": "INT8 SmoothQuant", "torch-int8": "INT8 (torchao)", "olive-best": "Olive best",
    "paper": "paper",
}


# Before / after smoothing and the two models of the dual-model analysis
STAGE_COLORS = {"before": "#4C72B0", "after": "#C44E52"}


MODEL_LINESTYLES = ("-", "--", ":", "-.")


PAPER_WIDTH_IN = 6.8  # two-column width of the paper, inches


FONT_SIZE = 8.0


def style() -> None:
    """Paper-size defaults: readable fonts at print width, one font family everywhere."""
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)
    plt.rcParams.update({"figure.dpi": 150, "savefig.dpi": 200, "savefig.bbox": "tight",
                         "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"],
                         "font.size": FONT_SIZE, "axes.titlesize": 10, "axes.labelsize": 9,
                         "xtick.labelsize": FONT_SIZE, "ytick.labelsize": FONT_SIZE,
                         "legend.fontsize": 8, "legend.title_fontsize": 8, "pdf.fonttype": 42})


def format_color(fmt: str) -> str:
    """Colour of a model format (unknown formats get a stable colour from the default palette)."""
    if fmt in FORMAT_COLORS:
        return FORMAT_COLORS[fmt]
    pal = sns.color_palette("deep", 10).as_hex()
    return pal[sum(map(ord, fmt)) % len(pal)]


def format_label(fmt: str) -> str:
    return FORMAT_LABELS.get(fmt, fmt)


def figsize(width_frac: float = 1.0, aspect: float = 0.45) -> tuple[float, float]:
    """(width, height) in inches for a fraction of the paper width and a height/width ratio."""
    w = PAPER_WIDTH_IN * width_frac
    return (w, w * aspect)


def save_figure(fig, stem: str, params_name: str | None = None) -> list[Path]:
    """Save ``figures/[<params-name>/]<stem>.png`` and ``.pdf``; returns both paths."""
    folder = paths.figures_dir() / params_name if params_name else paths.figures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    out = [folder / f"{stem}.png", folder / f"{stem}.pdf"]
    for p in out:
        with atomic.atomic_path(p) as tmp:  # a viewer or a later run never sees half a figure
            fig.savefig(tmp, format=p.suffix[1:])
    return out


# ---------------------------------------------------------------------------------------------
# Figure building blocks


def paired_heatmaps(rows: Sequence[tuple[str, np.ndarray, np.ndarray]], col_titles: tuple[str, str],
                    cbar_label: str = "|activation|", cmap: str = "magma", max_tokens: int = 96,
                    thresholds: Sequence[float] = (2.5, 5.0, 7.5), gamma: float = 0.5):
    """Figure 4 layout: one row per tensor: before | after heatmaps (channel x token) | channel maxima.

    Both heatmaps of a row share one colour scale (same vmin/vmax and a square-root norm so that
    non-outlier channels stay visible), so smoothing shows as a change of colour, not of scale. The
    third panel plots max_t |x_tj| per channel before and after, with the outlier thresholds.
    Matrices are (tokens, channels); at most ``max_tokens`` tokens are drawn.
    """
    from matplotlib.colors import PowerNorm

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
    return fig


def rating_heatmap(ax, table, title: str = "", cmap: str = "Blues"):
    """Rows = model x format, columns = rating 0-5; cells = share of alignments, annotated in %."""
    shares = table.div(table.sum(axis=1).replace(0, np.nan), axis=0)
    sns.heatmap(shares, ax=ax, cmap=cmap, vmin=0, vmax=1, annot=shares.map(lambda v: f"{100 * v:.0f}"),
                fmt="", cbar_kws={"label": "share"}, linewidths=0.5, linecolor="white",
                annot_kws={"fontsize": FONT_SIZE})
    ax.set_xlabel("rating (0 unrelated ... 5 same concept); cells: % of alignments")
    ax.set_ylabel("")
    if title:
        ax.set_title(title)
    return ax


def score_distribution(ax, scores: Mapping[str, np.ndarray], fits: Mapping[str, tuple[float, float]],
                       colors: Mapping[str, str], bins: int = 40, linestyles: Mapping[str, str] | None = None):
    """Histograms (density) of alignment scores with their fitted normal curves, one colour each."""
    from scipy.stats import norm

    all_s = np.concatenate([np.asarray(s, float) for s in scores.values()]) if scores else np.zeros(1)
    lo, hi = float(np.nanmin(all_s)), float(np.nanmax(all_s))
    pad = 0.05 * (hi - lo or 1.0)
    grid = np.linspace(lo - pad, hi + pad, 300)
    edges = np.linspace(lo - pad, hi + pad, bins + 1)
    for key, s in scores.items():
        mu, sd = fits[key]
        ls = (linestyles or {}).get(key, "-")
        ax.hist(s, bins=edges, density=True, alpha=0.25, color=colors[key], histtype="stepfilled")
        ax.plot(grid, norm.pdf(grid, mu, max(sd, 1e-9)), color=colors[key], ls=ls, lw=1.4,
                label=f"{key}: mu={mu:.3f}, sd={sd:.3f}")
    ax.set_xlabel("alignment score (cosine of top-1)")
    ax.set_ylabel("density")
    ax.legend(loc="upper left", frameon=True)
    return ax


style()


def metric_bars(frame, metrics: list[str], title: str = "", ylabel: str = "score"):
    """Grouped bars (one group per metric, one bar per format) with 95% CI error bars (04-align).

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
        ax.bar(x + (i - (n - 1) / 2) * width, vals, width, label=fmt,
               color=FORMAT_COLORS.get(fmt), yerr=[vals - lo, hi - vals], capsize=2)
    ax.set_xticks(x, metrics)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(ncols=min(n, 4), loc="upper left", frameon=False)
    return fig


def length_distributions(lengths: Mapping[str, "np.ndarray"], title: str = ""):
    """Box plots of per-table string lengths (tokens), log scale: outliers stay visible (01)."""
    fig, ax = plt.subplots(figsize=(PAPER_WIDTH_IN, 0.25 * len(lengths) + 1.2))
    names = list(lengths)
    ax.boxplot([np.maximum(np.asarray(lengths[n], float), 1) for n in names], vert=False,
               tick_labels=names, flierprops={"markersize": 2})
    ax.set_xscale("log")
    ax.set_xlabel("tokens per string (log scale)")
    ax.set_title(title)
    return fig


def pareto_figure(summary: dict, title: str = ""):
    """Quality vs latency of every candidate: frontier, goal thresholds, chosen model, baselines."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    from lib.plots import FORMAT_COLORS, PAPER_WIDTH_IN

    df = pd.DataFrame(summary["candidates"])
    base = summary["baseline"]
    latency_goal = next((s["goal"]["value"] for s in summary["olive_config"]["evaluators"]["ours"]["metrics"][0]
                         ["sub_types"] if s["name"] == "latency_ms" and s.get("goal")), None)
    fig, axes = plt.subplots(1, 2, figsize=(PAPER_WIDTH_IN, 2.9), sharex=True)
    for ax, metric, label in ((axes[0], "mean_cosine", "mean cosine to FP32"),
                              (axes[1], "spearman", "STS Spearman (held-out)")):
        ok = df["meets_goals"].astype(bool)
        ax.scatter(df.loc[~ok, "latency_ms"], df.loc[~ok, metric], s=18, c="#bbbbbb",
                   label="candidate (fails a goal)")
        ax.scatter(df.loc[ok, "latency_ms"], df.loc[ok, metric], s=18, c=FORMAT_COLORS["olive-best"],
                   label="candidate (meets goals)")
        front = df[df["pareto"].astype(bool)].sort_values("latency_ms")
        ax.plot(front["latency_ms"], front[metric], "-", c="k", lw=0.8, label="Pareto frontier")
        if summary.get("chosen"):
            ch = summary["chosen"]
            ax.scatter([ch["latency_ms"]], [ch[metric]], s=90, marker="*", c="#C44E52", zorder=5,
                       label="chosen")
        ax.scatter([base["latency_ms"]], [base[metric]], marker="s", s=22, c=FORMAT_COLORS["fp32-torch"],
                   label="input (PyTorch FP32)")
        vs = summary.get("vs_onnx_fp32") or {}
        if vs:
            ax.scatter([vs["onnx_fp32"]["latency_ms"]], [vs["onnx_fp32"][metric]], marker="D", s=22,
                       c=FORMAT_COLORS["onnx-fp32"], label="ONNX FP32 (un-optimized)")
        if latency_goal is not None:  # the search's own goal (none in tests that drop it)
            ax.axvline(base["latency_ms"] * (1 - latency_goal / 100), ls=":", c="0.4", lw=0.8)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor log labels overlap at this width
        ax.set_xlabel("latency per batch (ms, log scale)")
        ax.set_ylabel(label)
    axes[0].axhline(summary["olive_config"]["evaluators"]["ours"]["metrics"][0]["sub_types"][0]["goal"]["value"],
                    ls=":", c="0.4", lw=0.8)
    axes[1].axhline(base["spearman"] - summary["olive_config"]["evaluators"]["ours"]["metrics"][0]
                    ["sub_types"][1]["goal"]["value"], ls=":", c="0.4", lw=0.8)
    axes[1].legend(fontsize=6, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
