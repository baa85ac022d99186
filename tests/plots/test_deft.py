"""Notebooks 05-06's figures (lib.plots.deft): Figure 3's regression panels, Task 2 MAP against the paper."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib import plots


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_regression_figure_one_panel_per_set():
    x = np.linspace(0, 5, 20)
    fits = {n: {"curve_x": x, "curve_y": x * k, "r2_test": 0.5} for k, n in enumerate(["linear", "poly-3"], 1)}
    fig = plots.deft.regression_figure([("set A", x, x, fits), ("set B", x, x, fits)], title="Figure 3")
    assert [ax.get_title() for ax in fig.axes] == ["set A", "set B"]
    assert _legend(fig.axes[0]) == ["test pairs", "linear  R²=0.500", "poly-3  R²=0.500"]
    assert fig.get_suptitle() == "Figure 3"


def test_task2_map_figure_marks_the_paper():
    cols = ["map_1", "map_2", "map_3", "map_mean", "p_at_1"]
    frame = pd.DataFrame({"hpo-en": [0.9, 0.8, 0.7, 0.8, 0.75], "hpo-fr": [0.6, 0.5, 0.4, 0.5, 0.45]}, index=cols)
    paper_rows = [{"system": "X", "map_1": 1.0, "map_2": 0.99, "map_3": 1.0, "map_mean": 0.997}]
    fig = plots.deft.task2_map_figure(frame, paper_rows, title="t")
    ax, = fig.axes
    assert len(ax.patches) == 10 and _legend(ax) == ["hpo-en", "hpo-fr"]
    marks = ax.collections[0].get_offsets()
    assert marks[:, 0].tolist() == [0, 1, 2, 3]                   # no paper value for p_at_1
    assert marks[:, 1].tolist() == pytest.approx([1.0, 0.99, 1.0, 0.997])
