"""The 03 quality gate (lib.gate): every format measured like FP32, decided by the one rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib import gate, params
from lib.compress import dynamic


@pytest.fixture(scope="module")
def P():
    return params.load("tiny")


def test_choose_never_picks_a_failing_model():
    t = pd.DataFrame({"format": ["fp32-torch", "onnx-int8-dynamic", "onnx-int8-smoothquant", "torch-int8"],
                      "passed": [True, False, True, True], "latency_avg_ms": [10.0, 2.0, 5.0, 4.0]})
    assert gate.choose(t) == "torch-int8"
    t.loc[:, "passed"] = [True, False, False, False]
    assert gate.choose(t) is None


def test_gate_fails_a_broken_model_and_records_its_decisions(P):
    from lib.engines.torch import BatchEncoder
    from lib.formats import load_encoder

    ref = load_encoder(P, "fp32-torch")
    rng = np.random.default_rng(0)

    def noisy(enc):
        h = ref.forward(enc)
        return h + rng.normal(0, 3 * h.std(), h.shape).astype(np.float32)

    broken = BatchEncoder(P.name, "onnx-int8-dynamic", "broken-noise", ref.tokenizer, P, noisy,
                          {"onnx": str(dynamic.dynamic_int8(P))})
    data = gate.build_gate_data(P, n_latency=32)
    table, times, bench = gate.run_gate(P, ["onnx-int8-dynamic"], data, rounds=1, use_cache=False,
                                        encoders={"fp32-torch": ref, "onnx-int8-dynamic": broken})
    t = table.set_index("format")
    assert bool(t.loc["fp32-torch", "passed"]) and t.loc["fp32-torch", "mean_cosine"] == pytest.approx(1.0)
    assert not bool(t.loc["onnx-int8-dynamic", "passed"])
    assert "mean cosine" in t.loc["onnx-int8-dynamic", "reasons"]
    # the reference's drops are zero with a zero-width interval; every criterion is recorded
    ref_dec = {d["metric"]: d for d in t.loc["fp32-torch", "decisions"]}
    assert ref_dec["acc1"]["value"] == 0 and ref_dec["acc1"]["ci"] == [0.0, 0.0]
    assert set(ref_dec) == {"mean_cosine", "acc1", *(f"spearman[{k}]" for k in data.sts)}
    assert {"acc1_drop_ci_lo", "acc1_drop_ci_hi"} <= set(table.columns)
    assert gate.choose(table) is None
    assert set(times.format) == {"fp32-torch", "onnx-int8-dynamic"}
    assert bench["energy_available"] in (True, False)
    assert gate.done_criteria(table, None)["met"] is False


def test_gate_data_caps_sts_pairs_and_says_how_many_were_left_out(data_mirror):
    data = gate.build_gate_data(params.load("tiny", gate_max_sts_pairs=7, max_eval_pairs=None), n_latency=5)
    assert len(data.sts["stsb-en/dev"]) == 7 and data.info["stsb-en_pairs"] == 7
    assert data.info["stsb-en_pairs_left_out"] == 1500 - 7
    assert len(data.sts["biosses/all"]) == 7 and data.info["biosses_pairs_left_out"] == 93
    free = gate.build_gate_data(params.load("tiny", max_eval_pairs=None), n_latency=5)
    assert len(free.sts["stsb-en/dev"]) == 1500 and "stsb-en_pairs_left_out" not in free.info


def _table(rows):
    return pd.DataFrame(rows, columns=["format", "passed", "latency_avg_ms"])


def test_gate_chooses_between_ort_and_openvino_on_a_timing_table():
    """The one rule (fastest passing INT8) picks the engine per machine: OpenVINO where it is faster
    (an AVX-512 VNNI or AMX CPU), ONNX Runtime where it is (AVX2), never a failing or non-INT8 format."""
    vnni = _table([("fp32-torch", True, 90.0), ("onnx-fp32", True, 40.0), ("ov-fp32", True, 18.0),
                   ("onnx-int8-dynamic", True, 20.0), ("onnx-int8-smoothquant", True, 26.0),
                   ("ov-int8", True, 12.0), ("ov-int8:no-smoothquant", True, 11.0)])
    assert gate.choose(vnni) == "ov-int8"              # variants and FP32 formats are never chosen
    avx2 = vnni.assign(latency_avg_ms=[90.0, 40.0, 45.0, 20.0, 26.0, 23.0, 22.0])
    assert gate.choose(avx2) == "onnx-int8-dynamic"
    failing = vnni.assign(passed=[True, True, True, True, True, False, True])
    assert gate.choose(failing) == "onnx-int8-dynamic"
    assert gate.choose(vnni.assign(passed=False)) is None
