"""Figures of notebook 03 (quantization): per-layer sensitivity, alpha sweep, quality gate."""

from __future__ import annotations

from typing import Collection

import matplotlib.pyplot as plt
import pandas as pd
from adjustText import adjust_text
from matplotlib.figure import Figure

from lib.plots.style import PAPER_WIDTH_IN, format_color

SENSITIVITY_YLABELS = {"probe": "1 - mean cosine to FP32\n(only this MatMul INT8)",
                       "qdq-debug": "own quantization noise\n(noise / signal power)"}


def sensitivity_figure(sensitivity: pd.DataFrame, keep_fp32: Collection[str], method: str,
                       title: str = "") -> Figure:
    """Loss of each linear MatMul quantized alone, in graph order; red bars = kept FP32 (03-sensitivity).

    ``sensitivity``: rows ``node``, ``layer``, ``kind``, ``order``, ``loss``; ``method`` picks the y label
    (``probe``: 1 - cosine; ``qdq-debug``: noise-to-signal power).
    """
    fig, ax = plt.subplots(figsize=(PAPER_WIDTH_IN, 3.2))
    s = sensitivity.sort_values(["layer", "order"])
    colors = ["#C44E52" if n in set(keep_fp32) else "#8C8C8C" for n in s.node]
    ax.bar(range(len(s)), s.loss, color=colors)
    ax.set_xticks(range(len(s)), [f"L{r.layer} {r.kind}" for r in s.itertuples()], rotation=90, fontsize=6)
    ax.set_yscale("log")
    ax.set_ylabel(SENSITIVITY_YLABELS.get(method, "loss"))
    ax.set_title(title, fontsize=8)
    return fig


def alpha_sweep_figure(sweep: pd.DataFrame, gate_min_cosine: float) -> Figure:
    """Held-out mean cosine per SmoothQuant alpha, one line per FP32-fallback size (03-alpha-sweep).

    ``sweep``: rows ``alpha``, ``n_fp32``, ``mean_cosine``, ``smoothquant`` (False: static INT8 without
    SmoothQuant, drawn as a dotted line of the same colour); the gate's cosine as a dashed line.
    """
    fig, ax = plt.subplots(figsize=(PAPER_WIDTH_IN / 2, 2.6))
    sq = sweep[sweep.smoothquant.astype(bool)]
    plain = sweep[~sweep.smoothquant.astype(bool)]
    for n_fp32, g in sq.groupby("n_fp32"):
        line = ax.plot(g.alpha, g.mean_cosine, marker="o", label=f"{n_fp32} MatMul(s) FP32")[0]
        base = plain[plain.n_fp32 == n_fp32].mean_cosine
        if len(base):
            ax.axhline(base.iloc[0], ls=":", color=line.get_color())
    ax.axhline(gate_min_cosine, color="k", lw=0.8, ls="--", label="gate")
    ax.set_xlabel("SmoothQuant alpha")
    ax.set_ylabel("mean cosine to FP32 (held out)")
    ax.set_title("alpha sweep (dotted: static INT8 without SmoothQuant)")
    ax.legend()
    return fig


def gate_figure(table: pd.DataFrame, batch_size: int) -> Figure:
    """Acc@1 vs throughput of every gated format: o passed, x failed, one label per point (03-gate).

    ``table``: the gate table (``format``, ``passed``, ``sentences_per_s``, ``acc1``). Formats often
    share a point (a variant that builds the same graph), so labels are centred on their points (so that
    ``adjustText`` sees coinciding labels and jitters them apart, with its own fixed seed) and moved
    until no two boxes overlap and none covers a marker; an iteration cap, not adjustText's default
    time limit, keeps the layout the same on a slow or a busy machine.
    """
    fig, ax = plt.subplots(figsize=(PAPER_WIDTH_IN / 2, 2.8))
    x, y = table.sentences_per_s.to_numpy(float), table.acc1.to_numpy(float) * 100
    for fmt, passed, xi, yi in zip(table.format, table.passed.astype(bool), x, y):
        ax.scatter(xi, yi, color=format_color(fmt.split(":")[0]), marker="o" if passed else "x", s=30)
    texts = [ax.text(xi, yi, fmt.replace("onnx-int8-", ""), fontsize=5, ha="center", va="center")
             for fmt, xi, yi in zip(table.format, x, y)]
    ax.set_xlabel(f"sentences / s (batch {batch_size}, this CPU)")
    ax.set_ylabel("HPO lay-term Acc@1 (%)")
    ax.set_title("quality gate: o pass, x fail")
    ax.margins(0.15)  # room for the labels inside the axes
    footprints = ax.scatter(x, y, s=60, alpha=0)  # every marker in one collection: what labels keep off
    adjust_text(texts, x=x, y=y, objects=footprints, ax=ax, iter_lim=1000, expand=(1.3, 1.6),
                arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.4})
    return fig
