"""Notebook 02-optimize end to end on the tiny model (reuses the Olive search that tests/compress/olive/test_search.py
cached, when run after it)."""

from __future__ import annotations

import json


def test_notebook_02_optimize_tiny(run_notebook, session_dirs, data_mirror):
    run_notebook("02-optimize")
    res = json.loads((session_dirs["results"] / "tiny" / "02-optimize.json").read_text())
    assert res["metrics"]["n_candidates"] >= 1
    assert {"candidates", "search", "baseline_input_model", "chosen"} <= set(res)
    assert (session_dirs["results"] / "tiny" / "02-optimize-candidates.csv").exists()
    ov = {c["candidate"]: c for c in res["metrics"]["openvino_candidates"]}   # Olive's OpenVINO passes ran
    assert set(ov) == {"olive-openvino-fp32", "olive-openvino-int8"}
    int8 = ov["olive-openvino-int8"]
    assert int8["runtime"] == "openvino" and "OpenVINOQuantization" in int8["passes"]
    assert ov["olive-openvino-fp32"]["mean_cosine"] > 0.9999 and ov["olive-openvino-int8"]["mean_cosine"] > 0.99
    assert (session_dirs["results"] / "tiny" / "02-optimize-openvino.csv").exists()
    assert (session_dirs["figures"] / "tiny" / "02-optimize-pareto.png").exists()
