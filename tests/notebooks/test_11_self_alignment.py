"""Smoke runs of the training study on the tiny model: notebook 11 trains its variants and scores them,
and a trained model goes through the study's notebooks like any other (04 here)."""

from __future__ import annotations

import pytest

from lib import results


@pytest.mark.notebook
def test_11_self_alignment_tiny(run_notebook, data_mirror):
    corpus = ["HPO", "HPO, + definitions mixed", "HPO, + definitions 2nd phase"]  # no MONDO / MeSH download
    run_notebook("11-self-alignment", "tiny-sap", ablation_steps=4, crossfit=2, crossfit_steps=4,
                 int8_format="onnx-int8-dynamic", max_sts_pairs=30, corpus_steps=4, corpus_variants=corpus)
    m = results.read_result("tiny-sap", "11-self-alignment").metrics
    assert m.leaked_lay_strings == 0
    assert m.groups[m.chosen] == "unsupervised"
    supervised = [k for k, g in m.groups.items() if g == "concept-disjoint supervised"]
    assert len(supervised) == 1 and m.rows[supervised[0]]["n_sources"] == 60  # every lay term, out of fold
    assert {"MNRL, synonyms", "multi-similarity, synonyms"} <= set(m.dev)
    assert set(m.semantics) == {"base", "trained"} and m.mcnemar["n"] == 60
    assert 0 <= m.rows[m.chosen]["acc@1"] <= 1 and m.chosen_int8["format"] == "onnx-int8-dynamic"
    rows = {r["label"]: r for r in m.corpus["rows"]}
    assert set(rows) == set(corpus) and all(r["steps"] == 4 for r in rows.values())
    for r in rows.values():  # the recipe-choosing slice is never part of the test numbers
        assert r["n_test"] + r["n_lay_dev"] == 60 and 0 < r["n_lay_dev"] < 20
        assert r["dev-def_acc@1"] is not None and r["test"]["n"] == r["n_test"]
    assert set(m.corpus["correlations"]) == {"synonym dev (c)", "definition -> concept (b)", "lay-term dev slice (a)"}
    assert m.corpus["choice"]["variant"] in corpus


@pytest.mark.notebook
def test_04_align_runs_a_trained_model(run_notebook, results_dir):
    """(Own results folder: a second model with 04 results would change what 08's smoke run pairs.)"""
    from lib import params
    from lib.train.trainer import train

    train(params.load("tiny-sap"))  # what `make models-trained` does before a trained model's notebooks
    run_notebook("04-align", "tiny-sap", formats=["fp32-torch", "onnx-int8-dynamic"])
    r = results.read_result("tiny-sap", "04-align")
    assert r.model_identity["model_dir"].split("/")[-1].startswith("tiny-sap-")
    assert set(r.metrics.formats) == {"fp32-torch", "onnx-int8-dynamic"}
