"""DEFT 2020 Task 1/2: metrics on hand-computed cases, XML readers/writers, stand-in builder, notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lib import params
from lib.data import deft
from lib.errors import DataFormatError
from lib.evaluate import deft_metrics as ev_deft
from lib.evaluate import sts
from lib.evaluate import regression
from lib.report import deft_tables

ROOT = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------------------------------------
# EDRM, both conventions (hand-computed)


def test_edrm_reference_convention_clips_and_normalises_by_reference():
    # r=0,s=1: dmax 5, 1-1/5=0.8 | r=5,s=5: 1 | r=2.5,s=0: dmax 2.5, 0 | r=4,s=6->5: dmax 4, 0.75
    items = ev_deft.edrm_items([1, 5, 0, 6], [0, 5, 2.5, 4], "reference")
    np.testing.assert_allclose(items, [0.8, 1.0, 0.0, 0.75])
    assert ev_deft.edrm([1, 5, 0, 6], [0, 5, 2.5, 4]) == pytest.approx(0.6375)


def test_edrm_system_convention_normalises_by_system_and_counts_missing_as_zero():
    # s=1,r=0: dmax 4, 0.75 | s=5,r=5: 1 | s=0,r=2.5: dmax 5, 0.5 | s=NaN->0,r=4: dmax 5, 0.2
    items = ev_deft.edrm_items([1, 5, 0, np.nan], [0, 5, 2.5, 4], "system")
    np.testing.assert_allclose(items, [0.75, 1.0, 0.5, 0.2])
    assert ev_deft.edrm([1, 5, 0, np.nan], [0, 5, 2.5, 4], "system") == pytest.approx(0.6125)


def test_edrm_conventions_differ_and_perfect_is_one():
    assert ev_deft.edrm([2, 3], [2, 3]) == 1.0 == ev_deft.edrm([2, 3], [2, 3], "system")
    assert ev_deft.edrm([1], [3], "reference") == pytest.approx(1 - 2 / 3)
    assert ev_deft.edrm([1], [3], "system") == pytest.approx(1 - 2 / 4)
    with pytest.raises(ValueError):
        ev_deft.edrm([1], [3], "other")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ev_deft.edrm([1, 2], [3])


# ---------------------------------------------------------------------------------------------
# Task 2: ranks, MAP, map-k, P@1 (hand-computed)

SCORES = np.array([[0.9, 0.1, 0.2],   # gold 1 -> rank 1
                   [0.5, 0.7, 0.6],   # gold 3 -> rank 2
                   [0.3, 0.2, 0.1],   # gold 3 -> rank 3
                   [0.4, 0.4, 0.1],   # gold 2, tie with 1 -> rank 2 (ties count against the system)
                   [0.1, 0.8, 0.3]])  # gold 2 -> rank 1
GOLD = np.array([1, 3, 3, 2, 2])


def test_gold_ranks_pessimistic_ties():
    np.testing.assert_array_equal(ev_deft.gold_candidate_ranks(SCORES, GOLD), [1, 2, 3, 2, 1])
    assert ev_deft.gold_candidate_ranks(np.zeros((2, 3)), [1, 3]).tolist() == [3, 3]  # a constant scorer gets nothing
    with pytest.raises(ValueError):
        ev_deft.gold_candidate_ranks(SCORES, [0, 1, 1, 1, 1])


def test_task2_map_mapk_and_p_at_1():
    m = ev_deft.task2_metrics(ev_deft.gold_candidate_ranks(SCORES, GOLD), GOLD)
    assert m["map"] == pytest.approx((1 + 0.5 + 1 / 3 + 0.5 + 1) / 5)
    assert m["map_1"] == pytest.approx(1.0)
    assert m["map_2"] == pytest.approx((0.5 + 1) / 2)
    assert m["map_3"] == pytest.approx((0.5 + 1 / 3) / 2)
    assert m["map_mean"] == pytest.approx((1 + 0.75 + 5 / 12) / 3)
    assert m["p_at_1"] == pytest.approx(0.4)
    assert (m["n_items"], m["n_items_1"], m["n_items_2"], m["n_items_3"]) == (5, 1, 2, 2)
    assert m["map_ci"] is None  # bootstrap off


def test_task2_empty_group_is_none_not_zero():
    m = ev_deft.task2_metrics([1, 2], [1, 1])
    assert m["map_2"] is None and m["map_3"] is None
    assert m["map_mean"] == pytest.approx(0.75) == m["map"]


def test_candidate_scores_are_rowwise_cosines():
    src = np.array([[1.0, 0.0], [0.0, 1.0]])
    cands = np.array([[[1, 0], [0, 1], [0.6, 0.8]], [[1, 0], [0, 1], [0.6, 0.8]]], dtype=float)
    np.testing.assert_allclose(ev_deft.candidate_scores(src, cands), [[1, 0, 0.6], [0, 1, 0.8]], atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Task 1: classification, mapping, correlations, undersampling


def test_classification_metrics_hand_computed():
    # pred>=2.5: [1,0,1,1]; gold>=2.5: [1,0,0,1] -> TP 2, FP 1, FN 0, TN 1
    c = ev_deft.classification_metrics([3, 1, 4, 2.5], [4, 2, 1, 3], 2.5)
    assert (c["accuracy"], c["precision"], c["recall"]) == pytest.approx((0.75, 2 / 3, 1.0))
    assert c["f1"] == pytest.approx(0.8)


def test_minmax_mapping_fitted_on_train_only_and_unclipped():
    m = ev_deft.fit_score_mapping([0.2, 0.6, 0.4], None, "minmax")
    np.testing.assert_allclose(m.transform([0.2, 0.4, 0.8]), [0.0, 2.5, 7.5])
    # the reference EDRM convention clips the 7.5 to 5
    assert ev_deft.edrm(m.transform([0.8]), [5.0]) == 1.0


def test_calibrated_mappings_stay_on_scale():
    x, y = [0.1, 0.2, 0.3, 0.4], [0.0, 1.0, 4.0, 5.0]
    iso = ev_deft.fit_score_mapping(x, y, "isotonic")
    np.testing.assert_allclose(iso.transform([0.0, 0.1, 0.4, 0.9]), [0.0, 0.0, 5.0, 5.0])
    lin = ev_deft.fit_score_mapping(x, y, "linear")
    out = lin.transform([-5.0, 0.25, 5.0])
    assert out[0] == 0.0 and out[2] == 5.0 and out[1] == pytest.approx(2.5)
    with pytest.raises(ValueError):
        ev_deft.fit_score_mapping(x, None, "isotonic")


def test_correlations_and_bootstrap_ci():
    pred, gold = [1, 2, 3, 4, 5, 6], [1, 3, 2, 4, 6, 5]
    c = ev_deft.correlations(pred, gold)
    assert c["spearman"] == pytest.approx(1 - 6 * 4 / (6 * 35))  # sum d^2 = 4
    assert 0 < c["spearman_p"] < 0.05
    lo, hi = sts.correlation_ci(pred, gold, "spearman", 200, 0)
    assert lo <= c["spearman"] <= hi
    assert sts.correlation_ci(pred, gold, "spearman", 0, 0) is None


def test_undersample_balances_classes_deterministically():
    gold = [4, 4, 4, 1, 3]
    keep = ev_deft.undersample_balanced(gold, 2.5, seed=0)
    assert len(keep) == 2 and 3 in keep
    assert keep.tolist() == ev_deft.undersample_balanced(gold, 2.5, seed=0).tolist()


def test_evaluate_task1_set_reports_both_mappings():
    rng = np.random.default_rng(0)
    gold = rng.uniform(0, 5, 80)
    cos = gold / 5 * 0.6 + 0.2 + rng.normal(0, 0.05, 80)
    r = ev_deft.evaluate_task1_set(cos[:40], gold[:40], cos[40:], gold[40:], threshold=2.5, bootstrap=20)
    assert set(r["mappings"]) == {"minmax", "isotonic"}
    mm = r["mappings"]["minmax"]
    assert mm["edrm_convention"] == "reference" and set(mm["edrm_by_convention"]) == {"reference", "system"}
    assert mm["spearman"] == pytest.approx(r["raw_cosine"]["spearman"])  # monotone map
    assert mm["spearman"] > 0.8 and mm["edrm"] > 0.7
    assert mm["edrm_ci"][0] <= mm["edrm"] <= mm["edrm_ci"][1]
    u = ev_deft.evaluate_task1_set(cos[:40], gold[:40], cos[40:], gold[40:], threshold=2.5, undersample_test=True)
    assert u["undersampled_test"] and u["n_test"] < 40


def test_regressors_fit_train_and_score_held_out():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 5, 200)
    y = 0.8 * x + rng.normal(0, 0.3, 200)
    fits = regression.compare_regressors(x[:150], y[:150], x[150:], y[150:])
    assert set(fits) == set(regression.REGRESSORS)
    assert fits["linear"]["r2_test"] > 0.85
    assert all(np.isfinite(f["r2_test"]) for f in fits.values())


def test_tables_put_paper_rows_beside_ours():
    from lib.data import paper
    from lib.results.tables import markdown
    m = ev_deft.task2_metrics(ev_deft.gold_candidate_ranks(SCORES, GOLD), GOLD)
    t2 = deft_tables.table2([("sys", {"x": {"label": "public stand-in: test", "tier": "public stand-in", **m}})],
                            paper.reported())
    assert t2.system.iloc[0] == "sys" and len(t2) == 1 + len(paper.reported()["table2"]) + 1
    md = markdown(t2)
    assert md.startswith("| system ") and "public stand-in: test" in md


# ---------------------------------------------------------------------------------------------
# XML readers and writers


def test_synthetic_files_roundtrip(tmp_path):
    files = deft.write_synthetic(tmp_path)
    assert set(files) == set(deft.FILES)
    t1 = deft.read_t1(files["t1-train.xml"])
    assert list(t1.columns) == deft.T1_COLUMNS and len(t1) == 40
    assert t1.moy.between(0, 5).all() and all(len(s) == 5 for s in t1.scores)
    assert np.allclose(t1.moy, [np.mean(s) for s in t1.scores])
    t2 = deft.read_t2(files["t2-test.xml"])
    assert list(t2.columns) == deft.T2_COLUMNS and len(t2) == 12 and t2.gold.isin([1, 2, 3]).all()
    # write -> read is the identity on the table
    again = deft.read_t2(deft.write_t2(t2, tmp_path / "copy.xml"))
    pd.testing.assert_frame_equal(t2, again, check_like=True)
    t1b = deft.read_t1(deft.write_t1(t1, tmp_path / "copy1.xml"))
    pd.testing.assert_frame_equal(t1[["id", "source", "cible", "moy"]], t1b[["id", "source", "cible", "moy"]])


T1_OK = ('<?xml version="1.0" encoding="UTF-8"?>\n<doc>\n'
         '<paire id="1" vote="3" moy="3,5" scores="3,4,4"><source>a b</source><cible>a c</cible></paire>\n'
         '{second}\n</doc>\n')


def _write(tmp_path, text, name="t1-test.xml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_t1_reader_accepts_decimal_comma(tmp_path):
    p = _write(tmp_path, T1_OK.format(second=""))
    df = deft.read_t1(p)
    assert df.moy.tolist() == [3.5] and df.scores[0] == [3.0, 4.0, 4.0] and df.vote[0] == 3.0


@pytest.mark.parametrize("second, element, field", [
    ('<paire id="2" vote="3"><source>x</source><cible>y</cible></paire>', '<paire> #2 id="2"', "moy"),
    ('<paire id="2" moy="abc"><source>x</source><cible>y</cible></paire>', '<paire> #2 id="2"', "moy"),
    ('<paire id="2" moy="7"><source>x</source><cible>y</cible></paire>', '<paire> #2 id="2"', "moy"),
    ('<paire id="2" moy="2"><source>x</source></paire>', '<paire> #2 id="2"', "cible"),
    ('<paire id="2" moy="2"><source> </source><cible>y</cible></paire>', '<paire> #2 id="2"', "source"),
    ('<paire moy="2"><source>x</source><cible>y</cible></paire>', "<paire> #2", "id"),
    ('<paire id="1" moy="2"><source>x</source><cible>y</cible></paire>', '<paire> #2 id="1"', "id"),
    ('<paire id="2" moy="2" scores="a,b"><source>x</source><cible>y</cible></paire>', '<paire> #2 id="2"', "scores"),
    ('<pair id="2" moy="2"><source>x</source><cible>y</cible></pair>', "<pair>", None),
])
def test_t1_reader_errors_name_file_element_and_field(tmp_path, second, element, field):
    p = _write(tmp_path, T1_OK.format(second=second))
    with pytest.raises(DataFormatError) as err:
        deft.read_t1(p)
    msg = str(err.value)
    assert str(p) in msg and element in msg
    if field:
        assert f"field {field!r}" in msg


def test_malformed_xml_names_file_and_line(tmp_path):
    p = _write(tmp_path, '<doc>\n<paire id="1" moy="2">\n<source>x</source><cible>y</cible>\n</doc>\n')
    with pytest.raises(DataFormatError, match=r"t1-test\.xml, line \d+: not well-formed XML"):
        deft.read_t1(p)
    p = _write(tmp_path, "<root><paire id='1'/></root>", "other.xml")
    with pytest.raises(DataFormatError, match=r"other\.xml.*root element is <root>"):
        deft.read_t1(p)


T2_BODY = ('<doc><ensemble id="7" cible="{gold}"><source>s</source>'
           '<cible num="1">a</cible><cible num="{n2}">b</cible><cible num="3">c</cible></ensemble></doc>')


@pytest.mark.parametrize("gold, n2, field", [("4", "2", "cible"), ("2", "1", "num"), ("2", "5", "num"),
                                             ("", "2", "cible")])
def test_t2_reader_errors_name_file_element_and_field(tmp_path, gold, n2, field):
    text = T2_BODY.format(gold=gold, n2=n2)
    if gold == "":
        text = text.replace(' cible=""', "")
    p = _write(tmp_path, text, "t2-test.xml")
    with pytest.raises(DataFormatError) as err:
        deft.read_t2(p)
    msg = str(err.value)
    assert str(p) in msg and '<ensemble> #1 id="7"' in msg and f"field {field!r}" in msg


def test_t2_reader_ok_and_missing_candidate(tmp_path):
    df = deft.read_t2(_write(tmp_path, T2_BODY.format(gold="2", n2="2"), "t2.xml"))
    assert df.iloc[0].to_dict() == {"id": "7", "source": "s", "cible_1": "a", "cible_2": "b", "cible_3": "c",
                                    "gold": 2}
    text = T2_BODY.format(gold="2", n2="2").replace('<cible num="3">c</cible>', "")
    with pytest.raises(DataFormatError, match="expected 3 <cible num=..> children, found 2"):
        deft.read_t2(_write(tmp_path, text, "t2b.xml"))


# ---------------------------------------------------------------------------------------------
# Task 2 stand-in builder (hand-made ontology)


def _toy_terms() -> pd.DataFrame:
    return pd.DataFrame({
        "hpo_id": ["A", "B", "C", "D", "E", "F", "G"],
        "source_text": ["def a", "def b", "def c", "def d", "def e", "", "def g"],
        "target_text": ["a", "b", "c", "d", "e", "f", "A"],  # G's label equals A's (case-insensitive)
        "parents": [["P"], ["P"], ["P"], ["P"], ["Q"], ["P"], ["R"]],
    })


def test_t2_standin_items_use_siblings_and_count_skips():
    df = deft.t2_items_from_terms(_toy_terms(), None, seed=3)
    # A..D each have >= 2 siblings with distinct labels (F has a label but no definition); E and G do not
    assert sorted(df.hpo_id) == ["A", "B", "C", "D"]
    assert df.attrs["skipped"] == {"no_source_text": 1, "no_target_text": 0, "fewer_than_two_siblings": 2}
    for rec in df.itertuples():
        cands = [rec.cible_1, rec.cible_2, rec.cible_3]
        assert cands[rec.gold - 1] == rec.hpo_id.lower() and len(set(cands)) == 3
        assert set(cands) <= {"a", "b", "c", "d", "f"}
    again = deft.t2_items_from_terms(_toy_terms(), None, seed=3)
    pd.testing.assert_frame_equal(df, again)
    assert len(deft.t2_items_from_terms(_toy_terms(), 2, seed=3)) == 2


# ---------------------------------------------------------------------------------------------
# Notebook smoke runs on tiny (stand-ins, and the licensed path on synthetic XML)


def _metrics(session_dirs, stem: str) -> dict:
    return json.loads((session_dirs["results"] / "tiny" / f"{stem}.json").read_text())["metrics"]


@pytest.mark.notebook
def test_notebook_05_standin(run_notebook, session_dirs, data_mirror):
    run_notebook("05-deft-task1-edrm")
    m = _metrics(session_dirs, "05-deft-task1-edrm")
    assert m["tier"] == "public stand-in" and set(m["datasets"]) == {"stsb-fr", "biosses"}
    d = m["datasets"]["biosses"]["mappings"]
    assert set(d) == {"minmax", "isotonic"} and 0 <= d["minmax"]["edrm"] <= 1
    assert set(m["datasets"]["stsb-fr"]["figure3_r2"]) == set(regression.REGRESSORS)
    assert m["model_formats"] == params.load("tiny").formats and set(m["formats"]) == set(m["model_formats"])
    assert m["formats"]["fp32-torch"] == m["datasets"]  # the headline is the first format
    for fmt in m["model_formats"]:
        assert (session_dirs["figures"] / "tiny" / f"fig3-task1-regression-{fmt}.png").exists()
    md = (session_dirs["results"] / "tiny" / "table1-deft-task1-fp32-torch.md").read_text()
    assert "public stand-in: BIOSSES" in md and "KRISSBERT INT8" in md


@pytest.mark.notebook
def test_notebooks_licensed_path_on_synthetic_xml(run_notebook, session_dirs, tmp_path):
    deft.write_synthetic(tmp_path)
    run_notebook("05-deft-task1-edrm", deft_dir=str(tmp_path), formats=["fp32-torch"])
    m = _metrics(session_dirs, "05-deft-task1-edrm")
    assert m["tier"] == "licensed DEFT 2020" and list(m["datasets"]) == ["deft-t1"]
    assert m["datasets"]["deft-t1"]["n_test"] == 30 and m["datasets"]["deft-t1"]["n_train"] == 40
    run_notebook("06-deft-task2-map", deft_dir=str(tmp_path), formats=["fp32-torch"])
    m = _metrics(session_dirs, "06-deft-task2-map")
    assert m["tier"] == "licensed DEFT 2020" and m["datasets"]["deft-t2"]["n_items"] == 12
    md = (session_dirs["results"] / "tiny" / "table2-deft-task2-fp32-torch.md").read_text()
    assert "licensed DEFT 2020 Task 2 (t2-test)" in md and "Synapse" in md


@pytest.mark.notebook
def test_notebook_06_standin(run_notebook, session_dirs, data_mirror):
    run_notebook("06-deft-task2-map", t2_languages=["en"], formats=["onnx-fp32", "onnx-int8-dynamic"])
    m = _metrics(session_dirs, "06-deft-task2-map")
    assert m["model_format"] == "onnx-fp32" and list(m["formats"]) == ["onnx-fp32", "onnx-int8-dynamic"]
    assert m["tier"] == "public stand-in" and list(m["datasets"]) == ["hpo-en"]
    d = m["datasets"]["hpo-en"]
    assert d["n_items"] == 60 and 0 <= d["p_at_1"] <= 1 and d["map_mean"] is not None


def test_task1_sets_licensed_and_medsts_fit(tmp_path):
    deft.write_synthetic(tmp_path)
    (s,) = deft.task1_sets(str(tmp_path))
    assert s.tier == "licensed DEFT 2020" and (len(s.train), len(s.test)) == (40, 30)
    assert list(s.test.columns[:4]) == ["id", "sentence1", "sentence2", "score"]
    med = tmp_path / "medsts.csv"
    med.write_text("a b,a c,4.5\nx y,z w,0.5\nu v,u v,5\n", encoding="utf-8")
    (m,) = deft.task1_sets(str(tmp_path), fit_on="medsts", medsts=str(med))
    assert len(m.train) == 3 and any("MedSTS" in n for n in m.notes)
    with pytest.raises(ValueError, match="medsts"):
        deft.task1_sets(str(tmp_path), fit_on="medsts")
    with pytest.raises(FileNotFoundError, match="deft_dir"):
        deft.task1_sets(str(tmp_path / "missing"))
