"""Papermill smoke runs of the foundation notebooks on the tiny model and synthetic fixtures."""


import pytest

from lib import results


@pytest.mark.notebook
def test_01_preprocess_with_licensed_fixtures(run_notebook, licensed_fixtures):
    run_notebook("01-preprocess", **{k: str(v) for k, v in licensed_fixtures.items()})
    r = results.read_result("tiny", "01-preprocess")
    assert "licensed" in r.data.tiers and "embedded" in r.data.tiers
    assert r.metrics.integrity["umls_mrconso"]["rows"] == 6
    assert r.metrics.cleaning["hpo_lay_lexicon"]["lemmatiser"]


@pytest.mark.notebook
def test_04_align_embedded(run_notebook):
    run_notebook("04-align", formats=["fp32-torch", "onnx-fp32"])
    r = results.read_result("tiny", "04-align")
    m = r.metrics.formats
    assert set(m) == {"fp32-torch", "onnx-fp32"}
    assert m["fp32-torch"].n_sources == 60 and 0 <= m["fp32-torch"].acc_at_1 <= m["fp32-torch"].acc_at_10 <= 1
    # FP32 torch and ONNX FP32 must align the same way
    assert abs(m["fp32-torch"].mrr - m["onnx-fp32"].mrr) < 0.02
    assert r.data.tier == "embedded" and r.data.hpo_version
    assert r.versions["torch"].startswith("2.13.0")


@pytest.mark.notebook
def test_04_align_licensed_fixture(run_notebook, licensed_fixtures):
    run_notebook("04-align", formats=["fp32-torch"], umls_mrconso=str(licensed_fixtures["umls_mrconso"]),
                 lay_lexicon=str(licensed_fixtures["lay_lexicon"]), max_targets=None, max_sources=None)
    r = results.read_result("tiny", "04-align")
    assert r.data.tier == "licensed" and r.metrics.formats["fp32-torch"].n_targets == 6
