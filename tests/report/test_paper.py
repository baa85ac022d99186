"""Paper assembly: tables and summary numbers come from the result files, missing files give rows."""

from __future__ import annotations

import json
import re

import pytest

from lib import params, results
from lib.data import paper
from lib.report import paper as assemble
from lib.report import table3

SETS1 = {
    "stsb-fr": {"label": "public stand-in: STS-benchmark FR (test)", "tier": "public stand-in",
                "undersampled_test": False,
                "mappings": {"minmax": {"n": 60, "edrm": 0.7123, "edrm_convention": "reference",
                                        "spearman": 0.6543, "spearman_p": 1.5e-8,
                                        "classification": {"threshold": 2.5, "accuracy": 0.61, "precision": 0.62,
                                                           "recall": 0.63, "f1": 0.64}},
                             "isotonic": {"n": 60, "edrm": 0.7345, "edrm_convention": "reference",
                                          "spearman": 0.6501, "spearman_p": 2.0e-8,
                                          "classification": {"threshold": 2.5, "accuracy": 0.5, "precision": 0.5,
                                                             "recall": 0.5, "f1": 0.5}}}}}
T1 = {"tier": "public stand-in", "model_formats": ["onnx-int8-smoothquant"], "model_format": "onnx-int8-smoothquant",
      "formats": {"onnx-int8-smoothquant": SETS1}, "datasets": SETS1}
SETS2 = {"hpo-fr": {"label": "public stand-in: HPO FR", "tier": "public stand-in", "n_items": 60,
                    "map_1": 0.91, "map_2": 0.92, "map_3": None, "map_mean": 0.915, "p_at_1": 0.85}}
T2 = {"tier": "public stand-in", "model_formats": ["onnx-int8-smoothquant"], "model_format": "onnx-int8-smoothquant",
      "formats": {"onnx-int8-smoothquant": SETS2}, "datasets": SETS2}
GATED = {"passed": True, "reasons": [], "variant": "default"}
Q = {"reference": "fp32-torch", "chosen": "onnx-int8-dynamic", "formats": {
    "fp32-torch": {"format": "fp32-torch", **GATED, "latency_avg_ms": 40.0, "size_mb": 90.0, "acc1": 0.5,
                   "energy_j_per_1k": None, "co2_g_per_1k": None},
    "onnx-int8-dynamic": {"format": "onnx-int8-dynamic", **GATED, "latency_avg_ms": 10.0, "size_mb": 30.0,
                          "acc1": 0.49, "energy_j_per_1k": None, "co2_g_per_1k": None},
    "torch-int8": {"format": "torch-int8", **GATED, "latency_avg_ms": 20.0, "size_mb": 45.0, "acc1": 0.49,
                   "energy_j_per_1k": None, "co2_g_per_1k": None}}}


@pytest.fixture
def tiny_results():
    """Small result files for params 'tiny': 03 and 05 present, 06 missing, 04 missing."""
    P = params.load("tiny")
    results.write_result(P, assemble.NB_TASK1, identity={}, metrics=T1, data={"tier": "public stand-in"})
    results.write_result(P, assemble.NB_QUANT, identity={}, metrics=Q, data={"tier": "embedded+public"})
    results.result_path("tiny", assemble.NB_TASK2).unlink(missing_ok=True)
    return P


def _num(x):
    return None if x is None else float(x)


def test_summary_numbers_match_results_json(tiny_results):
    recs = assemble.load_records(["tiny"])
    rows = assemble.summary_rows(recs, paper.reported())
    stored = json.loads(results.result_path("tiny", assemble.NB_TASK1).read_text())["metrics"]
    mm = stored["datasets"]["stsb-fr"]["mappings"]["minmax"]
    t1 = rows[rows.section == "Table 1"]
    assert len(t1) == 2 * 2  # two paper models x (EDRM, Spearman): one row per quantity
    for _, r in t1.iterrows():
        key = {"EDRM": "edrm", "Spearman": "spearman"}[r.quantity.split(": ")[1]]
        assert _num(r.ours) == mm[key]
        assert r["data tier (ours)"] == "public stand-in"
    # the paper's numbers come from paper_reported.yaml, beside ours
    kriss = t1[t1.quantity == "KRISSBERT INT8: EDRM"].iloc[0]
    assert kriss.paper == next(x["edrm"] for x in paper.reported()["table1"] if x["system"] == "KRISSBERT INT8")
    # Table 3: speed-up and size ratio computed from 03's numbers
    t3 = rows[rows.section == "Table 3"]
    sp = t3[t3.quantity == "T1 KRISSBERT: latency speed-up (before / after)"].iloc[0]
    assert sp.ours == pytest.approx(40.0 / 10.0)
    size = t3[t3.quantity == "T1 KRISSBERT: size after / before"].iloc[0]
    assert size.ours == pytest.approx(30.0 / 90.0)
    assert list(rows.columns) == assemble.SUMMARY_COLUMNS and "from" not in rows
    f1 = t3[t3.quantity == "T1 KRISSBERT: F1"].iloc[0]
    assert f1.ours == mm["classification"]["f1"] and f1.paper == next(
        x["f1"] for x in paper.reported()["table3"]["rows"] if x["task"] == 1 and x["model"] == "KRISSBERT")
    energy = t3[t3.quantity.str.endswith("energy after / before")]
    assert energy.ours.isna().all() and energy.paper.notna().all()


def test_missing_result_gives_not_run_row(tiny_results):
    recs = assemble.load_records(["tiny"])
    rows = assemble.summary_rows(recs, paper.reported())
    t2 = rows[rows.section == "Table 2"]
    assert len(t2) and t2.ours.isna().all()
    assert (t2["our system"] == "not run (make results/tiny/06-deft-task2-map.json)").all()
    table2 = assemble.table2(recs, paper.reported())
    assert table2.data.iloc[0] == "not run (make results/tiny/06-deft-task2-map.json)"


def test_tables_and_summary_files(tiny_results):
    recs = assemble.load_records(["tiny"])
    rep = paper.reported()
    t1 = assemble.table1(recs, rep)
    ours = t1[t1.source == "ours"]
    assert ours.EDRM.tolist() == [0.7123, 0.7345] and (ours.tier == "public stand-in").all()
    assert (t1[t1.source == "paper"].tier == table3.PAPER_TIER).all()
    files = list(results.write_table(results.PAPER, "table1-deft-task1", t1, formats=("csv", "md", "tex"),
                                    caption="Table 1. test caption & 50% _x_").values())
    csv, md, tex = (p.read_text() for p in files)
    assert "0.7123" in csv and "0.7123" in md and "0.8604" in md and "1.5\u00d710\u207b\u2078" in md
    assert "\\begin{tabular}" in tex and "\\caption{Table 1. test caption \\& 50\\% \\_x\\_}" in tex
    t3 = assemble.table3(recs, rep)
    mine = t3[t3.source.str.startswith("ours")]
    assert mine["speed-up"].tolist() == [4.0, 4.0] and mine.accuracy.iloc[0] == 0.61
    assert "not run (make results/tiny/06-deft-task2-map.json)" in mine.source.iloc[0]
    out, rows = assemble.write_summary(recs, rep, {"Table 1": files}, [])
    text = out.read_text()
    assert out.name == "summary.md" and "0.7123" in text and "0.8604" in text
    assert "not run (make results/tiny/06-deft-task2-map.json)" in text
    assert_cites_only_the_repository(text)


def assert_cites_only_the_repository(text: str) -> None:
    """Every file the summary names is in the repository (or generated: results/, figures/, build/, or a
    temporary folder of the test), and the paper is cited by its arXiv id (issue 27: it cited
    shared/paper-notes.md, which a reader of the repository does not have)."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    path = r"(?<![\w/.-])((?:\.\./)?[\w.-]+(?:/[\w.-]+)+\.(?:md|yaml|yml|py|ipynb|json|csv|txt))"
    named = set(re.findall(path, text))
    generated = ("results/", "figures/", "build/", "/")
    missing = [p for p in named if not p.startswith(generated) and not (root / p).exists()]
    assert missing == [], f"the summary names files that are not in the repository: {missing}"
    assert "arXiv:2507.13742" in text and "shared/" not in text


def test_tables_list_every_format_of_a_multi_format_run(tiny_results):
    """05/06 run every format in params: Tables 1 and 2 get one row group per format."""
    int8 = json.loads(json.dumps(T1["datasets"]))
    int8["stsb-fr"]["mappings"]["minmax"]["edrm"] = 0.7001
    t1 = {**T1, "model_format": "fp32-torch", "model_formats": ["fp32-torch", "onnx-int8-dynamic"],
          "formats": {"fp32-torch": T1["datasets"], "onnx-int8-dynamic": int8}}
    P = params.load("tiny")
    results.write_result(P, assemble.NB_TASK1, identity={}, metrics=t1, data={"tier": "public stand-in"})
    ours = assemble.table1(assemble.load_records(["tiny"]), paper.reported())
    ours = ours[ours.source == "ours"]
    assert ours.EDRM.tolist() == [0.7123, 0.7345, 0.7001, 0.7345]
    assert ours.system.str.contains(r"\[onnx-int8-dynamic\] \(minmax\)").sum() == 1


def _multi_format_t1(edrm: dict[str, float]) -> dict:
    """A 05 result that ran several formats, FP32 first (the headline), with distinct EDRMs."""
    formats = {}
    for fmt, v in edrm.items():
        sets = json.loads(json.dumps(T1["datasets"]))
        sets["stsb-fr"]["mappings"]["minmax"]["edrm"] = v
        sets["stsb-fr"]["mappings"]["minmax"]["classification"]["accuracy"] = v / 2
        sets["stsb-fr"]["mappings"]["minmax"]["classification"]["f1"] = v / 4
        formats[fmt] = sets
    first = next(iter(edrm))
    return {**T1, "model_format": first, "model_formats": list(edrm), "formats": formats,
            "datasets": formats[first]}


@pytest.mark.parametrize("chosen,expected", [("onnx-int8-dynamic", "onnx-int8-dynamic"),
                                              ("torch-int8", "onnx-int8-smoothquant")])
def test_summary_pairs_paper_int8_rows_with_our_int8(tiny_results, chosen, expected):
    """The paper's rows are INT8: beside them goes the gate's INT8 choice if 05 ran it, else SmoothQuant,
    never the FP32 headline."""
    edrm = {"onnx-fp32": 0.70, "onnx-int8-dynamic": 0.71, "onnx-int8-smoothquant": 0.72}
    P = params.load("tiny")
    results.write_result(P, assemble.NB_TASK1, identity={}, metrics=_multi_format_t1(edrm),
                         data={"tier": "public stand-in"})
    results.write_result(P, assemble.NB_QUANT, identity={}, metrics={**Q, "chosen": chosen}, data={"tier": "embedded"})
    recs = assemble.load_records(["tiny"])
    rows = assemble.summary_rows(recs, paper.reported())
    t1 = rows[(rows.section == "Table 1") & rows.quantity.str.endswith(": EDRM")]
    assert len(t1) == 2 and (t1.ours == edrm[expected]).all()
    assert t1["our system"].str.contains(f"[{expected}]", regex=False).all()
    f1 = rows[rows.quantity == "T1 KRISSBERT: F1"].iloc[0]
    assert f1.ours == edrm[expected] / 4 and f"[{expected}]" in f1["our system"]
    t3 = assemble.table3(recs, paper.reported())
    assert t3[t3.source.str.startswith("ours") & (t3.task == 1)].accuracy.iloc[0] == edrm[expected] / 2


def test_summary_keeps_fp32_headline_when_no_int8_ran(tiny_results):
    P = params.load("tiny")
    results.write_result(P, assemble.NB_TASK1, identity={}, metrics=_multi_format_t1({"onnx-fp32": 0.70}),
                        data={"tier": "public stand-in"})
    rows = assemble.summary_rows(assemble.load_records(["tiny"]), paper.reported())
    t1 = rows[(rows.section == "Table 1") & rows.quantity.str.endswith(": EDRM")]
    assert (t1.ours == 0.70).all() and t1["our system"].str.contains("[onnx-fp32]", regex=False).all()


@pytest.mark.parametrize("raw,label", [("licensed DEFT 2020", "licensed"), ("public stand-in", "public stand-in"),
                                       ("embedded", "embedded"), (None, "unknown"),
                                       ("embedded+public", "embedded + public stand-in")])
def test_tier_label(raw, label):
    assert assemble.tier_label(raw) == label


def test_pair_models():
    """The paper's SapBERT-Large beside our self-aligned model, KRISSBERT beside MiniLM-L6, unless told."""
    assert assemble.pair_models(["minilm-l6", "minilm-l6-sap"]) == {"KRISSBERT": "minilm-l6",
                                                                    "SapBERT-Large": "minilm-l6-sap"}
    assert assemble.pair_models(["minilm-l6", "mpnet-base"]) == {"KRISSBERT": "minilm-l6",
                                                                 "SapBERT-Large": "minilm-l6"}
    assert assemble.pair_models(["tiny"]) == {"KRISSBERT": "tiny", "SapBERT-Large": "tiny"}
    assert assemble.pair_models(["minilm-l6", "mpnet-base"], {"KRISSBERT": ["mpnet-base"]}) == {
        "KRISSBERT": "mpnet-base"}


def test_fmt_number():
    from lib.results.tables import fmt_number
    assert [fmt_number(x) for x in (0.86041, 2.07e-97, 12, None, float("nan"), "x")] == [
        "0.8604", "2.07e-97", "12", "", "", "x"]


@pytest.mark.notebook
def test_notebook_09_smoke(tiny_results, run_notebook, session_dirs):
    run_notebook("09-paper", models=["tiny"])  # as make passes MODELS: other tests leave other results
    rec = results.read_result("tiny", "09-paper")
    assert rec.metrics.models == ["tiny"] and rec.metrics.rows_compared > 0
    assert (session_dirs["results"] / "summary.md").exists()
    for stem in ("table1-deft-task1", "table2-deft-task2", "table3-optimization"):
        for ext in ("csv", "md", "tex"):
            assert (session_dirs["results"] / "paper" / f"{stem}.{ext}").exists()


def test_summary_outlier_rows_match_07_json(tiny_results):
    results.result_path("tiny", assemble.NB_HEATMAPS).unlink(missing_ok=True)  # left by other smoke tests
    shares = {"before": {"share>2.5": 0.125, "share>5": 0.03, "share>7.5": 0.01},
              "after": {"share>2.5": 0.0, "share>5": 0.0, "share>7.5": 0.0}}
    results.write_result(tiny_results, assemble.NB_OUTLIERS, identity={}, data={"tier": "public stand-in"},
                        metrics={"alpha": 0.5, "channel_shares": shares, "max_abs": {"before": 28.5, "after": 4.0},
                                 "qdq_mean_cosine_to_fp32": {"static": 0.93, "smoothquant": 0.95}})
    rows = assemble.summary_rows(assemble.load_records(["tiny"]), paper.reported())
    f4 = rows[rows.section == "Figure 4"].set_index("quantity")
    assert f4.loc["tiny: share of channels with max abs(x) > 5 (before SmoothQuant)", "ours"] == 0.03
    assert f4.loc["tiny: max abs(x) (after SmoothQuant)", "ours"] == 4.0
    assert f4.loc["tiny: QDQ static INT8 (smoothquant) mean cosine to FP32", "ours"] == 0.95
    assert f4.paper.isna().all()                       # the paper reports no number for Figure 4
    f5 = rows[rows.section == "Figure 5"]
    assert (f5["our system"] == "not run (make results/tiny/08-heatmaps.json)").all()
    results.result_path("tiny", assemble.NB_OUTLIERS).unlink()
