"""The one table writer (CSV / Markdown / LaTeX, atomic, its folders) and the one Table 3 builder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lib import params, report
from lib.report import table3, tables
from lib.results import GateFormat


DF = pd.DataFrame({"system": ["a|b", "c_d"], "EDRM": [0.712345, np.nan], "p": [1.5e-8, 0.02],
                   "n": pd.array([60, None], dtype="Int64")})


# ---------------------------------------------------------------------------------------------
# the writer


def test_csv_md_tex_content(results_dir):
    out = report.write_table(report.PAPER, "table1-x", DF, formats=("csv", "md", "tex"),
                             caption="Table 1. & 50% _x_")
    assert out == {f: results_dir / "paper" / f"table1-x.{f}" for f in ("csv", "md", "tex")}
    back = pd.read_csv(out["csv"])
    assert back.EDRM.iloc[0] == 0.712345 and back.system.tolist() == ["a|b", "c_d"]  # CSV: full precision
    md = out["md"].read_text().splitlines()
    assert md[0] == "Table 1. & 50% _x_" and md[1] == ""
    assert md[2].replace(" ", "") == "|system|EDRM|p|n|"
    assert md[4].replace(" ", "") == "|a\\|b|0.7123|1.5\u00d710\u207b\u2078|60|"  # 4 digits, pipe escaped
    assert md[5].replace(" ", "") == "|c_d||0.02||"                                # NaN and <NA> blank
    tex = out["tex"].read_text()
    assert "\\caption{Table 1. \\& 50\\% \\_x\\_}" in tex and "\\label{tab:table1-x}" in tex
    assert "\\toprule" in tex and "c\\_d & " in tex and "0.7123" in tex


def test_floatfmt_and_index(results_dir):
    P = params.load("tiny")
    df = pd.DataFrame({"acc": [0.5, 0.123456]}, index=["fp32", "int8"])
    md = report.write_table(P, "00-m", df, formats=("md",), index=True, row_level=False,
                            floatfmt=".2f")["md"].read_text()
    assert "| fp32 " in md and "0.50" in md and "0.12 " in md
    assert tables.cell_text(1.5e-8, ".4f") == "1.5e-08" and tables.cell_text(2, ".4f") == "2"


def test_markdown_escapes_and_keeps_text():
    md = tables.markdown(pd.DataFrame({"a|b": ["0.8600", "x"]}))
    assert md.splitlines()[0].replace(" ", "") == "|a\\|b|" and "0.8600" in md  # text is not re-parsed


def test_folders(results_dir, tmp_path):
    P = params.load("tiny", umls_mrconso=str(tmp_path / "MRCONSO.RRF"))
    rows = report.write_table(P, "04-x", DF)["csv"]
    agg = report.write_table(P, "04-y", DF, row_level=False)["csv"]
    assert rows == results_dir / "tiny" / "licensed-derived" / "04-x.csv"
    assert (rows.parent / "NOTICE.md").exists() and agg == results_dir / "tiny" / "04-y.csv"
    assert report.write_table(report.PAPER, "t", DF)["csv"] == results_dir / "paper" / "t.csv"


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown format"):
        report.write_table(report.PAPER, "t", DF, formats=("xlsx",))
    with pytest.raises(TypeError, match="Params or PAPER"):
        report.write_table("tiny", "t", DF)


@pytest.mark.parametrize("fmt", ["md", "tex"])
def test_md_and_tex_are_atomic(results_dir, monkeypatch, fmt):
    path = report.write_table(report.PAPER, "t", DF, formats=(fmt,), caption="old")[fmt]
    before = path.read_text()

    def torn(self, text, *a, **k):
        Path.write_bytes(self, text[:10].encode())
        raise OSError("disk full")
    monkeypatch.setattr(Path, "write_text", torn)
    with pytest.raises(OSError):
        report.write_table(report.PAPER, "t", DF, formats=(fmt,), caption="new")
    monkeypatch.undo()
    assert path.read_text() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left


# ---------------------------------------------------------------------------------------------
# Table 3


def _gate(fmt: str, latency: float, size: float, acc1: float, passed: bool = True, **kw) -> dict:
    return {"format": fmt, "variant": "default", "passed": passed, "reasons": [] if passed else ["too slow"],
            "latency_avg_ms": latency, "size_mb": size, "acc1": acc1, "energy_j_per_1k": kw.get("energy"),
            "co2_g_per_1k": None}


REPORTED = {"table2": [{"system": "KRISSBERT INT8", "map_mean": 0.9989}],
            "table3": {"rows": [
                {"task": 1, "model": "KRISSBERT", "accuracy": 0.8886, "precision": 0.9047, "recall": 0.892,
                 "f1": 0.8983, "latency_before": 19.91, "latency_after": 1.21, "size_before_mb": 438,
                 "size_after_mb": 166.44, "energy_before": 2.2127, "energy_after": 0.1346, "co2_before": 1.051,
                 "co2_after": 0.0639},
                {"task": 2, "model": "KRISSBERT", "latency_before": 55.36, "latency_after": 3.03,
                 "size_before_mb": 438, "size_after_mb": 171.58, "energy_before": 6.1509, "energy_after": 0.3364,
                 "co2_before": 2.9217, "co2_after": 0.1598}]}}


def test_table3_has_the_paper_columns():
    for col in ("task", "accuracy", "precision", "recall", "F1", "MAP", "latency avg before", "latency avg after",
                "size before (MB)", "size after (MB)", "energy before", "energy after", "CO2 before", "CO2 after"):
        assert col in table3.COLUMNS


def test_table3_build_on_hand_built_rows():
    ref = GateFormat.model_validate(_gate("fp32-torch", 40.0, 90.0, 0.5, energy=8.0))
    int8 = GateFormat.model_validate(_gate("onnx-int8-dynamic", 10.0, 30.0, 0.49, energy=2.0))
    rows = [table3.Row(2, "m: fp32-torch -> int8", "HPO FR", "public stand-in", {"MAP": 0.9}, ref, int8),
            table3.Row(1, "m: fp32-torch -> int8", "STS-b FR", "public stand-in",
                       {"accuracy": 0.6, "precision": 0.7, "recall": 0.8, "F1": 0.75}, ref, int8)]
    t = table3.build(rows, REPORTED)
    assert list(t.columns) == table3.COLUMNS
    assert t.task.tolist() == [1, 1, 2, 2] and t.source.tolist()[::2] == ["ours", "ours"]  # by task, ours first
    ours1 = t.iloc[0]
    assert ours1["speed-up"] == 4.0 and ours1["size after (MB)"] == 30.0 and ours1["energy before"] == 8.0
    assert ours1["Acc@1 HPO before"] == 0.5 and ours1.F1 == 0.75 and pd.isna(ours1.MAP)
    paper1, paper2 = t.iloc[1], t.iloc[3]
    assert paper1.tier == table3.PAPER_TIER and paper1["speed-up"] == pytest.approx(19.91 / 1.21)
    assert paper1.F1 == 0.8983 and paper2.MAP == 0.9989 and paper2["CO2 after"] == 0.1598
    only1 = table3.build(rows, REPORTED, paper_tasks=(1,))
    assert only1[only1.source != "ours"].task.tolist() == [1]
    assert len(table3.build(rows)) == 2                                # no reported: ours only


def test_table3_rejects_unknown_quality():
    with pytest.raises(ValueError, match="unknown"):
        table3.Row(1, "x", quality={"f1": 0.5})


def test_table3_gate_rows_from_the_gate_table():
    """Notebook 03: fp32-torch -> every other gated format; numpy values as the gate table holds them."""
    recs = {"fp32-torch": _gate("fp32-torch", np.float64(40.0), 90.0, np.float64(0.5)),
            "onnx-int8-dynamic": _gate("onnx-int8-dynamic", 10.0, 30.0, 0.49),
            "torch-int8": {**_gate("torch-int8", 80.0, 45.0, np.float64("nan"), passed=np.bool_(False))}}
    P = params.load("tiny")
    t = table3.build(table3.gate_rows(recs, "fp32-torch", P))
    assert t.system.tolist() == ["tiny-random-BERT: fp32-torch -> onnx-int8-dynamic",
                                 "tiny-random-BERT: fp32-torch -> torch-int8"]
    assert t["speed-up"].tolist() == [4.0, 0.5] and (t.task == table3.GATE_TASK).all()
    assert t.source.iloc[1] == "ours (this CPU); gate: FAIL: too slow" and pd.isna(t["Acc@1 HPO after"].iloc[1])


def test_table3_task1_rows_from_05():
    sets = {"stsb-fr": {"label": "public stand-in: STS-b FR", "tier": "public stand-in", "mappings": {
        m: {"n": 60, "edrm": 0.7, "edrm_convention": "reference", "spearman": 0.6, "spearman_p": 1e-8,
            "classification": {"threshold": 2.5, "accuracy": a, "precision": 0.5, "recall": 0.5, "f1": 0.5}}
        for m, a in (("minmax", 0.61), ("isotonic", 0.66))}}}
    t = table3.build(table3.task1_rows(sets, "tiny [onnx-fp32]"), REPORTED, paper_tasks=(1,))
    ours = t[t.source == "ours"]
    assert ours.system.tolist() == ["tiny [onnx-fp32] (minmax)", "tiny [onnx-fp32] (isotonic)"]
    assert ours.accuracy.tolist() == [0.61, 0.66] and ours["latency avg before"].isna().all()
    assert ours.tier.tolist() == ["public stand-in"] * 2 and len(t) == 3


@pytest.mark.parametrize("text, shown", [
    ("2.07e-97", "2.07\u00d710\u207b\u2079\u2077"), ("1.5e-08", "1.5\u00d710\u207b\u2078"),
    ("3e+12", "3\u00d710\u00b9\u00b2"), ("-2.6e-99", "\u22122.6\u00d710\u207b\u2079\u2079"), ("-0.5", "\u22120.5"),
    ("-12", "\u221212"), ("0.8604", "0.8604"),
    ("not run (make x)", "not run (make x)"), ("tiny-sap", "tiny-sap"), ("", "")])
def test_md_number_leaves_no_line_break_inside_a_number(text, shown):
    """No ASCII hyphen before digits (a browser breaks a table cell there: `2.07e-` over `97`)."""
    assert tables.md_number(text) == shown


def test_markdown_numbers_are_typographic_text_is_not():
    md = tables.markdown(pd.DataFrame({"p": [2.07e-97, -0.25], "label": ["1e-5 run", "-1"]}))
    assert "2.07\u00d710\u207b\u2079\u2077" in md and "\u22120.25" in md and "1e-5 run" in md and "| -1 " in md
