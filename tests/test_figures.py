"""Plot helpers, activation-outlier statistics, and smoke runs of notebooks 07 and 08 on tiny."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lib import plots, report
from lib.analysis import outliers

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# lib.plots


def test_format_colors_are_stable_and_distinct():
    fmts = ["fp32-torch", "onnx-fp32", "onnx-int8-dynamic", "onnx-int8-smoothquant", "torch-int8", "olive-best"]
    assert len({plots.format_color(f) for f in fmts}) == len(fmts)
    assert plots.format_color("some-new-format") == plots.format_color("some-new-format")
    assert plots.format_label("onnx-int8-smoothquant") == "INT8 SmoothQuant"
    assert plots.format_label("unknown") == "unknown"


def test_paired_heatmaps_share_colour_scale_per_row():
    before = np.array([[0.0, 8.0], [1.0, -2.0], [3.0, 0.5]])  # 3 tokens x 2 channels
    after = before / np.array([4.0, 2.0])
    fig = plots.paired_heatmaps([("row", before, after)], ("before", "after"), max_tokens=2)
    ims = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(ims) == 2
    for im in ims:
        assert im.get_clim() == (0.0, 8.0)               # the row's max |x|, shared
        assert im.get_array().shape == (2, 2)             # channel x token, tokens capped
    assert np.allclose(ims[1].get_array(), np.abs(after[:2]).T)


def test_save_figure_writes_png_and_pdf(session_dirs):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=plots.figsize(0.5))
    ax.plot([0, 1], [0, 1])
    out = plots.save_figure(fig, "unit-test", "tiny")
    assert [p.suffix for p in out] == [".png", ".pdf"] and all(p.exists() for p in out)
    assert out[0].parent == session_dirs["figures"] / "tiny"


def test_rating_heatmap_shares():
    import matplotlib.pyplot as plt
    counts = pd.DataFrame({0: [1, 0], 1: [0, 0], 2: [0, 2], 3: [0, 0], 4: [0, 0], 5: [3, 2]}, index=["a", "b"])
    fig, ax = plt.subplots()
    plots.rating_heatmap(ax, counts)
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["25", "0", "0", "0", "0", "75", "0", "0", "50", "0", "0", "50"]


# ---------------------------------------------------------------------------------------------
# lib.outliers (hand-computed)


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


@pytest.fixture
def data_mirror(monkeypatch):
    """Calibration text (BIOSSES, STS-b) comes from the public-data mirror; no internet in tests."""
    if not os.environ.get("COMPENDIUM_DATA_MIRROR"):
        mirror = ROOT.parent / "shared" / "data"
        if not mirror.exists():
            pytest.skip("set COMPENDIUM_DATA_MIRROR to a copy of the public data")
        monkeypatch.setenv("COMPENDIUM_DATA_MIRROR", str(mirror))


@pytest.mark.notebook
def test_notebook_07_smoke(run_notebook, data_mirror, session_dirs):
    run_notebook("07-activation-outliers", debug_sentences=8, debug_max_seq=16)
    m = report.read_result("tiny", "07-activation-outliers")["metrics"]
    assert set(m["channel_shares"]) == {"before", "after"}
    assert set(m["channel_shares"]["before"]) == {"share>2.5", "share>5", "share>7.5"}
    assert m["max_abs"]["after"] < m["max_abs"]["before"]          # smoothing shrinks the peaks
    assert (session_dirs["figures"] / "tiny" / "fig4-activation-outliers.png").exists()
    dbg = pd.read_csv(report.table_path("tiny", "07-outliers.qdq-debug", "csv"))
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
        pd.DataFrame(rows).to_csv(report.table_path(P.name, f"04-align.{fmt}.main"), index=False)
    report.write_result(P, "04-align", metrics={"formats": {f: {"acc@1": 1 / 3} for f in fmts}},
                        data={"tier": "embedded"})


@pytest.mark.notebook
def test_notebook_08_smoke(run_notebook, session_dirs, tmp_path):
    from lib import params
    P = params.load("tiny")
    _fake_alignment(P, ["fp32-torch", "onnx-int8-dynamic"], seed=0)
    experts = tmp_path / "experts.csv"
    experts.write_text("source,target,rating\nS1,does-not-match,2\n" +
                       "".join(f"S{i},lay-unused,1\n" for i in range(2, 3)))
    run_notebook("08-heatmaps", second_model="tiny", expert_ratings=str(experts))
    m = report.read_result("tiny", "08-heatmaps")["metrics"]
    r = m["ratings"]["tiny/fp32-torch"]
    # every third source is exact (5), every third is its parent (4): hand-built above
    assert r["counts"]["5"] >= 14 and r["counts"]["4"] >= 13 and r["unratable"] == 0
    assert m["complementarity"]["fp32-torch"]["oracle"] == pytest.approx(14 / 40)
    assert m["expert_ratings"][0]["unmatched_expert_rows"] == 2
    for stem in ("fig5a-rating-heatmap", "fig5b-score-distributions", "fig5c-complementarity"):
        assert (session_dirs["figures"] / "tiny" / f"{stem}.png").exists()


@pytest.mark.parametrize("name,layer,kind", [
    ("/m/encoder/layer.3/attention/self/query/MatMul", 3, "q"),
    ("/m/encoder/layer.0/attention/attn/q/MatMul", 0, "q"),      # MPNet
    ("/m/encoder/layer.1/attention/attn/o/MatMul", 1, "attn-out"),
    ("/m/encoder/layer.1/intermediate/dense/MatMul", 1, "ffn-in"),
])
def test_describe_roles(name, layer, kind):
    assert outliers.describe(name) == {"layer": layer, "kind": kind}


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
