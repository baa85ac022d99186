"""Notebook 02's figure (lib.plots.optimize): the Olive search's Pareto front, goal lines, the chosen point."""

from __future__ import annotations

import pytest

from lib import plots


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _olive_summary(with_latency_goal: bool = True) -> dict:
    subs = [{"name": "mean_cosine", "goal": {"type": "min-value", "value": 0.99}},
            {"name": "spearman", "goal": {"type": "max-degradation", "value": 0.01}},
            {"name": "latency_ms", **({"goal": {"value": 20}} if with_latency_goal else {})}]
    cand = [{"latency_ms": lat, "mean_cosine": c, "spearman": sp, "meets_goals": ok, "pareto": par}
            for lat, c, sp, ok, par in ((5.0, 0.995, 0.80, True, True), (8.0, 0.999, 0.81, True, True),
                                        (4.0, 0.90, 0.70, False, True), (9.0, 0.98, 0.79, False, False))]
    return {"candidates": cand, "baseline": {"latency_ms": 10.0, "mean_cosine": 1.0, "spearman": 0.81},
            "chosen": cand[0], "vs_onnx_fp32": {"onnx_fp32": {"latency_ms": 9.5, "mean_cosine": 1.0, "spearman": 0.81}},
            "olive_config": {"evaluators": {"ours": {"metrics": [{"sub_types": subs}]}}}}


@pytest.mark.parametrize("with_latency_goal", [True, False])
def test_pareto_figure(with_latency_goal):
    fig = plots.optimize.pareto_figure(_olive_summary(with_latency_goal), title="search")
    assert [ax.get_ylabel() for ax in fig.axes] == ["mean cosine to FP32", "STS Spearman (held-out)"]
    assert fig.get_suptitle() == "search"
    assert "chosen" in _legend(fig.axes[1]) and "ONNX FP32 (un-optimized)" in _legend(fig.axes[1])
    # goal lines: cosine >= 0.99 on the left, Spearman >= 0.81 - 0.01 on the right, latency <= 0.8 x 10 ms
    assert 0.99 in [ln.get_ydata()[0] for ln in fig.axes[0].lines]
    assert pytest.approx(0.80) in [ln.get_ydata()[0] for ln in fig.axes[1].lines]
    assert (pytest.approx(8.0) in [ln.get_xdata()[0] for ln in fig.axes[0].lines]) == with_latency_goal
