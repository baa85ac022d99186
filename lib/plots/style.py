"""One style for every figure: print width, fonts, one colour per model format, PNG + PDF saving.

Every figure of the compendium is drawn at the paper's print width (:data:`PAPER_WIDTH_IN`) with the
fonts set by :func:`style`, so that what is legible on screen is legible in print. The figure modules
of :mod:`lib.plots` import from here; nothing here draws a figure.

No backend is chosen here: in a Jupyter kernel (Lab, papermill) matplotlib uses the inline backend,
and a script without a display falls back to Agg by itself. :func:`save_figure` shows the saved PNG in
the notebook, so a reader sees every figure inline and papermill keeps it in the executed copy.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import seaborn as sns

from lib import atomic, paths

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


# The PNG is the screen copy (the PDF is the print one): at most this many pixels wide, so that Lab's image
# viewer and a notebook on a laptop pane show it whole. A paper-width figure (6.8 in) gets ~147 dpi.
PNG_MAX_WIDTH_PX = 1000
PNG_MAX_DPI = 200


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


class FigureFiles(list):
    """The files :func:`save_figure` wrote (a list of paths: PNG, then PDF), shown by their place in the
    project: a notebook cell that ends with ``save_figure`` prints ``saved figures/<name>/<stem>.png, .pdf``
    under its figure rather than two absolute paths."""

    def __repr__(self) -> str:
        shown = []
        for p in self:
            try:
                shown.append(str(Path(p).relative_to(paths.ROOT)))
            except ValueError:
                shown.append(str(p))
        return "saved " + ", ".join(shown[:1] + [Path(p).suffix for p in shown[1:]])


def figure_paths(stem: str, params_name: str | None = None) -> list[Path]:
    """``figures/[<params-name>/]<stem>.png`` and ``.pdf``: where a figure of a run lives."""
    folder = paths.figures_dir() / params_name if params_name else paths.figures_dir()
    return [folder / f"{stem}.png", folder / f"{stem}.pdf"]


def png_dpi(fig) -> float:
    """First guess at the PNG copy's resolution: :data:`PNG_MAX_DPI`, lowered so that the saved (tight)
    image is at most :data:`PNG_MAX_WIDTH_PX` wide. Why measured: ``bbox_inches="tight"`` makes the file
    as wide as what is drawn (long tick labels, a legend outside the axes), not as the figure size says."""
    if plt.rcParams["savefig.bbox"] == "tight":
        width_in = fig.get_tightbbox().width + 2 * plt.rcParams["savefig.pad_inches"]
    else:
        width_in = fig.get_figwidth()
    return min(float(PNG_MAX_DPI), (PNG_MAX_WIDTH_PX - 1) / max(width_in, 1e-3))


def png_width(path: Path) -> int:
    """Pixel width of a PNG file (its IHDR header)."""
    return int.from_bytes(Path(path).read_bytes()[16:20], "big")


def _save_png(fig, path: Path) -> None:
    """Save the PNG copy no wider than :data:`PNG_MAX_WIDTH_PX`: text extents shift a little with the
    resolution, so the first guess is corrected from the file written (at most twice)."""
    dpi = png_dpi(fig)
    for _ in range(3):
        fig.savefig(path, format="png", dpi=dpi)
        width = png_width(path)
        if width <= PNG_MAX_WIDTH_PX:
            return
        dpi *= (PNG_MAX_WIDTH_PX - 1) / width


def save_figure(fig, stem: str, params_name: str | None = None) -> FigureFiles:
    """Save ``figures/[<params-name>/]<stem>.png`` and ``.pdf``, show the PNG inline when running in a
    Jupyter kernel, and close the figure; returns both paths.

    Why here: every figure of a notebook goes through this call, so each is shown once, where it is
    made (inside loops too), and the notebook shows exactly the file written to ``figures/``. The figure
    is closed (released by pyplot) so the inline backend does not draw it a second time at the end of
    the cell, and a long script does not accumulate open figures.
    """
    out = figure_paths(stem, params_name)
    out[0].parent.mkdir(parents=True, exist_ok=True)
    for p in out:
        with atomic.atomic_path(p) as tmp:  # a viewer or a later run never sees half a figure
            if p.suffix == ".png":
                _save_png(fig, tmp)
            else:
                fig.savefig(tmp, format=p.suffix[1:])
    plt.close(fig)
    show_inline(out[0])
    return FigureFiles(out)


def show_inline(png: Path) -> bool:
    """Display a PNG file in the running Jupyter kernel's output (a no-op elsewhere); True if shown.

    Only inside a kernel: a script or a test has no notebook to show it in (and a terminal IPython would
    print a placeholder). IPython is looked up, never imported: a process that never loaded it is not
    a kernel.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    from IPython.display import Image, display
    display(Image(data=Path(png).read_bytes(), format="png"))
    return True


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
