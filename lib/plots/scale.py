"""Figure of notebook 10 (scale-out): throughput and peak memory against the number of targets."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from lib.plots.style import figsize


def scale_figure(frame: pd.DataFrame, title: str = "") -> Figure:
    """Two panels against N (log x): embedding throughput (strings/s) and exact top-k throughput
    (targets searched per second, all queries at once), and the peak memory of the driver and of the
    largest worker (10-scale-out). Flat memory lines are the claim: bounded by the partition, not by N.

    ``frame``: one row per N with columns ``n_targets``, ``embed_per_second``, ``search_per_second``,
    ``driver_peak_mb``, ``worker_peak_mb`` (missing values are left out of their line).
    """
    fig, (rate, mem) = plt.subplots(1, 2, figsize=figsize(1.0, 0.4))
    n = frame["n_targets"]
    for col, label, marker in (("embed_per_second", "embed (strings/s)", "o"),
                               ("search_per_second", "exact top-k (targets/s)", "s")):
        rate.plot(n, frame[col], marker=marker, label=label)
    rate.set_xscale("log")
    rate.set_yscale("log")
    rate.set_xlabel("targets N")
    rate.set_ylabel("throughput per second")
    rate.legend(frameon=False)
    for col, label, marker in (("driver_peak_mb", "driver", "o"), ("worker_peak_mb", "largest worker", "s")):
        mem.plot(n, frame[col], marker=marker, label=label)
    mem.set_xscale("log")
    mem.set_ylim(bottom=0)
    for ax in (rate, mem):  # the measured N as ticks (thousands), not log-scale minor ticks
        ax.set_xticks(n, [f"{x / 1000:,.0f}k" for x in n])
        ax.xaxis.set_minor_locator(NullLocator())
    mem.set_xlabel("targets N")
    mem.set_ylabel("peak memory (MiB)")
    mem.legend(frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
