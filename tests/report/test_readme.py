"""lib.report.readme: the README's runtime table shows one `make paper` run, never a mix of runs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from lib.report import readme

T0 = datetime(2026, 12, 6, 17, 0, 0)


def _executed(build: Path, params: str, notebook: str, start_min: float, minutes: float) -> None:
    start = T0 + timedelta(minutes=start_min)
    meta = {"papermill": {"duration": minutes * 60, "start_time": start.isoformat(),
                          "end_time": (start + timedelta(minutes=minutes)).isoformat()}}
    (build / params).mkdir(parents=True, exist_ok=True)
    (build / params / f"{notebook}.ipynb").write_text(json.dumps({"metadata": meta, "cells": []}))


def test_only_the_latest_paper_run_enters_the_table(tmp_path):
    _executed(tmp_path, "minilm-l6", "10-scale-out", -300, 9.5)    # make scale, hours earlier
    _executed(tmp_path, "mpnet-base", "04-align", -200, 10)        # an older run's notebook
    t = 0.0
    for nb in readme.PAPER_NOTEBOOKS:
        _executed(tmp_path, "minilm-l6", nb, t, 2)
        t += 2
    _executed(tmp_path, "paper", "09-paper", t, 1)
    run = readme.last_paper_run(tmp_path)
    assert [r["params"] for r in run].count("minilm-l6") == 8 and "mpnet-base" not in {r["params"] for r in run}
    table = readme.runtimes_table(tmp_path)
    assert "10-scale-out" not in table and "mpnet-base" not in table
    assert "| minilm-l6 | **all notebooks** | **960** |" in table           # 8 x 120 s
    assert "**1020** (17.0 min)" in table                                   # 0 -> 16 min + 1 min for 09


def test_a_model_missing_a_notebook_in_the_run_is_marked_incomplete(tmp_path):
    for i, nb in enumerate(readme.PAPER_NOTEBOOKS[:-1]):
        _executed(tmp_path, "minilm-l6-sap", nb, i, 1)
    _executed(tmp_path, "paper", "09-paper", 10, 1)
    assert "(incomplete: 08-heatmaps not in this run)" in readme.runtimes_table(tmp_path)


def test_no_paper_run_says_what_to_run(tmp_path):
    _executed(tmp_path, "minilm-l6", "04-align", 0, 1)
    assert "run `make paper`" in readme.runtimes_table(tmp_path)


def test_replace_section_needs_its_markers():
    assert readme.replace_section("a\n<!-- x:start -->\nold\n<!-- x:end -->\n", "x", "new") == \
        "a\n<!-- x:start -->\nnew\n<!-- x:end -->\n"
    with pytest.raises(ValueError, match="no <!-- y:start -->"):
        readme.replace_section("a", "y", "b")
