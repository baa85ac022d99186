"""General semantics of an encoder: STS Spearman on sets no training run sees.

A model fine-tuned to align lay terms to HPO concepts can lose what made it a general sentence
encoder. These three public sets measure that loss, each scored the same way (Spearman between the
cosine of each pair and its gold score, with a paired bootstrap interval):

* ``stsb-en/dev``: STS-benchmark English dev (1,500 pairs, 0-5), general English;
* ``stsb-fr/test``: STS-benchmark French test, machine-translated (1,379 pairs, 0-5), general French;
* ``biosses/all``: BIOSSES, all 100 biomedical pairs (0-4).

Each set is scored by :class:`lib.evaluators.STSEvaluator`; vectors come from the project's embedding
cache (:func:`lib.engines.cache.embed`, all sentences in one call), so the base model's
figures are computed once and a fine-tuned model's next to them cost one encoding of ~5,000 sentences.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from lib.data.public import load_sts
from lib.evaluate.sts import correlation_ci
from lib.evaluators import STSEvaluator, embed_texts

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
    evaluators = {key: STSEvaluator.from_frame(key, df) for key, (df, _) in sets.items()}
    by_text = embed_texts(encoder, [t for ev in evaluators.values() for t in ev.texts])
    out: dict[str, dict[str, Any]] = {}
    for key, ev in evaluators.items():
        cos = ev.items(by_text)
        ci = correlation_ci(cos, ev.gold, "spearman", bootstrap, seed)
        out[key] = {"spearman": ev.metrics(cos)[ev.key], "ci": list(ci) if ci else None,
                    "n": int(len(ev.gold)), "n_total": int(sets[key][1])}
    return out


def semantics_loss(base: dict[str, dict[str, Any]], tuned: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Spearman lost per set by a fine-tuned model (base minus tuned; positive = lost)."""
    return {k: float(base[k]["spearman"] - tuned[k]["spearman"]) for k in base if k in tuned}

