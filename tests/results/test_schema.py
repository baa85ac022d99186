"""Result records have a schema (lib.results.schema): checked when written, checked when read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lib import params, results
from lib.results import schema
from lib.errors import ResultFileError, ResultRecordError
from lib.report import paper as assemble

ROOT = Path(__file__).resolve().parents[2]

GATED = {"passed": True, "reasons": [], "variant": "default", "energy_j_per_1k": None, "co2_g_per_1k": None}
Q = {"reference": "fp32-torch", "chosen": "onnx-int8-dynamic", "formats": {
    "fp32-torch": {"format": "fp32-torch", **GATED, "latency_avg_ms": 40.0, "size_mb": 90.0, "acc1": 0.5},
    "onnx-int8-dynamic": {"format": "onnx-int8-dynamic", **GATED, "latency_avg_ms": 10.0, "size_mb": 30.0,
                          "acc1": 0.49, "sentences_per_s": 800.0}},
    "smoothquant": {"alpha": 0.5}}
SETS1 = {"stsb-fr": {"label": "public stand-in: STS-b FR", "tier": "public stand-in", "mappings": {
    "minmax": {"n": 60, "edrm": 0.71, "edrm_convention": "reference", "spearman": 0.65, "spearman_p": 1e-8,
               "edrm_ci": [0.7, 0.72],
               "classification": {"threshold": 2.5, "accuracy": 0.61, "precision": 0.62, "recall": 0.63,
                                  "f1": 0.64}}}}}
T1 = {"tier": "public stand-in", "model_formats": ["onnx-fp32"], "model_format": "onnx-fp32",
      "formats": {"onnx-fp32": SETS1}, "datasets": SETS1}


@pytest.fixture
def P():
    return params.load("tiny")


def test_every_notebook_has_a_record_model():
    stems = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert stems == set(schema.RECORDS)
    for name, model in schema.RECORDS.items():
        assert model.model_fields["notebook"].annotation.__args__ == (name,)  # Literal[name]


def test_valid_record_round_trips_with_its_layout(results_dir, P):
    path = results.write_result(P, "03-quantize", Q, identity={}, data={"tier": "embedded+public"})
    on_disk = json.loads(path.read_text())
    assert on_disk["metrics"] == Q                         # the JSON layout is what the notebook passed
    assert on_disk["data"] == {"tier": "embedded+public"} and on_disk["params"]["name"] == "tiny"
    rec = results.read_result("tiny", "03-quantize")
    assert isinstance(rec, schema.QuantizeRecord) and rec.display_name == "tiny-random-BERT"
    chosen = rec.metrics.formats[rec.metrics.chosen]
    assert isinstance(chosen, schema.GateFormat) and chosen.latency_avg_ms == 10.0 and chosen.energy_j_per_1k is None
    assert chosen.sentences_per_s == 800.0                 # undeclared fields of open blocks are kept
    assert rec.params == P and rec.metrics.smoothquant == {"alpha": 0.5}


def test_nan_and_numpy_are_written_as_json(results_dir, P):
    q = json.loads(json.dumps(Q))
    q["formats"]["fp32-torch"].update(acc1=np.float64("nan"), size_mb=np.float32(90.0), passed=np.bool_(True))
    results.write_result(P, "03-quantize", q, identity={}, data={"tier": "embedded"})
    ref = results.read_result("tiny", "03-quantize").metrics.formats["fp32-torch"]
    assert ref.acc1 is None and ref.size_mb == 90.0 and ref.passed is True


def test_malformed_record_fails_at_write_time_naming_notebook_and_field(results_dir, P):
    bad = json.loads(json.dumps(Q))
    del bad["formats"]["fp32-torch"]["size_mb"]
    bad["formats"]["onnx-int8-dynamic"]["acc1"] = "0.49"   # strict: a string is not a number
    with pytest.raises(ResultRecordError) as err:
        results.write_result(P, "03-quantize", bad, identity={}, data={"tier": "embedded"})
    msg = str(err.value)
    assert "notebook 03-quantize" in msg and "metrics.formats.fp32-torch.size_mb: Field required" in msg
    assert "metrics.formats.onnx-int8-dynamic.acc1" in msg
    assert not results.result_path("tiny", "03-quantize").exists()     # nothing was written


@pytest.mark.parametrize("change,field", [
    (lambda m: m.update(chosen="torch-int8"), "chosen 'torch-int8' is not a label of formats"),
    (lambda m: m.pop("reference"), "metrics.reference: Field required"),
])
def test_quantize_metrics_name_existing_formats(results_dir, P, change, field):
    bad = json.loads(json.dumps(Q))
    change(bad)
    with pytest.raises(ResultRecordError, match=field):
        results.write_result(P, "03-quantize", bad, identity={}, data={"tier": "embedded"})


def test_unknown_notebook_and_missing_tier_are_refused(results_dir, P):
    with pytest.raises(ValueError, match="no result schema for notebook '00-x'"):
        results.write_result(P, "00-x", {}, identity={})
    with pytest.raises(ResultRecordError, match="data.tier: Field required"):
        results.write_result(P, "04-align", {"formats": {}}, identity={})


def test_record_missing_a_field_assemble_reads_is_rejected_naming_file_and_field(results_dir, P):
    path = results.write_result(P, assemble.NB_TASK1, T1, identity={}, data={"tier": "public stand-in"})
    rec = json.loads(path.read_text())
    del rec["metrics"]["formats"]["onnx-fp32"]["stsb-fr"]["mappings"]["minmax"]["classification"]["f1"]
    path.write_text(json.dumps(rec))
    with pytest.raises(ResultFileError) as err:
        assemble.load_records(["tiny"], [assemble.NB_TASK1])
    msg = str(err.value)
    assert str(path) in msg and "metrics.formats.onnx-fp32.stsb-fr.mappings.minmax.classification.f1" in msg
    assert "rerun the notebook 05-deft-task1-edrm" in msg and "make results/tiny/05-deft-task1-edrm.json" in msg
    assert err.value.fields and err.value.path == path


def test_old_layout_record_gives_the_clear_error(results_dir, P):
    """A 05 record of the single-format layout (``datasets`` only, before ``formats``): rerun 05."""
    path = results.write_result(P, assemble.NB_TASK1, T1, identity={}, data={"tier": "public stand-in"})
    rec = json.loads(path.read_text())
    for key in ("formats", "model_formats"):
        del rec["metrics"][key]
    path.write_text(json.dumps(rec))
    with pytest.raises(ResultFileError) as err:
        results.read_result("tiny", assemble.NB_TASK1)
    msg = str(err.value)
    assert "metrics.formats: Field required" in msg and "metrics.model_formats: Field required" in msg
    assert "written by an older run" in msg and "make results/tiny/05-deft-task1-edrm.json" in msg


def test_headline_format_must_have_run(results_dir, P):
    with pytest.raises(ResultRecordError, match="model_format 'onnx-int8-dynamic' is not a key of formats"):
        results.write_result(P, assemble.NB_TASK1, {**T1, "model_format": "onnx-int8-dynamic"}, identity={},
                            data={"tier": "public stand-in"})


def test_coerce_validates_in_memory_blocks():
    s = schema.coerce(schema.Task1Set, {**SETS1["stsb-fr"], "n_train": np.int64(5)})
    assert s.mappings["minmax"].classification.f1 == 0.64 and s.n_train == 5
    assert schema.coerce(schema.Task1Set, s) is s
    with pytest.raises(ValueError, match="label"):
        schema.coerce(schema.Task1Set, {"tier": "x", "mappings": {}})


def test_problems_name_each_field():
    with pytest.raises(Exception) as err:
        schema.GateFormat.model_validate({"format": "x"})
    fields = schema.problems(err.value)
    assert "passed: Field required" in fields and "size_mb: Field required" in fields
