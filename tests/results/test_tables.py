"""The one table writer (lib.results.tables): CSV / Markdown / LaTeX, atomic, its folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lib import params, results
from lib.results import tables


DF = pd.DataFrame({"system": ["a|b", "c_d"], "EDRM": [0.712345, np.nan], "p": [1.5e-8, 0.02],
                   "n": pd.array([60, None], dtype="Int64")})


# ---------------------------------------------------------------------------------------------
# the writer


def test_csv_md_tex_content(results_dir):
    out = results.write_table(results.PAPER, "table1-x", DF, formats=("csv", "md", "tex"),
                             caption="Table 1. & 50% _x_")
    assert out == {f: results_dir / "paper" / f"table1-x.{f}" for f in ("csv", "md", "tex")}
    back = pd.read_csv(out["csv"])
    assert back.EDRM.iloc[0] == 0.712345 and back.system.tolist() == ["a|b", "c_d"]  # CSV: full precision
    md = out["md"].read_text().splitlines()
    assert md[0] == "Table 1. & 50% _x_" and md[1] == ""
    assert md[2].replace(" ", "") == "|system|EDRM|p|n|"
    assert md[4].replace(" ", "") == "|a\\|b|0.7123|1.5\u00d710\u207b\u2078|60|"                  # 4 digits, pipe escaped
    assert md[5].replace(" ", "") == "|c_d||0.02||"                                # NaN and <NA> blank
    tex = out["tex"].read_text()
    assert "\\caption{Table 1. \\& 50\\% \\_x\\_}" in tex and "\\label{tab:table1-x}" in tex
    assert "\\toprule" in tex and "c\\_d & " in tex and "0.7123" in tex


def test_floatfmt_and_index(results_dir):
    P = params.load("tiny")
    df = pd.DataFrame({"acc": [0.5, 0.123456]}, index=["fp32", "int8"])
    md = results.write_table(P, "00-m", df, formats=("md",), index=True, row_level=False,
                            floatfmt=".2f")["md"].read_text()
    assert "| fp32 " in md and "0.50" in md and "0.12 " in md
    assert tables.cell_text(1.5e-8, ".4f") == "1.5e-08" and tables.cell_text(2, ".4f") == "2"


def test_markdown_escapes_and_keeps_text():
    md = tables.markdown(pd.DataFrame({"a|b": ["0.8600", "x"]}))
    assert md.splitlines()[0].replace(" ", "") == "|a\\|b|" and "0.8600" in md  # text is not re-parsed


def test_folders(results_dir, tmp_path):
    P = params.load("tiny", umls_mrconso=str(tmp_path / "MRCONSO.RRF"))
    rows = results.write_table(P, "04-x", DF)["csv"]
    agg = results.write_table(P, "04-y", DF, row_level=False)["csv"]
    assert rows == results_dir / "tiny" / "licensed-derived" / "04-x.csv"
    assert (rows.parent / "NOTICE.md").exists() and agg == results_dir / "tiny" / "04-y.csv"
    assert results.write_table(results.PAPER, "t", DF)["csv"] == results_dir / "paper" / "t.csv"


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown format"):
        results.write_table(results.PAPER, "t", DF, formats=("xlsx",))
    with pytest.raises(TypeError, match="Params or PAPER"):
        results.write_table("tiny", "t", DF)


@pytest.mark.parametrize("fmt", ["md", "tex"])
def test_md_and_tex_are_atomic(results_dir, monkeypatch, fmt):
    path = results.write_table(results.PAPER, "t", DF, formats=(fmt,), caption="old")[fmt]
    before = path.read_text()

    def torn(self, text, *a, **k):
        Path.write_bytes(self, text[:10].encode())
        raise OSError("disk full")
    monkeypatch.setattr(Path, "write_text", torn)
    with pytest.raises(OSError):
        results.write_table(results.PAPER, "t", DF, formats=(fmt,), caption="new")
    monkeypatch.undo()
    assert path.read_text() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left


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
