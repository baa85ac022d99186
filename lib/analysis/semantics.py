"""General semantics of an encoder: STS Spearman on sets no training run sees.

A model fine-tuned to align lay terms to HPO concepts can lose what made it a general sentence
encoder. These three public sets measure that loss, each scored the same way (Spearman between the
cosine of each pair and its gold score, with a paired bootstrap interval):

* ``stsb-en/dev``: STS-benchmark English dev (1,500 pairs, 0-5), general English;
* ``stsb-fr/test``: STS-benchmark French test, machine-translated (1,379 pairs, 0-5), general French;
* ``biosses/all``: BIOSSES, all 100 biomedical pairs (0-4).

Vectors come from the project's embedding cache (:func:`lib.engines.cache.embed`), so the base model's
figures are computed once and a fine-tuned model's next to them cost one encoding of ~5,000 sentences.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from scipy.stats import spearmanr

from lib.data.public import load_sts
from lib.engines.cache import embed
from lib.evaluate.sts import correlation_ci, pair_cosines

# (set name, split): the key of each result is "name/split"
GENERAL_SETS: tuple[tuple[str, str], ...] = (("stsb-en", "dev"), ("stsb-fr", "test"), ("biosses", "all"))


def _pairs(name: str, split: str, max_pairs: int | None, seed: int) -> tuple[pd.DataFrame, int]:
    """The set's pairs, a seeded sample of ``max_pairs`` of them when it has more (for smoke runs)."""
    df = load_sts(name, split)
    n_total = len(df)
    if max_pairs is not None and n_total > max_pairs:
        df = df.sample(max_pairs, random_state=seed).reset_index(drop=True)
    return df, n_total


def general_semantics(encoder, *, max_pairs: int | None = None, bootstrap: int = 1000,
                      seed: int = 0) -> dict[str, dict[str, Any]]:
    """Spearman of pair cosines against gold scores on STS-b EN dev, STS-b FR test and BIOSSES.

    Returns ``{"stsb-en/dev": {"spearman", "ci", "n", "n_total"}, ...}``: ``ci`` is the 95% percentile
    interval from ``bootstrap`` paired resamples ([lo, hi]; None when ``bootstrap`` is 0), ``n`` the
    pairs scored and ``n_total`` the pairs in the set (``max_pairs`` samples them, seeded, for smoke
    runs; None = all). All sentences are encoded in one cached call.
    """
    if max_pairs is not None and max_pairs < 3:
        raise ValueError(f"general_semantics: max_pairs={max_pairs}; a Spearman needs at least 3 pairs")
    sets = {f"{name}/{split}": _pairs(name, split, max_pairs, seed) for name, split in GENERAL_SETS}
    texts = list(dict.fromkeys(s for df, _ in sets.values() for s in (*df.sentence1, *df.sentence2)))
    row = {t: i for i, t in enumerate(texts)}
    vec = embed(encoder, texts)
    out: dict[str, dict[str, Any]] = {}
    for key, (df, n_total) in sets.items():
        cos = pair_cosines(vec[[row[s] for s in df.sentence1]], vec[[row[s] for s in df.sentence2]])
        gold = df.score.to_numpy(float)
        ci = correlation_ci(cos, gold, "spearman", bootstrap, seed)
        out[key] = {"spearman": float(spearmanr(cos, gold).statistic), "ci": list(ci) if ci else None,
                    "n": int(len(df)), "n_total": int(n_total)}
    return out


def semantics_loss(base: dict[str, dict[str, Any]], tuned: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Spearman lost per set by a fine-tuned model (base minus tuned; positive = lost)."""
    return {k: float(base[k]["spearman"] - tuned[k]["spearman"]) for k in base if k in tuned}

