"""Notebook 01-preprocess end to end on the tiny model with the synthetic licensed fixtures."""

from __future__ import annotations

import pytest

from lib import results


@pytest.mark.notebook
def test_01_preprocess_with_licensed_fixtures(run_notebook, licensed_fixtures):
    run_notebook("01-preprocess", **{k: str(v) for k, v in licensed_fixtures.items()})
    r = results.read_result("tiny", "01-preprocess")
    assert "licensed" in r.data.tiers and "embedded" in r.data.tiers
    assert r.metrics.integrity["umls_mrconso"]["rows"] == 6
    assert r.metrics.cleaning["hpo_lay_lexicon"]["lemmatiser"]
