"""DEFT 2020 task runs: encode the sets, score them with lib.evaluate.deft_metrics.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from lib.engines.cache import embed
from lib.evaluate.deft_metrics import candidate_scores, evaluate_task1_set, gold_candidate_ranks, task2_metrics
from lib.evaluate.sts import pair_cosines


def task1_runs(enc, sets: Sequence[Any], **kwargs: Any) -> dict[str, dict[str, Any]]:
    """:func:`evaluate_task1_set` on every Task 1 set with one encoder (vectors via the embedding
    cache, so a rerun of one format costs nothing); ``kwargs`` go to :func:`evaluate_task1_set`."""

    def cos(df):
        return pair_cosines(embed(enc, df.sentence1.tolist()), embed(enc, df.sentence2.tolist()))

    return {s.key: evaluate_task1_set(cos(s.train), s.train.score.to_numpy(), cos(s.test),
                                      s.test.score.to_numpy(), **kwargs) for s in sets}


def task1_record(sets: Sequence[Any], runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The JSON block of one format: per set its label, tier, notes, sizes and metrics (no vectors)."""
    keys = ("n_train", "n_test", "n_test_before_undersampling", "undersampled_test", "raw_cosine", "mappings")
    return {s.key: {"label": s.label, "tier": s.tier, "notes": [n for n in s.notes if n],
                    **{k: runs[s.key][k] for k in keys}} for s in sets}


def task2_record(enc, sets: Sequence[Any], n_candidates: int, *, bootstrap: int = 0,
                 seed: int = 0) -> dict[str, dict[str, Any]]:
    """Rank the candidates of every Task 2 set by cosine with one encoder; per set its metrics."""

    out = {}
    for s in sets:
        df = s.test
        src = embed(enc, df.source.tolist())
        cands = np.stack([embed(enc, df[f"cible_{k}"].tolist()) for k in range(1, n_candidates + 1)], axis=1)
        ranks = gold_candidate_ranks(candidate_scores(src, cands), df.gold.to_numpy())
        out[s.key] = {"label": s.label, "tier": s.tier, "notes": s.notes,
                      **task2_metrics(ranks, df.gold.to_numpy(), bootstrap=bootstrap, seed=seed)}
    return out
