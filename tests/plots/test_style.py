"""The figure style (lib.plots.style): stable format colours and labels, save_figure's PNG and PDF, inline
display in a kernel only, stale figures removed; no backend forced anywhere in lib."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib import plots

ROOT = Path(__file__).resolve().parents[2]


def test_format_colors_are_stable_and_distinct():
    fmts = ["fp32-torch", "onnx-fp32", "onnx-int8-dynamic", "onnx-int8-smoothquant", "torch-int8", "olive-best"]
    assert len({plots.format_color(f) for f in fmts}) == len(fmts)
    assert plots.format_color("some-new-format") == plots.format_color("some-new-format")
    assert plots.format_label("onnx-int8-smoothquant") == "INT8 SmoothQuant"
    assert plots.format_label("unknown") == "unknown"


def test_save_figure_writes_png_and_pdf(session_dirs):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=plots.figsize(0.5))
    ax.plot([0, 1], [0, 1])
    out = plots.save_figure(fig, "unit-test", "tiny")
    assert [p.suffix for p in out] == [".png", ".pdf"] and all(p.exists() for p in out)
    assert out[0].parent == session_dirs["figures"] / "tiny"
    assert out == plots.figure_paths("unit-test", "tiny")
    assert repr(out) == f"saved {out[0]}, .pdf"  # (a temporary folder: outside the project, shown whole)


def test_save_figure_png_fits_a_laptop_pane_and_the_figure_is_released(session_dirs):
    """The PNG (screen copy) is at most PNG_MAX_WIDTH_PX wide whatever the figure's width (a wide legend
    included); the PDF keeps the vector figure; pyplot no longer holds the figure (no second inline copy,
    no pile-up of open figures in a long run)."""
    import matplotlib.pyplot as plt
    from PIL import Image

    for width_in in (3.4, plots.PAPER_WIDTH_IN, 12.0):
        fig, ax = plt.subplots(figsize=(width_in, 2.5))
        ax.plot([0, 1], [0, 1], label="a legend placed outside the axes, to the right")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
        png, pdf = plots.save_figure(fig, f"width-{width_in}", "tiny")
        assert Image.open(png).width <= plots.PNG_MAX_WIDTH_PX and pdf.stat().st_size > 0
        assert not plt.fignum_exists(fig.number)
    small, _ = plt.subplots(figsize=(2.0, 1.5))
    png, _ = plots.save_figure(small, "small", "tiny")
    assert Image.open(png).info["dpi"][0] == pytest.approx(plots.PNG_MAX_DPI, abs=1)  # small ones stay sharp


def test_save_figure_shows_the_saved_png_inline_in_a_kernel_only(session_dirs, monkeypatch):
    import IPython
    import IPython.display
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    fig, _ = plt.subplots(figsize=plots.figsize(0.5))
    plots.save_figure(fig, "not-a-kernel", "tiny")
    assert shown == []                                   # a test process is not a kernel: nothing displayed

    class Kernel:
        kernel = object()
    monkeypatch.setattr(IPython, "get_ipython", lambda: Kernel())
    fig, _ = plt.subplots(figsize=plots.figsize(0.5))
    png, _ = plots.save_figure(fig, "in-a-kernel", "tiny")
    assert len(shown) == 1 and shown[0].data == png.read_bytes()   # exactly the file written to figures/


def test_no_backend_is_forced_in_lib():
    """`matplotlib.use("Agg")` in lib would hide every figure from a notebook (issue 27)."""
    offenders = [p for p in (ROOT / "lib").rglob("*.py") if "matplotlib.use(" in p.read_text(encoding="utf-8")]
    assert offenders == []


def test_remove_figure_deletes_a_stale_figure_only(session_dirs):
    import matplotlib.pyplot as plt
    fig, _ = plt.subplots()
    out = plots.save_figure(fig, "stale-unit-test", "tiny")
    keep = plots.save_figure(fig, "kept-unit-test", "tiny")
    assert plots.remove_figure("stale-unit-test", "tiny") == out
    assert not any(p.exists() for p in out) and all(p.exists() for p in keep)
    assert plots.remove_figure("stale-unit-test", "tiny") == []      # nothing left: nothing removed
