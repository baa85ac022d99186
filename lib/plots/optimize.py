"""Figures of notebook 02 (the Olive search)."""

from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter

from lib.plots.style import FORMAT_COLORS, PAPER_WIDTH_IN


def _goal(summary: Mapping[str, Any], name: str) -> float | None:
    """The search's own goal value for one sub-metric (None when the configuration has none)."""
    subs = summary["olive_config"]["evaluators"]["ours"]["metrics"][0]["sub_types"]
    return next((s["goal"]["value"] for s in subs if s["name"] == name and s.get("goal")), None)


def pareto_figure(summary: Mapping[str, Any], title: str = "") -> Figure:
    """Quality vs latency of every candidate: frontier, goal thresholds, chosen model, baselines (02).

    ``summary`` is the search record (``lib.compress.olive.search.search``): candidates, baseline,
    chosen, ``vs_onnx_fp32`` and the Olive configuration whose goals are drawn as dotted lines.
    """
    df = pd.DataFrame(summary["candidates"])
    base = summary["baseline"]
    cosine_goal, spearman_drop, latency_goal = (_goal(summary, n) for n in ("mean_cosine", "spearman", "latency_ms"))
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
    if cosine_goal is not None:
        axes[0].axhline(cosine_goal, ls=":", c="0.4", lw=0.8)
    if spearman_drop is not None:
        axes[1].axhline(base["spearman"] - spearman_drop, ls=":", c="0.4", lw=0.8)
    axes[1].legend(fontsize=6, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
