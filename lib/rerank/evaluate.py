"""Scoring rerankings: the residual score, its weight chosen on dev, Acc@1 / MRR within the C candidates,
agreement of a quantized reranker with FP32 and its INT8 gate (the project's one gate rule), order
sensitivity of the packed layouts, McNemar against the retriever.

f is (terms x slots) with NaN for empty slots (:func:`lib.rerank.model.score_inputs`). The final score is
``w x retriever cosine + f`` (:func:`residual`); ``w = 0`` is f alone, ``w = inf`` the retriever alone. A
reranked order sorts the slots by score, ties (and NaN, last) in the retriever's order: with f = 0 (a
reranker at step 0) the reranked order *is* the retriever's for every w.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from lib.evaluate.gate import Criterion, Verdict, check, mean_drop_ci
from lib.evaluate.retrieval import gold_ranks, paired_mcnemar, retrieval_metrics
from lib.rerank.candidates import Candidates

# Weights of the retriever's cosine tried on the dev queries: f is a logit of a few units, a cosine gap
# between neighbouring candidates a few hundredths, so useful weights run to the hundreds; inf = the
# retriever alone, 0 = f alone.
WEIGHT_GRID = (0.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0, 500.0, float("inf"))


def reranked_order(scores: np.ndarray) -> np.ndarray:
    """Slot indices per term, best score first; NaN (empty slots) last; ties in slot order."""
    m = np.where(np.isnan(scores), -np.inf, scores)
    return np.argsort(-m, axis=1, kind="stable")


def reranked(cands: Candidates, scores: np.ndarray) -> Candidates:
    """The candidates in reranked order (their scores become the reranker's)."""
    order = reranked_order(scores)
    take = np.take_along_axis
    return Candidates(take(cands.concepts, order, 1), take(cands.strings, order, 1),
                      take(np.where(np.isnan(scores), -np.inf, scores).astype(np.float32), order, 1),
                      dict(cands.info))


def residual(cands: Candidates, f: np.ndarray, weight: float) -> np.ndarray:
    """``weight x retriever cosine + f`` (NaN kept for empty slots); ``weight = inf``: the cosine alone."""
    f = np.asarray(f, dtype=np.float64)
    cos = np.asarray(cands.scores, dtype=np.float64)[:, :f.shape[1]]
    cos = np.where(np.isfinite(cos), cos, 0.0)           # empty slots: -inf cosines, NaN f
    if np.isinf(weight):
        return np.where(np.isnan(f), np.nan, cos)
    return f + weight * cos


def rank_metrics(ranks: np.ndarray, c: int, n_boot: int = 1000, seed: int = 0) -> dict:
    """Acc@1, MRR (within C) and Acc@C, each with its 95% bootstrap interval."""
    ks = (1,) if c == 1 else (1, c)
    return retrieval_metrics(ranks, ks=ks, n_boot=n_boot, seed=seed)


def rerank_ranks(cands: Candidates, scores: np.ndarray, gold: Sequence) -> np.ndarray:
    """Gold rank after reranking (0: the gold is not among the candidates)."""
    return gold_ranks(reranked(cands, scores).concepts, gold)


def choose_weight(cands: Candidates, f: np.ndarray, gold: Sequence, trained: float | None = None,
                  grid: Sequence[float] = WEIGHT_GRID) -> tuple[float, dict[float, float]]:
    """The retriever weight with the best Acc@1 on held-out lists (the dev queries, never lay terms); ties
    go to the weight nearest (in log scale) the one training learned, else to the larger. Returns
    (weight, Acc@1 per weight)."""
    acc = {float(w): float(np.mean(rerank_ranks(cands, residual(cands, f, w), gold) == 1)) for w in grid}
    ref = np.log1p(trained) if trained is not None and np.isfinite(trained) and trained >= 0 else np.inf

    def near(w: float) -> float:
        return -abs(np.log1p(w) - ref) if np.isfinite(ref) else w
    best = max(acc, key=lambda w: (acc[w], near(w)))
    return best, acc


def weight_label(weight: float) -> str:
    """A weight for records and labels: ``'inf'`` survives JSON (a float inf would be written null)."""
    return f"{float(weight):g}"


def agreement(ref: np.ndarray, other: np.ndarray) -> dict:
    """How far a scorer's final scores are from the reference's: score correlation, mean |difference| and
    the share of terms whose reranked top-1 is the same slot."""
    ok = ~np.isnan(ref) & ~np.isnan(other)
    a, b = ref[ok], other[ok]
    corr = float(np.corrcoef(a, b)[0, 1]) if len(a) > 1 and np.std(a) > 0 and np.std(b) > 0 else float("nan")
    top_ref, top = reranked_order(ref)[:, 0], reranked_order(other)[:, 0]
    return {"n_terms": int(len(ref)), "n_scores": int(ok.sum()), "score_correlation": corr,
            "mean_abs_diff": float(np.mean(np.abs(a - b))) if len(a) else 0.0,
            "top1_agreement": float(np.mean(top_ref == top)) if len(ref) else float("nan")}


def gate_criteria(max_acc1_drop: float, min_top1_agreement: float) -> list[Criterion]:
    """A reranker's INT8 gate, the encoders' rule on reranked lists: Acc@1 drop from FP32 (decided on its
    paired bootstrap interval) and the reranked top-1 the same as FP32's for enough terms."""
    return [Criterion("acc1", "max_drop", max_acc1_drop, "Acc@1 drop"),
            Criterion("top1_agreement", "min", min_top1_agreement, "top-1 agreement with FP32")]


def quant_gate(cands: Candidates, gold: Sequence, ref: np.ndarray, scores: np.ndarray, max_acc1_drop: float,
               min_top1_agreement: float, n_boot: int = 1000, seed: int = 0) -> tuple[Verdict, dict]:
    """The gate (:func:`lib.evaluate.gate.check`) of a quantized reranker's final scores against FP32's on
    the same lists. Returns (verdict, its record: metrics, interval, decisions)."""
    hit_ref = rerank_ranks(cands, ref, gold) == 1
    hit = rerank_ranks(cands, scores, gold) == 1
    agree = agreement(ref, scores)
    ci = mean_drop_ci(hit_ref, hit, n_boot, seed)
    verdict = check({"acc1": float(hit.mean()), "top1_agreement": agree["top1_agreement"]},
                    {"acc1": float(hit_ref.mean())}, gate_criteria(max_acc1_drop, min_top1_agreement), {"acc1": ci})
    return verdict, {"passed": verdict.passed, "reasons": verdict.reasons, "acc@1": float(hit.mean()),
                     "fp32_acc@1": float(hit_ref.mean()), "acc1_drop": float(hit_ref.mean() - hit.mean()),
                     "acc1_drop_ci": list(ci) if ci else None, **agree, "decisions": verdict.records()}


def permutations(widths: np.ndarray, seed: int) -> list[list[int]]:
    """One seeded random order of each term's non-empty slots."""
    rng = np.random.default_rng(seed)
    return [[int(j) for j in rng.permutation(int(w))] for w in widths]


def order_sensitivity(score: Callable[[list[list[int]] | None], np.ndarray], cands: Candidates, gold: Sequence,
                      trials: int = 3, seed: int = 0) -> dict:
    """Score the same candidates in the retriever's order and in ``trials`` random orders (``score(order)``
    returns final scores in slot coordinates): Acc@1 per order and, per random order, the share of terms
    whose reranked top-1 is unchanged and the mean |score difference| against the retriever's order."""
    widths = cands.valid.sum(1)
    base = score(None)
    acc = [float(np.mean(rerank_ranks(cands, base, gold) == 1))]
    top1, diffs = [], []
    for t in range(trials):
        m = score(permutations(widths, seed + 1 + t))
        acc.append(float(np.mean(rerank_ranks(cands, m, gold) == 1)))
        a = agreement(base, m)
        top1.append(a["top1_agreement"])
        diffs.append(a["mean_abs_diff"])
    return {"trials": trials, "acc1_by_order": acc, "acc1_sd": float(np.std(acc, ddof=1)) if len(acc) > 1 else 0.0,
            "acc1_range": float(max(acc) - min(acc)), "top1_unchanged": float(np.mean(top1)) if top1 else 1.0,
            "mean_abs_diff": float(np.mean(diffs)) if diffs else 0.0}


def mcnemar(ranks_a: np.ndarray, ranks_b: np.ndarray) -> dict:
    """Exact McNemar test of two pipelines' Acc@1 on the same terms (A = the first)."""
    return paired_mcnemar(np.asarray(ranks_a) == 1, np.asarray(ranks_b) == 1)
