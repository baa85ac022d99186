"""DEFT Tables 1 and 2 (lib.report.deft_tables): the paper's and the campaign's rows beside ours, not-run rows,
the fixed column order and interval text."""

from __future__ import annotations

import pandas as pd

from lib.report import deft_tables
from lib.report.table3 import PAPER_TIER

REPORTED = {"table1": [{"system": "Paper A", "edrm": 0.81, "spearman": 0.7, "spearman_p": 0.001}],
            "table2": [{"system": "Paper B", "map_1": 1.0, "map_2": 0.9, "map_3": 0.8, "map_mean": 0.9,
                        "source": "paper (Table 2)"}],
            "campaign": {"task1_edrm_range": [0.5, 0.9], "task2_precision_range": [0.2, 0.95]}}


def test_fmt_ci_three_decimals_or_blank():
    assert deft_tables.fmt_ci((0.12345, 0.5)) == "[0.123, 0.500]"
    assert deft_tables.fmt_ci(None) == "" and deft_tables.fmt_ci([]) == ""


def test_table1_not_run_then_paper_then_campaign():
    t = deft_tables.table1([], REPORTED, not_run=[("MiniLM", "no DEFT files")])
    assert t.columns.tolist() == deft_tables.TABLE1_COLUMNS
    assert t.system.tolist() == ["MiniLM", "Paper A", "DEFT 2020 campaign: EDRM 0.5-0.9"]
    assert t.data.tolist() == ["no DEFT files", "DEFT 2020 T1 test", "DEFT 2020 T1 test"]
    assert t.tier.tolist() == ["-", PAPER_TIER, PAPER_TIER]
    assert t.source.tolist() == ["ours", "paper", "campaign range quoted by the paper"]
    paper = t.iloc[1]
    assert (paper.EDRM, paper.Spearman, paper.p) == (0.81, 0.7, 0.001)
    assert str(t["n"].dtype) == "Int64" and t["n"].isna().all()


def test_table2_paper_rows_keep_their_source_and_no_campaign_row_without_a_range():
    t = deft_tables.table2([], {"table2": REPORTED["table2"]})
    assert t.columns.tolist() == deft_tables.TABLE2_COLUMNS and len(t) == 1
    row = t.iloc[0]
    assert (row.system, row.data, row.source) == ("Paper B", "DEFT 2020 T2 test", "paper (Table 2)")
    assert [row["map-1"], row["map-2"], row["map-3"], row["mean"]] == [1.0, 0.9, 0.8, 0.9]
    assert pd.isna(row["MAP"]) and pd.isna(row["P@1"])             # the paper reports no MAP / P@1 column
    full = deft_tables.table2([], REPORTED)
    assert full.system.iloc[-1] == "DEFT 2020 campaign: precision 0.2-0.95"
