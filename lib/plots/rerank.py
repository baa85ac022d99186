"""Notebook 12's figure: Acc@1 against C (retriever, its Acc@C ceiling, each reranker's residual score in
ONNX FP32) and the packed layouts' inference speed over the base one against C.

Data in, Figure out: nothing computed or read here.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lib.plots.style import PAPER_WIDTH_IN


def accuracy_speed_figure(accuracy: pd.DataFrame, speed: pd.DataFrame, title: str = "") -> Figure:
    """Left: Acc@1 (95% CI) against C per system (residual rows in ONNX FP32), the retriever's Acc@1 and
    its Acc@C ceiling dashed. Right: packed / base terms per second against C per format and layout.

    ``accuracy``: rows of lib.rerank.study (``score`` residual / f alone / cosine); ``speed``: columns
    ``format``, ``candidates`` and ratio columns named ``<layout> / base``.
    """
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(PAPER_WIDTH_IN, 2.9), gridspec_kw={"width_ratios": [2, 1]})
    retr = accuracy[accuracy.system == "retriever"].sort_values("candidates")
    if len(retr):
        ax.plot(retr.candidates, retr["ceiling_acc@C"], "k--", lw=1, label="retriever Acc@C (ceiling)")
        ax.plot(retr.candidates, retr["acc@1"], "k-", marker="o", ms=3, lw=1.2, label="retriever Acc@1")
    shown = accuracy[(accuracy.system != "retriever") & (accuracy.get("score") == "residual")]
    for (system, fmt), g in shown.groupby(["system", "format"], sort=False):
        g = g.sort_values("candidates")
        ls = "-" if "paper" in str(system) else (":" if "shared" in str(system) else "-.")
        ax.errorbar(g.candidates, g["acc@1"], yerr=[g["acc@1"] - g["acc@1_lo"], g["acc@1_hi"] - g["acc@1"]],
                    ls=ls, marker="o", ms=3, lw=1, capsize=2, label=f"{system} [{fmt}]")
    cs = sorted(accuracy.candidates.unique())
    ax.set_xscale("log", base=2)
    ax.set_xticks(cs, [str(c) for c in cs])
    ax.set_xlabel("candidates C")
    ax.set_ylabel("Acc@1")
    ax.set_ylim(0, 1)
    ax.legend(fontsize="x-small", frameon=False, loc="upper left", ncols=2)
    ratios = [c for c in speed.columns if str(c).endswith(" / base")]
    top = 1.0
    for fmt, g in speed.groupby("format", sort=False):
        g = g.sort_values("candidates")
        for col in ratios:
            bx.plot(g.candidates, g[col], marker="o", ms=3, label=f"{col.split(' / ')[0]} [{fmt}]")
            top = max(top, float(np.nanmax(g[col])))
    bx.axhline(1.0, color="grey", lw=0.8)
    bx.set_xscale("log", base=2)
    bx.set_xticks(cs, [str(c) for c in cs])
    bx.set_xlabel("candidates C")
    bx.set_ylabel("terms/s over base")
    bx.set_ylim(0, max(2.0, 1.1 * top))
    bx.legend(fontsize="x-small", frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
