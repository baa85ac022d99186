"""Alignment metrics: gold ranks, Acc@k, MRR, bootstrap intervals, and agreement between formats."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


def gold_ranks(pred_codes: np.ndarray, gold: Sequence[Sequence[str] | str]) -> np.ndarray:
    """1-based rank of the first predicted code that is a gold code; 0 when not in the top-k.

    ``pred_codes`` is (n_sources, k) of concept ids; ``gold`` holds one id or a set per source.
    """
    ranks = np.zeros(len(gold), dtype=np.int64)
    for i, g in enumerate(gold):
        gset = {g} if isinstance(g, str) else set(g)
        for r, code in enumerate(pred_codes[i], start=1):
            if code in gset:
                ranks[i] = r
                break
    return ranks


def accuracy_at_k(ranks: np.ndarray, k: int) -> float:
    ranks = np.asarray(ranks)
    return float(np.mean((ranks >= 1) & (ranks <= k))) if len(ranks) else float("nan")


def reciprocal_ranks(ranks: np.ndarray) -> np.ndarray:
    ranks = np.asarray(ranks, dtype=np.float64)
    return np.where(ranks > 0, 1.0 / np.maximum(ranks, 1), 0.0)


def mrr(ranks: np.ndarray) -> float:
    """Mean reciprocal rank within the top-k (a gold concept outside the top-k counts 0)."""
    return float(reciprocal_ranks(ranks).mean()) if len(ranks) else float("nan")


def paired_mcnemar(hits_a: np.ndarray, hits_b: np.ndarray) -> dict:
    """Exact McNemar test of two systems' per-item hits on the same items: is A's accuracy different
    from B's beyond sampling noise? Only the discordant items count (the binomial test of scipy.stats;
    statsmodels' ``mcnemar(exact=True)`` is the same test, not a dependency here)."""
    from scipy.stats import binomtest

    a, b = np.asarray(hits_a, dtype=bool), np.asarray(hits_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"paired hits differ in length: {a.shape} vs {b.shape}")
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    p = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return {"n": int(len(a)), "only_a": only_a, "only_b": only_b,
            "diff": float(a.mean() - b.mean()) if len(a) else float("nan"), "p": float(p)}


def bootstrap_ci(values: np.ndarray, n: int = 1000, seed: int = 0, alpha: float = 0.05,
                 stat: Callable[[np.ndarray], float] = np.mean) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat`` over items (scipy.stats.bootstrap, percentile)."""
    from scipy.stats import bootstrap

    values = np.asarray(values, dtype=np.float64)
    if n <= 0 or len(values) < 2 or np.all(values == values[0]):
        v = float(stat(values)) if len(values) else float("nan")
        return (v, v)
    res = bootstrap((values,), stat, n_resamples=n, confidence_level=1 - alpha, method="percentile",
                    random_state=np.random.default_rng(seed), vectorized=False)
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def retrieval_metrics(ranks: np.ndarray, ks: Sequence[int] = (1, 5, 10), n_boot: int = 1000,
                      seed: int = 0) -> dict:
    """Acc@k and MRR with bootstrap 95% intervals."""
    ranks = np.asarray(ranks)
    out: dict = {"n": int(len(ranks)), "ci": {}}
    for k in ks:
        hits = ((ranks >= 1) & (ranks <= k)).astype(np.float64)
        out[f"acc@{k}"] = float(hits.mean()) if len(ranks) else float("nan")
        out["ci"][f"acc@{k}"] = list(bootstrap_ci(hits, n_boot, seed))
    rr = reciprocal_ranks(ranks)
    out["mrr"] = float(rr.mean()) if len(ranks) else float("nan")
    out["ci"]["mrr"] = list(bootstrap_ci(rr, n_boot, seed))
    return out


def embedding_agreement(ref: np.ndarray, other: np.ndarray, k: int = 1) -> dict:
    """How far a format's vectors are from the FP32 reference: cosine per string, and whether each
    string's nearest neighbour among the same strings is unchanged (rows must be L2-normalised)."""
    ref = np.asarray(ref, dtype=np.float32)
    other = np.asarray(other, dtype=np.float32)
    if ref.shape != other.shape:
        raise ValueError(f"shape mismatch {ref.shape} vs {other.shape}")
    cos = (ref * other).sum(1)
    out = {"mean_cosine": float(cos.mean()), "min_cosine": float(cos.min()), "n": int(len(ref))}
    if len(ref) > 1:
        def nn(x: np.ndarray) -> np.ndarray:
            s = x @ x.T
            np.fill_diagonal(s, -np.inf)
            return s.argmax(1)
        out["nn_agreement"] = float(np.mean(nn(ref) == nn(other)))
    return out


def mean_cosine(ref: np.ndarray, other: np.ndarray) -> float:
    """Mean row-wise cosine of two L2-normalised matrices."""
    return float(np.mean(np.sum(ref * other, axis=1)))
