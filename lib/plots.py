"""Plot helpers: one style, one colour per model format, figures saved as PNG and PDF."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from . import paths  # noqa: E402

FORMAT_COLORS = {
    "fp32-torch": "#4C72B0", "onnx-fp32": "#55A868", "onnx-int8-dynamic": "#DD8452",
    "onnx-int8-smoothquant": "#C44E52", "torch-int8": "#8172B3", "olive-best": "#937860",
    "paper": "#444444",
}
PAPER_WIDTH_IN = 6.8  # two-column width of the paper, inches


def style() -> None:
    """Paper-size defaults: readable fonts at print width."""
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)
    plt.rcParams.update({"figure.dpi": 150, "savefig.dpi": 200, "savefig.bbox": "tight",
                         "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8})


def save_figure(fig, stem: str, params_name: str | None = None) -> list[Path]:
    """Save ``figures/[<params-name>/]<stem>.png`` and ``.pdf``; returns both paths."""
    folder = paths.figures_dir() / params_name if params_name else paths.figures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    out = [folder / f"{stem}.png", folder / f"{stem}.pdf"]
    for p in out:
        fig.savefig(p)
    return out


style()
