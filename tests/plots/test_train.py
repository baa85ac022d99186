"""Training-curve figure (lib.plots.train): one line per run and panel, empty histories handled."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt

from lib import plots


def _history(acc_gain: float) -> list[dict]:
    rows = []
    for step in range(0, 101, 10):
        row = {"step": step, "minutes": step / 20, "loss": 2.0 - step / 100}
        if step % 50 == 0:  # an evaluation every 50 steps
            row["dev_acc@1"] = 0.3 + acc_gain * step / 100
        rows.append(row)
    return rows


def test_curves_figure_one_line_per_run_in_each_panel():
    fig = plots.train.curves_figure({"mnrl": _history(0.4), "multisim": _history(0.2)}, title="t")
    ax_acc, ax_loss = fig.axes
    assert [ln.get_label() for ln in ax_acc.lines] == ["mnrl", "multisim"]
    assert len(ax_loss.lines) == 2
    # (a): the evaluated rows only, against minutes; (b): every logged loss, against steps
    assert list(ax_acc.lines[0].get_xdata()) == [0.0, 2.5, 5.0]
    assert list(ax_acc.lines[0].get_ydata()) == [0.3, 0.5, 0.7]
    assert list(ax_loss.lines[1].get_xdata()) == list(range(0, 101, 10))
    assert ax_acc.lines[0].get_color() == ax_loss.lines[0].get_color()
    assert [t.get_text() for t in ax_acc.get_legend().get_texts()] == ["mnrl", "multisim"]
    assert fig._suptitle.get_text() == "t"
    plt.close(fig)


def test_curves_figure_skips_runs_and_rows_without_values():
    no_eval = [{"step": 1, "minutes": 0.1, "loss": 1.0}, {"step": 2, "minutes": 0.2, "loss": math.nan},
               {"step": 3, "minutes": 0.3, "loss": 0.5, "dev_acc@1": None}]
    fig = plots.train.curves_figure({"a": no_eval, "b": []}, title="")
    ax_acc, ax_loss = fig.axes
    assert not ax_acc.lines and [t.get_text() for t in ax_acc.texts] == ["no dev Acc@1 logged"]
    assert len(ax_loss.lines) == 1 and list(ax_loss.lines[0].get_ydata()) == [1.0, 0.5]
    assert [t.get_text() for t in ax_loss.get_legend().get_texts()] == ["a"]
    plt.close(fig)


def test_curves_figure_with_no_history_at_all():
    fig = plots.train.curves_figure({}, title="nothing yet")
    assert len(fig.axes) == 2 and not any(ax.lines for ax in fig.axes)
    assert all(len(ax.texts) == 1 for ax in fig.axes)
    plt.close(fig)
