"""Plot helpers, activation-outlier statistics, and smoke runs of notebooks 07 and 08 on tiny."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lib import plots, results
from lib.analysis import outliers, ratings

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------------
# lib.plots: style helpers


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


# ---------------------------------------------------------------------------------------------
# lib.plots: one smoke test per figure function (small hand-made input -> a Figure with its axes/labels)


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_lengths_figure():
    fig = plots.preprocess.lengths_figure({"a": np.array([1, 2, 30]), "b": np.array([0, 4])}, title="t")
    ax, = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert ax.get_xscale() == "log" and ax.get_title() == "t"


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


def test_sensitivity_figure_marks_the_fp32_fallback():
    sens = pd.DataFrame({"node": ["a", "b", "c"], "layer": [1, 0, 0], "kind": ["q", "ffn-in", "q"],
                         "order": [0, 1, 0], "loss": [0.1, 0.01, 0.001]})
    fig = plots.quantize.sensitivity_figure(sens, keep_fp32=["a"], method="qdq-debug", title="t")
    ax, = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["L0 q", "L0 ffn-in", "L1 q"]   # graph order
    red = [p.get_facecolor()[:3] for p in ax.patches]
    assert red[2] != red[0] and red[0] == red[1]                  # only node a (L1 q) kept FP32
    assert "noise" in ax.get_ylabel() and ax.get_yscale() == "log"


def test_alpha_sweep_figure():
    sweep = pd.DataFrame({"alpha": [0.3, 0.5, 0.3, 0.5, None, None], "n_fp32": [0, 0, 2, 2, 0, 2],
                          "mean_cosine": [0.95, 0.96, 0.99, 0.995, 0.9, 0.97],
                          "smoothquant": [True, True, True, True, False, False]})
    fig = plots.quantize.alpha_sweep_figure(sweep, gate_min_cosine=0.99)
    ax, = fig.axes
    assert _legend(ax) == ["0 MatMul(s) FP32", "2 MatMul(s) FP32", "gate"]
    assert {ln.get_ydata()[0] for ln in ax.lines if ln.get_linestyle() == ":"} == {0.9, 0.97}


def _gate_table() -> pd.DataFrame:
    """A gate table where static INT8 without SmoothQuant lands exactly on dynamic INT8 (the defect)."""
    return pd.DataFrame({
        "format": ["fp32-torch", "onnx-fp32", "onnx-int8-dynamic", "onnx-int8-static:no-smoothquant",
                   "onnx-int8-dynamic:per-tensor", "onnx-int8-smoothquant", "onnx-int8-smoothquant:QOperator"],
        "passed": [True, True, True, False, False, True, True],
        "sentences_per_s": [100.0, 150.0, 300.0, 300.0, 300.0, 280.0, 280.0],
        "acc1": [0.50, 0.50, 0.49, 0.49, 0.49, 0.495, 0.495]})


def test_gate_figure_labels_every_point():
    fig = plots.quantize.gate_figure(_gate_table(), batch_size=32)
    ax, = fig.axes
    assert sorted(t.get_text() for t in ax.texts) == sorted(
        ["fp32-torch", "onnx-fp32", "dynamic", "static:no-smoothquant", "dynamic:per-tensor", "smoothquant",
         "smoothquant:QOperator"])
    assert ax.get_xlabel() == "sentences / s (batch 32, this CPU)"
    assert len([c for c in ax.collections if c.get_alpha() != 0]) == 7   # one visible marker per format


def _overlapping_labels(fig) -> list[tuple[str, str]]:
    fig.canvas.draw()
    boxes = [(t.get_text(), t.get_window_extent()) for ax in fig.axes for t in ax.texts]
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:] if ba.overlaps(bb)]


@pytest.mark.parametrize("all_on_one_point", [False, True])
def test_gate_figure_labels_never_overlap(all_on_one_point):
    """The 03-gate defect: "static:no-smoothquant" was printed on top of "dynamic" (same point)."""
    import matplotlib
    assert matplotlib.get_backend().lower() == "agg"
    table = _gate_table()
    if all_on_one_point:                                # every variant built the same graph
        table = table.assign(sentences_per_s=200.0, acc1=0.5)
    assert _overlapping_labels(plots.quantize.gate_figure(table, batch_size=32)) == []


def test_overlap_check_can_fail():
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.text(0.5, 0.5, "dynamic")
    ax.text(0.5, 0.5, "static:no-smoothquant")
    assert _overlapping_labels(fig) == [("dynamic", "static:no-smoothquant")]


def test_accuracy_figure_bars_and_ci():
    frame = pd.DataFrame({"acc@1": [0.5, 0.6], "acc@1_lo": [0.4, 0.55], "acc@1_hi": [0.6, 0.65],
                          "mrr": [0.7, 0.8], "mrr_lo": [0.6, 0.7], "mrr_hi": [0.8, 0.9]},
                         index=["fp32-torch", "onnx-int8-dynamic"])
    fig = plots.align.accuracy_figure(frame, ["acc@1", "mrr"], title="t")
    ax, = fig.axes
    assert [p.get_height() for p in ax.patches] == pytest.approx([0.5, 0.7, 0.6, 0.8])
    assert _legend(ax) == ["FP32 (PyTorch)", "INT8 dynamic"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["acc@1", "mrr"]


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


def test_activation_figure_shares_colour_scale_per_row():
    before = np.array([[0.0, 8.0], [1.0, -2.0], [3.0, 0.5]])  # 3 tokens x 2 channels
    after = before / np.array([4.0, 2.0])
    fig = plots.outliers.activation_figure([("row", before, after)], ("before", "after"), title="Figure 4",
                                           max_tokens=2)
    ims = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(ims) == 2
    for im in ims:
        assert im.get_clim() == (0.0, 8.0)               # the row's max |x|, shared
        assert im.get_array().shape == (2, 2)             # channel x token, tokens capped
    assert np.allclose(ims[1].get_array(), np.abs(after[:2]).T)
    assert fig.get_suptitle() == "Figure 4"


def test_rating_figure_shares():
    counts = pd.DataFrame({0: [1, 0], 1: [0, 0], 2: [0, 2], 3: [0, 0], 4: [0, 0], 5: [3, 2]}, index=["a", "b"])
    fig = plots.ratings.rating_figure(counts, title="Figure 5a")
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["25", "0", "0", "0", "0", "75", "0", "0", "50", "0", "0", "50"]
    assert ax.get_title() == "Figure 5a"


def test_score_figure_one_panel_per_model_with_fits():
    rng = np.random.default_rng(0)
    panels = {"A (embedded tier)": {"fp32-torch": (rng.normal(0.6, 0.1, 50), (0.6, 0.1)),
                                    "onnx-int8-dynamic": (rng.normal(0.5, 0.1, 50), (0.5, 0.1))},
              "B (embedded tier)": {"fp32-torch": (rng.normal(0.4, 0.1, 50), (0.4, 0.1))}}
    fig = plots.ratings.score_figure(panels, title="Figure 5b")
    assert [ax.get_title() for ax in fig.axes] == ["A (embedded tier)", "B (embedded tier)"]
    assert _legend(fig.axes[0]) == ["FP32 (PyTorch): mu=0.600, sd=0.100", "INT8 dynamic: mu=0.500, sd=0.100"]
    curve = fig.axes[0].lines[0]
    peak = curve.get_ydata().max()
    assert peak == pytest.approx(1 / (0.1 * np.sqrt(2 * np.pi)), rel=1e-3)      # N(0.6, 0.1) density at its mean


def test_complementarity_figure():
    merged = pd.DataFrame({"score_a": [0.9, 0.5, 0.7, 0.1], "score_b": [0.2, 0.8, 0.6, 0.4],
                           "category": ["both right", "only A right", "only B right", "both wrong"]})
    acc = pd.DataFrame({"acc_a": [0.5], "acc_b": [0.5], "fusion": [0.25], "oracle": [0.75]}, index=["onnx-fp32"])
    fig = plots.ratings.complementarity_figure(merged, acc, "MiniLM", "MPNet", "onnx-fp32", title="Figure 5c")
    ax1, ax2 = fig.axes
    assert ax1.get_xlabel() == "A = MiniLM: top-1 score" and ax1.get_ylabel() == "B = MPNet: top-1 score"
    assert _legend(ax1) == ["both right (1)", "only A right (1)", "only B right (1)", "both wrong (1)"]
    assert _legend(ax2) == ["A MiniLM", "B MPNet", "score fusion", "oracle union"]
    assert [p.get_height() for p in ax2.patches] == pytest.approx([0.5, 0.5, 0.25, 0.75])


# ---------------------------------------------------------------------------------------------
# Figure 5c pairs two different models, or is skipped


@pytest.mark.parametrize("requested,available,expected", [
    ("mpnet-base", [], "mpnet-base"),                                     # an explicit other model
    ("", ["minilm-l6", "mpnet-base", "sapbert-large"], "mpnet-base"),     # first other one with results
    ("minilm-l6", ["minilm-l6", "mpnet-base"], "mpnet-base"),             # itself: never; another instead
    ("", ["minilm-l6", "tiny"], None),                                    # the test model is no partner
    ("minilm-l6", ["minilm-l6"], None),                                   # MODELS=minilm-l6: skipped
    ("", [], None),
])
def test_pair_second_model(requested, available, expected):
    second, note = ratings.pair_second_model("minilm-l6", requested, available)
    assert second == expected
    assert second != "minilm-l6"
    if expected is None:
        assert "needs two models" in note and "skipped" in note
    else:
        assert f"second model: {expected}" in note
    assert ("with itself" in note) == (requested == "minilm-l6")


# ---------------------------------------------------------------------------------------------
# lib.analysis.outliers (hand-computed)


def test_channel_max_and_shares():
    x = np.array([[1.0, -6.0, 0.1, 3.0], [-2.6, 2.0, 0.2, 8.0]])  # 2 tokens x 4 channels
    cm = outliers.channel_max(x)
    assert cm.tolist() == [2.6, 6.0, 0.2, 8.0]
    assert outliers.outlier_shares(cm) == {">2.5": 0.75, ">5": 0.5, ">7.5": 0.25}


def test_real_tokens_drops_padding():
    x = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)
    mask = np.array([[1, 1, 0], [1, 0, 0]])
    assert outliers.real_tokens(x, mask).tolist() == [[0, 1], [2, 3], [6, 7]]


def test_choose_nodes_negative_layers():
    t = pd.DataFrame({"node": [f"n{i}{k}" for i in range(3) for k in "qf"], "layer": [0, 0, 1, 1, 2, 2],
                      "kind": ["q", "ffn-in"] * 3})
    sel = outliers.choose_nodes(t, [-1], ["ffn-in", "q"])
    assert sel.node.tolist() == ["n2f", "n2q"]
    with pytest.raises(ValueError, match="available kinds"):
        outliers.choose_nodes(t, [0], ["v"])


# ---------------------------------------------------------------------------------------------
# Notebook smoke runs on tiny




def _result_json(notebook: str) -> dict:
    """The tiny run's result file as written on disk (what the paper assembly reads back)."""
    return json.loads(results.result_path("tiny", notebook).read_text(encoding="utf-8"))


@pytest.mark.notebook
def test_notebook_07_smoke(run_notebook, data_mirror, session_dirs):
    run_notebook("07-activation-outliers", debug_sentences=8, debug_max_seq=16)
    m = _result_json("07-activation-outliers")["metrics"]
    assert set(m["channel_shares"]) == {"before", "after"}
    assert set(m["channel_shares"]["before"]) == {"share>2.5", "share>5", "share>7.5"}
    assert m["max_abs"]["after"] < m["max_abs"]["before"]          # smoothing shrinks the peaks
    assert (session_dirs["figures"] / "tiny" / "fig4-activation-outliers.png").exists()
    dbg = pd.read_csv(results.table_path("tiny", "07-outliers.qdq-debug", "csv"))
    assert {"static INT8", "SmoothQuant + static INT8"} == set(dbg.variant)


def _fake_alignment(P, fmts, seed):
    """04-align results for tiny built from real HPO ids (gold, and a prediction at a known relation)."""
    from lib.data.hpo import load_hpo

    terms = load_hpo().terms
    rng = np.random.default_rng(seed)
    kids = terms[terms.parents.map(len) > 0].sample(40, random_state=seed)
    for fmt in fmts:
        rows = []
        for i, (hid, parents) in enumerate(zip(kids.hpo_id, kids.parents)):
            pred = hid if i % 3 == 0 else (parents[0] if i % 3 == 1 else kids.hpo_id.iloc[(i + 7) % 40])
            rows.append({"source_id": f"S{i}", "source_text": f"lay {i}", "gold_cui": "", "gold_hpo": hid,
                         "pred_str": pred, "pred_cui": "", "pred_hpo": pred,
                         "score": float(rng.normal(0.6 if pred == hid else 0.4, 0.1)),
                         "gold_rank": 1 if pred == hid else 5, "correct": pred == hid})
        pd.DataFrame(rows).to_csv(results.table_path(P.name, f"04-align.{fmt}.main"), index=False)
    results.write_result(P, "04-align", identity={}, metrics={"formats": {f: {"acc@1": 1 / 3} for f in fmts}},
                        data={"tier": "embedded"})


@pytest.mark.notebook
def test_notebook_08_smoke(run_notebook, session_dirs, tmp_path):
    import shutil

    from lib import params
    P = params.load("tiny")
    _fake_alignment(P, ["fp32-torch", "onnx-int8-dynamic"], seed=0)
    experts = tmp_path / "experts.csv"
    experts.write_text("source,target,rating\nS1,does-not-match,2\n" +
                       "".join(f"S{i},lay-unused,1\n" for i in range(2, 3)))
    fig_dir = session_dirs["figures"] / "tiny"
    fig_dir.mkdir(parents=True, exist_ok=True)
    (fig_dir / "fig5c-complementarity.png").write_bytes(b"stale")    # from an earlier paired run

    # one model (MODELS=minilm-l6): second_model = itself is refused, 5c skipped and recorded, not drawn
    run_notebook("08-heatmaps", second_model="tiny", expert_ratings=str(experts))
    rec = _result_json("08-heatmaps")
    m = rec["metrics"]
    r = m["ratings"]["tiny/fp32-torch"]
    # every third source is exact (5), every third is its parent (4): hand-built above
    assert r["counts"]["5"] >= 14 and r["counts"]["4"] >= 13 and r["unratable"] == 0
    assert m["expert_ratings"][0]["unmatched_expert_rows"] == 2
    assert m["models"] == ["tiny"] and m["complementarity"] == {}
    assert rec["figure5c"]["drawn"] is False and rec["figure5c"]["second_model"] is None
    assert "needs two models" in rec["figure5c"]["note"] and "with itself" in rec["figure5c"]["note"]
    for stem in ("fig5a-rating-heatmap", "fig5b-score-distributions"):
        assert (fig_dir / f"{stem}.png").exists()
    assert not (fig_dir / "fig5c-complementarity.png").exists()

    # a second model with 04-align results: 08 pairs with it on its own
    B = P.model_copy(update={"name": "tiny-b", "display_name": "tiny B"})
    _fake_alignment(B, ["fp32-torch"], seed=1)
    try:
        run_notebook("08-heatmaps")
        rec = _result_json("08-heatmaps")
    finally:
        shutil.rmtree(session_dirs["results"] / "tiny-b")               # later tests see one model again
    m = rec["metrics"]
    assert m["models"] == ["tiny", "tiny-b"] and list(m["complementarity"]) == ["fp32-torch"]
    assert m["complementarity"]["fp32-torch"]["oracle"] == pytest.approx(14 / 40)
    assert rec["figure5c"] == {"drawn": True, "second_model": "tiny-b", "format": "fp32-torch",
                               "note": "second model: tiny-b (first other model with 04-align results: ['tiny-b'])"}
    assert (fig_dir / "fig5c-complementarity.png").exists()


@pytest.mark.parametrize("name,layer,kind", [
    ("/m/encoder/layer.3/attention/self/query/MatMul", 3, "q"),
    ("/m/encoder/layer.0/attention/attn/q/MatMul", 0, "q"),      # MPNet
    ("/m/encoder/layer.1/attention/attn/o/MatMul", 1, "attn-out"),
    ("/m/encoder/layer.1/intermediate/dense/MatMul", 1, "ffn-in"),
])
def test_describe_roles(name, layer, kind):
    from lib.compress.graph import describe_matmul
    assert describe_matmul(name) == {"layer": layer, "kind": kind}


def test_smooth_scales_read_back_from_graph(tmp_path):
    """ORTSmoothQuant (folding off) stores 1/s as '<node>_smooth_scale'; we return s."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    inits = [numpy_helper.from_array(np.array([0.5, 0.25], np.float32), "mm_smooth_scale"),
             numpy_helper.from_array(np.ones((2, 3), np.float32), "w")]
    nodes = [helper.make_node("Mul", ["x", "mm_smooth_scale"], ["mm_smooth_output"], name="mm_smooth_mul"),
             helper.make_node("MatMul", ["mm_smooth_output", "w"], ["y"], name="mm")]
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits)), path)
    s = outliers.smooth_scales(path)
    assert list(s) == ["mm"] and s["mm"].tolist() == [2.0, 4.0]
    t = outliers.matmul_inputs(path)
    assert t[["node", "activation", "weight", "channels"]].values.tolist() == [["mm", "mm_smooth_output", "w", 2]]
