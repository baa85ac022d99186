"""Semantic textual similarity on vectors: pair cosines, Spearman against gold scores, and intervals.

The one place the STS figure of every stage is computed (the 03 gate, Olive's metric in 02, general
semantics after training, DEFT Task 1): cosine of each pair's two L2-normalised vectors, ranked
against the gold scores by ``scipy.stats.spearmanr``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats


def pair_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two matrices of L2-normalised vectors (the encoders' output)."""
    return np.einsum("ij,ij->i", np.asarray(a, np.float32), np.asarray(b, np.float32)).astype(float)


def spearman(scores: Sequence[float], gold: Sequence[float]) -> float:
    """Spearman rank correlation of system scores with gold scores (scipy.stats)."""
    return float(stats.spearmanr(scores, gold).statistic)


def pair_spearman(a: np.ndarray, b: np.ndarray, gold: Sequence[float]) -> float:
    """STS Spearman of a set of pairs: :func:`spearman` of their :func:`pair_cosines`."""
    return spearman(pair_cosines(a, b), gold)


def correlation_ci(pred: Sequence[float], gold: Sequence[float], statistic: str,
                   n: int, seed: int, level: float = 0.95) -> tuple[float, float] | None:
    """Percentile interval of a paired statistic (``spearman`` or ``pearson``) by scipy.stats.bootstrap.

    Correlations are not means of per-item values, so pairs are resampled jointly (paired=True).
    Returns None when ``n`` is 0 (bootstrap disabled).
    """
    if n <= 0:
        return None
    fn = {"spearman": lambda x, y: stats.spearmanr(x, y).statistic,
          "pearson": lambda x, y: stats.pearsonr(x, y).statistic}[statistic]
    res = stats.bootstrap((np.asarray(pred, float), np.asarray(gold, float)), fn, paired=True,
                          vectorized=False, n_resamples=n, confidence_level=level, method="percentile",
                          random_state=np.random.default_rng(seed))
    lo, hi = res.confidence_interval
    return float(lo), float(hi)


def spearman_drop_ci(ref_scores: Sequence[float], scores: Sequence[float], gold: Sequence[float], n: int,
                     seed: int = 0, level: float = 0.95) -> tuple[float, float] | None:
    """Percentile interval of Spearman(ref) - Spearman(other) on the same pairs, resampled jointly.

    Paired: both systems are scored on each resample of pairs, so the interval is that of the *drop*
    (narrow when the two systems agree), not the difference of two independent intervals."""
    if n <= 0 or len(gold) < 3:
        return None
    res = stats.bootstrap((np.asarray(ref_scores, float), np.asarray(scores, float), np.asarray(gold, float)),
                          lambda r, s, g: stats.spearmanr(r, g).statistic - stats.spearmanr(s, g).statistic,
                          paired=True, vectorized=False, n_resamples=n, confidence_level=level,
                          method="percentile", random_state=np.random.default_rng(seed))
    lo, hi = res.confidence_interval
    return float(lo), float(hi)
