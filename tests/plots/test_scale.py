"""lib.plots.scale: notebook 10's throughput and memory figure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib.plots.scale import scale_figure


def test_scale_figure_draws_each_series_against_n():
    frame = pd.DataFrame({"n_targets": [1000, 10000, 100000], "embed_per_second": [1500.0, None, 1400.0],
                          "search_per_second": [2e6, 3e6, 3.1e6], "driver_peak_mb": [300.0, 301.0, 302.0],
                          "worker_peak_mb": [400.0, 405.0, 404.0]})
    fig = scale_figure(frame, title="t")
    rate, mem = fig.axes
    assert [line.get_label() for line in rate.lines] == ["embed (strings/s)", "exact top-k (targets/s)"]
    assert [line.get_label() for line in mem.lines] == ["driver", "largest worker"]
    assert np.array_equal(mem.lines[1].get_ydata(), [400.0, 405.0, 404.0])
    assert rate.get_xscale() == "log" and mem.get_ylim()[0] == 0


def test_scale_figure_ticks_are_the_measured_sizes():
    frame = pd.DataFrame({"n_targets": [131072, 698372], "embed_per_second": [1.0, 2.0],
                          "search_per_second": [3.0, 4.0], "driver_peak_mb": [1.0, 1.0], "worker_peak_mb": [2.0, 2.0]})
    rate, mem = scale_figure(frame).axes
    assert [t.get_text() for t in mem.get_xticklabels()] == ["131k", "698k"]
    assert list(rate.get_xticks()) == [131072, 698372]
