"""One style for every figure: print width, fonts, one colour per model format, PNG + PDF saving.

Every figure of the compendium is drawn at the paper's print width (:data:`PAPER_WIDTH_IN`) with the
fonts set by :func:`style`, so that what is legible on screen is legible in print. The figure modules
of :mod:`lib.plots` import from here; nothing here draws a figure.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from lib import atomic, paths  # noqa: E402

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
    """Legend label of a model format; unknown formats are shown as they are named."""
    return FORMAT_LABELS.get(fmt, fmt)


def figsize(width_frac: float = 1.0, aspect: float = 0.45) -> tuple[float, float]:
    """(width, height) in inches for a fraction of the paper width and a height/width ratio."""
    w = PAPER_WIDTH_IN * width_frac
    return (w, w * aspect)


def figure_paths(stem: str, params_name: str | None = None) -> list[Path]:
    """``figures/[<params-name>/]<stem>.png`` and ``.pdf``: where a figure of a run lives."""
    folder = paths.figures_dir() / params_name if params_name else paths.figures_dir()
    return [folder / f"{stem}.png", folder / f"{stem}.pdf"]


def save_figure(fig, stem: str, params_name: str | None = None) -> list[Path]:
    """Save ``figures/[<params-name>/]<stem>.png`` and ``.pdf``; returns both paths."""
    out = figure_paths(stem, params_name)
    out[0].parent.mkdir(parents=True, exist_ok=True)
    for p in out:
        with atomic.atomic_path(p) as tmp:  # a viewer or a later run never sees half a figure
            fig.savefig(tmp, format=p.suffix[1:])
    return out


def remove_figure(stem: str, params_name: str | None = None) -> list[Path]:
    """Delete a figure's PNG and PDF if present; returns the paths removed.

    Why: a figure that a run decides not to draw (Figure 5c with a single model) must not survive from
    an earlier run, where the paper assembly would show it as this run's.
    """
    out = [p for p in figure_paths(stem, params_name) if p.exists()]
    for p in out:
        p.unlink()
    return out

style()
