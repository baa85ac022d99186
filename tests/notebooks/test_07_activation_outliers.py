"""Notebook 07-activation-outliers end to end on the tiny model."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from lib import results


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
