"""Shared fixtures of the reranking tests: a small tiny-model training set, built once per module.

Module-scoped fixtures run before the function-scoped ``isolated_outputs``, so this one points the
output folders at the session's temporary tree itself (never at the real cache).
"""

from __future__ import annotations

import pytest

SMALL = {"train_max_queries": 40, "train_max_targets": 1200, "dev_concepts": 20, "train_candidates": [4],
         "batch_size": 8, "learning_rates": [2e-3], "train_steps": 20, "eval_steps": 10, "max_minutes": None,
         "max_seq_length": 96, "candidates": 4, "definition_tokens": 6}


@pytest.fixture(scope="module")
def tiny_setup(session_dirs):
    """(params, retriever, Training) of a 40-query tiny-model run (reranker settings: ``SMALL``; the tiny
    model is its own miner: it trained on nothing)."""
    with pytest.MonkeyPatch.context() as mp:
        for var, key in (("COMPENDIUM_RESULTS", "results"), ("COMPENDIUM_FIGURES", "figures"),
                         ("COMPENDIUM_CACHE", "cache"), ("COMPENDIUM_BUILD", "build")):
            mp.setenv(var, str(session_dirs[key]))
        mp.setenv("HF_HUB_OFFLINE", "1")
        from lib import params
        from lib.rerank import pipeline

        P = params.load("tiny", rerank=SMALL)
        enc = pipeline.retriever(P)
        yield P, enc, pipeline.training_setup(P, enc)
