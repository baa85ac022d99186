"""The one Table 3 builder (lib.report.table3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib import params
from lib.report import table3
from lib.results.schema import GateFormat


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
