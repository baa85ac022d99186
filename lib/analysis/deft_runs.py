"""DEFT 2020 task runs: encode the sets with every format, score them with lib.evaluate.deft_metrics
(notebooks 05 and 06).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from lib.engines.cache import embed
from lib.evaluate.regression import compare_regressors
from lib.evaluate.deft_metrics import candidate_scores, evaluate_task1_set, gold_candidate_ranks, task2_metrics
from lib.evaluate.sts import pair_cosines
from lib.formats import load_encoder


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


def task1_formats(P, sets: Sequence[Any], fmts: Sequence[str], **kwargs: Any
                  ) -> tuple[dict[str, dict], dict[str, dict], dict]:
    """05's study: :func:`task1_runs` and :func:`task1_record` for every format (each encoder released
    before the next loads). Returns (runs by format, records by format, the model's identity)."""
    runs, by_format, identity = {}, {}, {}
    for fmt in fmts:
        enc = load_encoder(P, fmt)
        runs[fmt] = task1_runs(enc, sets, **kwargs)
        by_format[fmt] = task1_record(sets, runs[fmt])
        identity = enc.identity
        del enc
    return runs, by_format, identity


def task2_formats(P, sets: Sequence[Any], fmts: Sequence[str], n_candidates: int, *, bootstrap: int = 0,
                  seed: int = 0) -> tuple[dict[str, dict], dict]:
    """06's study: :func:`task2_record` for every format. Returns (records by format, the model's identity)."""
    by_format, identity = {}, {}
    for fmt in fmts:
        enc = load_encoder(P, fmt)
        by_format[fmt] = task2_record(enc, sets, n_candidates, bootstrap=bootstrap, seed=seed)
        identity = enc.identity
        del enc
    return by_format, identity


def figure3_panels(sets: Sequence[Any], runs: dict[str, dict], by_format: dict[str, dict], seed: int = 0
                   ) -> dict[str, list]:
    """Figure 3's panels per format: for each set, the MinMax-mapped test predictions against gold with the
    regressors fitted on train (:func:`lib.evaluate.regression.compare_regressors`); each fit's test R² is
    recorded in the format's record (``figure3_r2``)."""
    panels: dict[str, list] = {}
    for fmt, datasets in by_format.items():
        panels[fmt] = []
        for s in sets:
            r = runs[fmt][s.key]
            fits = compare_regressors(r["predictions"]["minmax_train"], s.train.score.to_numpy(),
                                      r["predictions"]["minmax"], r["gold_test"], seed=seed)
            datasets[s.key]["figure3_r2"] = {k: v["r2_test"] for k, v in fits.items()}
            panels[fmt].append((s.label, r["predictions"]["minmax"], r["gold_test"], fits))
    return panels
