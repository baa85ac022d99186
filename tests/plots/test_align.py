"""Notebook 04's figure (lib.plots.align): accuracy bars with confidence intervals per format."""

from __future__ import annotations

import pandas as pd
import pytest

from lib import plots


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_accuracy_figure_bars_and_ci():
    frame = pd.DataFrame({"acc@1": [0.5, 0.6], "acc@1_lo": [0.4, 0.55], "acc@1_hi": [0.6, 0.65],
                          "mrr": [0.7, 0.8], "mrr_lo": [0.6, 0.7], "mrr_hi": [0.8, 0.9]},
                         index=["fp32-torch", "onnx-int8-dynamic"])
    fig = plots.align.accuracy_figure(frame, ["acc@1", "mrr"], title="t")
    ax, = fig.axes
    assert [p.get_height() for p in ax.patches] == pytest.approx([0.5, 0.7, 0.6, 0.8])
    assert _legend(ax) == ["FP32 (PyTorch)", "INT8 dynamic"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["acc@1", "mrr"]
