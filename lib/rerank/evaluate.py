"""Scoring rerankings: Acc@1 / MRR within the C candidates (with the retriever's Acc@C, the ceiling),
agreement of a quantized scorer with FP32 and the INT8 gate, and the packed reranker's order sensitivity.

Margins are (terms x slots) with NaN for empty slots (:func:`lib.rerank.model.score_inputs`); a reranked
order sorts the slots by margin, ties (and NaN, last) in the retriever's order.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from lib.evaluate.retrieval import gold_ranks, paired_mcnemar, retrieval_metrics
from lib.rerank.candidates import Candidates
from lib.rerank.model import probabilities


def reranked_order(margins: np.ndarray) -> np.ndarray:
    """Slot indices per term, best margin first; NaN (empty slots) last; ties in slot order."""
    m = np.where(np.isnan(margins), -np.inf, margins)
    return np.argsort(-m, axis=1, kind="stable")


def reranked(cands: Candidates, margins: np.ndarray) -> Candidates:
    """The candidates in reranked order (scores become the reranker's margins)."""
    order = reranked_order(margins)
    take = np.take_along_axis
    return Candidates(take(cands.concepts, order, 1), take(cands.strings, order, 1),
                      take(np.where(np.isnan(margins), -np.inf, margins).astype(np.float32), order, 1),
                      dict(cands.info))


def rank_metrics(ranks: np.ndarray, c: int, n_boot: int = 1000, seed: int = 0) -> dict:
    """Acc@1, MRR (within C) and Acc@C, each with its 95% bootstrap interval."""
    ks = (1,) if c == 1 else (1, c)
    return retrieval_metrics(ranks, ks=ks, n_boot=n_boot, seed=seed)


def rerank_ranks(cands: Candidates, margins: np.ndarray, gold: Sequence) -> np.ndarray:
    """Gold rank after reranking (0: the gold is not among the candidates)."""
    return gold_ranks(reranked(cands, margins).concepts, gold)


# Fusion weights tried on the dev queries: a margin is a logit (a few units), a cosine gap between
# neighbouring candidates a few hundredths, so useful weights run to the hundreds; inf = the retriever alone.
FUSION_GRID = (0.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, float("inf"))


def fused(cands: Candidates, margins: np.ndarray, weight: float) -> np.ndarray:
    """Scores ``margin + weight * retriever cosine`` (NaN kept for empty slots). ``weight = 0`` is the
    reranker alone; ``inf`` the retriever's own order (its cosines). Score interpolation is the usual way
    to keep what a first-stage retriever knows when its reranker is trained on little data."""
    margins = np.asarray(margins, dtype=np.float64)
    retr = np.asarray(cands.scores, dtype=np.float64)[:, :margins.shape[1]]
    if np.isinf(weight):
        return np.where(np.isnan(margins), np.nan, retr)
    # an empty slot's retriever score may be -inf: 0 * -inf is NaN with a warning; its margin is NaN anyway
    return np.where(np.isnan(margins), np.nan, margins + weight * np.where(np.isfinite(retr), retr, 0.0))


def choose_fusion(cands: Candidates, margins: np.ndarray, gold: Sequence,
                  grid: Sequence[float] = FUSION_GRID) -> tuple[float, dict[str, float]]:
    """The fusion weight with the best Acc@1 on held-out queries (the dev queries, never lay terms); ties
    go to the smaller weight (more of the reranker). Returns (weight, Acc@1 per weight)."""
    acc = {float(w): float(np.mean(rerank_ranks(cands, fused(cands, margins, w), gold) == 1)) for w in grid}
    best = max(acc, key=lambda w: (acc[w], -w))
    return best, {str(w): a for w, a in acc.items()}


def weight_label(weight: float) -> str:
    """A fusion weight for records and labels: ``'inf'`` survives JSON (a float inf would be written null)."""
    return f"{float(weight):g}"


def agreement(ref: np.ndarray, other: np.ndarray) -> dict:
    """How far a scorer's margins are from the reference's: P(match) differences, margin correlation and
    the share of terms whose reranked top-1 is the same slot."""
    ok = ~np.isnan(ref) & ~np.isnan(other)
    dp = np.abs(probabilities(ref) - probabilities(other))[ok]
    both = ref[ok], other[ok]
    corr = float(np.corrcoef(*both)[0, 1]) if len(dp) > 1 and np.std(both[0]) > 0 and np.std(both[1]) > 0 \
        else float("nan")
    top_ref, top = reranked_order(ref)[:, 0], reranked_order(other)[:, 0]
    return {"n_terms": int(len(ref)), "n_scores": int(ok.sum()), "max_abs_dp": float(dp.max()) if len(dp) else 0.0,
            "mean_abs_dp": float(dp.mean()) if len(dp) else 0.0, "margin_correlation": corr,
            "top1_agreement": float(np.mean(top_ref == top)) if len(ref) else float("nan")}


def quant_gate(ref_acc1: float, acc1: float, agree: dict, max_acc1_drop: float, min_top1_agreement: float) -> dict:
    """The INT8 gate of a reranker (the encoders' rule, on reranked lists): Acc@1 within
    ``max_acc1_drop`` of FP32 and the reranked top-1 the same as FP32's for ``min_top1_agreement`` of terms."""
    reasons = []
    if ref_acc1 - acc1 > max_acc1_drop:
        reasons.append(f"Acc@1 drop {ref_acc1 - acc1:.4f} > {max_acc1_drop}")
    if agree["top1_agreement"] < min_top1_agreement:
        reasons.append(f"top-1 agreement {agree['top1_agreement']:.4f} < {min_top1_agreement}")
    return {"passed": not reasons, "reasons": reasons, "acc1_drop": ref_acc1 - acc1, **agree}


def permutations(n_terms: int, widths: np.ndarray, seed: int) -> list[list[int]]:
    """One seeded random order of each term's non-empty slots."""
    rng = np.random.default_rng(seed)
    return [[int(j) for j in rng.permutation(int(w))] for w in widths]


def order_sensitivity(score: Callable[[list[list[int]] | None], np.ndarray], cands: Candidates, gold: Sequence,
                      trials: int = 3, seed: int = 0) -> dict:
    """Score the same candidates in the retriever's order and in ``trials`` random orders (``score(order)``
    returns margins in slot coordinates): Acc@1 per order, and per random order the share of terms whose
    reranked top-1 is unchanged and the mean |difference| of P(match) against the retriever's order."""
    widths = cands.valid.sum(1)
    base = score(None)
    acc = [float(np.mean(rerank_ranks(cands, base, gold) == 1))]
    top1, dps = [], []
    for t in range(trials):
        m = score(permutations(cands.n, widths, seed + 1 + t))
        acc.append(float(np.mean(rerank_ranks(cands, m, gold) == 1)))
        a = agreement(base, m)
        top1.append(a["top1_agreement"])
        dps.append(a["mean_abs_dp"])
    return {"trials": trials, "acc1_by_order": acc, "acc1_sd": float(np.std(acc, ddof=1)) if len(acc) > 1 else 0.0,
            "acc1_range": float(max(acc) - min(acc)), "top1_unchanged": float(np.mean(top1)) if top1 else 1.0,
            "mean_abs_dp": float(np.mean(dps)) if dps else 0.0}


def mcnemar(ranks_a: np.ndarray, ranks_b: np.ndarray) -> dict:
    """Exact McNemar test of two pipelines' Acc@1 on the same terms (A = the first)."""
    return paired_mcnemar(np.asarray(ranks_a) == 1, np.asarray(ranks_b) == 1)
