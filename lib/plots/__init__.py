"""Figures of the study: one function per figure, each taking data and returning a matplotlib Figure.

Layout: :mod:`lib.plots.style` holds the style, the colours and :func:`save_figure` (re-exported here);
one module per notebook or figure family holds that figure's function (:func:`save_figure` also shows the
saved PNG inline in a Jupyter kernel):

* :mod:`~lib.plots.preprocess` (01 lengths), :mod:`~lib.plots.optimize` (02 Pareto),
  :mod:`~lib.plots.quantize` (03 sensitivity, alpha sweep, gate), :mod:`~lib.plots.align` (04 accuracy),
  :mod:`~lib.plots.deft` (05 Figure 3, 06 Task 2 MAP), :mod:`~lib.plots.outliers` (07 Figure 4),
  :mod:`~lib.plots.ratings` (08 Figure 5a-c), :mod:`~lib.plots.scale` (10 throughput and memory),
  :mod:`~lib.plots.train` (training curves of lib.train runs), :mod:`~lib.plots.rerank` (12 accuracy and
  speed-up against C).

A figure function never computes a result nor reads a file: notebooks compute, then call one function
and :func:`save_figure`. lib.plots sits low in the layers (foundations and drawing libraries only), and
``tools/nbdeps.py`` leaves it out of result dependencies: redrawing a figure never reruns a model.
"""

from __future__ import annotations

from lib.plots import align, deft, optimize, outliers, preprocess, quantize, ratings, rerank, scale, train
from lib.plots.style import (
                             FONT_SIZE,
                             FORMAT_COLORS,
                             FORMAT_LABELS,
                             MODEL_LINESTYLES,
                             PAPER_WIDTH_IN,
                             PNG_MAX_DPI,
                             PNG_MAX_WIDTH_PX,
                             STAGE_COLORS,
                             figsize,
                             figure_paths,
                             format_color,
                             format_label,
                             remove_figure,
                             save_figure,
                             show_inline,
                             style,
)

__all__ = ["align", "deft", "optimize", "outliers", "preprocess", "quantize", "ratings", "rerank", "scale", "train",
           "FONT_SIZE", "FORMAT_COLORS", "FORMAT_LABELS", "MODEL_LINESTYLES", "PAPER_WIDTH_IN", "PNG_MAX_DPI",
           "PNG_MAX_WIDTH_PX", "STAGE_COLORS", "figure_paths", "figsize", "format_color", "format_label",
           "remove_figure", "save_figure", "show_inline", "style"]
