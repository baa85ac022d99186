"""Model selection without the test set (lib.train.evaluation): the dev corpus and the evaluator's numbers."""

from __future__ import annotations

import pandas as pd
import pytest

from lib.train import evaluation

STRINGS = pd.DataFrame([("Heart  Pain", "C1"), ("heart pain", "C1"), ("cardiac pain", "C1"), ("chest ache", "C1"),
                        ("Fever", "C2"), ("pyrexia", "C2"), ("rash", "C3"), ("skin eruption", "C3"),
                        ("cough", "C4")], columns=["string", "concept"])
DEV = pd.DataFrame({"query": ["chest ache"], "concept": ["C1"]})


def test_dev_corpus_holds_out_the_dev_synonyms_normalises_and_dedupes():
    corpus = evaluation.dev_corpus(STRINGS, DEV, distractors=3)   # all 3 other concepts: no sampling left
    assert corpus.values.tolist() == [["cardiac pain", "C1"], ["heart pain", "C1"], ["fever", "C2"],
                                      ["pyrexia", "C2"], ["rash", "C3"], ["skin eruption", "C3"],
                                      ["cough", "C4"]]


def test_dev_corpus_distractors_are_a_seeded_sample_of_other_concepts():
    assert evaluation.dev_corpus(STRINGS, DEV, distractors=0).concept.tolist() == ["C1", "C1"]
    one = evaluation.dev_corpus(STRINGS, DEV, distractors=1, seed=5)
    others = set(one.concept) - {"C1"}
    assert len(others) == 1 and others <= {"C2", "C3", "C4"}
    assert one.equals(evaluation.dev_corpus(STRINGS, DEV, distractors=1, seed=5))
    assert set(evaluation.dev_corpus(STRINGS, DEV, distractors=10).concept) == {"C1", "C2", "C3", "C4"}


def test_dev_scores_short_names_whatever_the_trainer_prefix():
    metrics = {"eval_dev_cosine_accuracy@1": 0.5, "eval_dev_cosine_accuracy@10": 0.9, "eval_dev_cosine_mrr@10": 0.7,
               "eval_dev_cosine_ndcg@10": 0.1, "eval_dev-def_cosine_accuracy@1": 0.25, "eval_loss": 1.0}
    assert evaluation.dev_scores(metrics) == {"dev_acc@1": 0.5, "dev_acc@10": 0.9, "dev_mrr@10": 0.7}
    assert evaluation.dev_scores(metrics, name="dev-def") == {"dev-def_acc@1": 0.25}
    assert evaluation.ACC1 == "dev_cosine_accuracy@1"


def test_dev_evaluator_refuses_queries_whose_concept_is_not_in_the_corpus():
    pytest.importorskip("sentence_transformers")
    queries = pd.DataFrame({"query": ["pain in the heart", "sore"], "concept": ["C1", "C9"]})
    with pytest.raises(ValueError, match="1 dev queries have no string of their concept"):
        evaluation.dev_evaluator(STRINGS, DEV, distractors=0, queries=queries)   # C9: no string at all
