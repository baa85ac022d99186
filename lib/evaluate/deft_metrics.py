"""DEFT 2020 metrics: Task 1 (EDRM, Spearman/Pearson, binarised classification) and Task 2 (MAP, P@1).

Why this module exists: the paper's headline numbers are DEFT 2020 figures, and two public EDRM
implementations disagree on the normaliser ``dmax``. Both are offered here, named, and every EDRM value
the notebooks write carries the name of the convention that produced it.

Score mapping (cosine -> the 0-5 scale) is fitted on a *training* split only and applied to the test
split: the paper's MinMaxScaler, and a calibrated alternative (isotonic or linear regression).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np
from scipy import stats
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LinearRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score
from sklearn.preprocessing import MinMaxScaler

from lib.evaluate.retrieval import bootstrap_ci
from lib.evaluate.sts import correlation_ci

Convention = Literal["reference", "system"]


Mapping_ = Literal["minmax", "isotonic", "linear"]


SCORE_MAX = 5.0


EDRM_CONVENTIONS: dict[str, str] = {
    "reference": "dmax_i = max(r_i, 5 - r_i), system scores clipped to [0, 5]",
    "system": "dmax_i = max(s_i, 5 - s_i), missing system score counted as 0",
}

# ---------------------------------------------------------------------------------------------
# Task 1: EDRM


def edrm_items(system: Sequence[float], reference: Sequence[float], convention: Convention = "reference",
               score_max: float = SCORE_MAX) -> np.ndarray:
    """Per-pair EDRM terms ``1 - |s_i - r_i| / dmax_i`` (their mean is the EDRM).

    Hand-rolled: the campaign's metric is not in any library. ``reference`` (default, the more recent
    public implementation) normalises by the reference's largest possible distance and clips system
    scores to the scale, so every term lies in [0, 1]. ``system`` normalises by the system score's
    largest possible distance and counts a missing (NaN) score as 0, as the older implementation does.
    """
    s = np.asarray(system, dtype=float)
    r = np.asarray(reference, dtype=float)
    if s.shape != r.shape or s.ndim != 1:
        raise ValueError(f"system and reference must be 1-D and the same length, got {s.shape}, {r.shape}")
    if np.isnan(r).any():
        raise ValueError("reference scores contain NaN")
    if convention == "reference":
        s = np.clip(np.nan_to_num(s, nan=0.0), 0.0, score_max)
        dmax = np.maximum(r, score_max - r)
    elif convention == "system":
        s = np.nan_to_num(s, nan=0.0)
        dmax = np.maximum(s, score_max - s)
    else:
        raise ValueError(f"unknown EDRM convention {convention!r}; known: {sorted(EDRM_CONVENTIONS)}")
    return 1.0 - np.abs(s - r) / dmax


def edrm(system: Sequence[float], reference: Sequence[float], convention: Convention = "reference",
         score_max: float = SCORE_MAX) -> float:
    """EDRM (Exactitude en Distance à la Référence, Moyennée), DEFT 2020 Task 1's official metric."""
    return float(edrm_items(system, reference, convention, score_max).mean())


# ---------------------------------------------------------------------------------------------
# Task 1: correlations with p-values and paired bootstrap intervals


def correlations(pred: Sequence[float], gold: Sequence[float]) -> dict[str, float]:
    """Spearman and Pearson coefficients with their two-sided p-values (scipy.stats)."""
    sp = stats.spearmanr(pred, gold)
    pe = stats.pearsonr(pred, gold)
    return {"spearman": float(sp.statistic), "spearman_p": float(sp.pvalue),
            "pearson": float(pe.statistic), "pearson_p": float(pe.pvalue)}


def mean_ci(values: Sequence[float], n: int, seed: int) -> tuple[float, float] | None:
    """Bootstrap interval of a mean of per-item values (EDRM terms, AP, hit@1): the project's helper."""
    if n <= 0:
        return None
    lo, hi = bootstrap_ci(np.asarray(values, dtype=float), n, seed)
    return float(lo), float(hi)


# ---------------------------------------------------------------------------------------------
# Task 1: classification after binarisation (the paper's Table 3)


def binarize(scores: Sequence[float], threshold: float) -> np.ndarray:
    """Positive (1) when the score reaches the threshold (``>=``), negative (0) otherwise."""
    return (np.asarray(scores, dtype=float) >= threshold).astype(int)


def classification_metrics(pred: Sequence[float], gold: Sequence[float],
                           threshold: float) -> dict[str, float]:
    """Accuracy, precision, recall, F1 of the positive class after binarising both score lists."""
    yp, yg = binarize(pred, threshold), binarize(gold, threshold)
    return {"threshold": float(threshold),
            "accuracy": float(accuracy_score(yg, yp)),
            "precision": float(precision_score(yg, yp, zero_division=0)),
            "recall": float(recall_score(yg, yp, zero_division=0)),
            "f1": float(f1_score(yg, yp, zero_division=0)),
            "n_positive_gold": int(yg.sum()), "n_positive_pred": int(yp.sum())}


def undersample_balanced(gold: Sequence[float], threshold: float, seed: int) -> np.ndarray:
    """Indices of a class-balanced subset (majority class undersampled at random), sorted.

    This reproduces the paper's positive/negative undersampling, which it applied to the test split as
    well; it is an option (``undersample_test``), off by default, and reports must say when it is on.
    """
    y = binarize(gold, threshold)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    k = min(len(pos), len(neg))
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.choice(pos, k, replace=False), rng.choice(neg, k, replace=False)])
    return np.sort(keep)


# ---------------------------------------------------------------------------------------------
# Task 1: score mapping cosine -> [0, 5], fitted on train only


@dataclass
class ScoreMapping:
    """A fitted cosine -> score map. ``method`` names it in every table."""

    method: str
    model: Any
    score_max: float = SCORE_MAX

    def transform(self, cosine: Sequence[float]) -> np.ndarray:
        x = np.asarray(cosine, dtype=float).reshape(-1, 1)
        if self.method == "minmax":
            # the paper's MinMaxScaler: unclipped, so test cosines outside the train range leave [0, 5]
            # (the default EDRM convention clips them; the classification threshold does not care)
            return self.model.transform(x).ravel()
        if self.method == "isotonic":
            return self.model.predict(x.ravel())
        return np.clip(self.model.predict(x), 0.0, self.score_max)


def fit_score_mapping(train_cosine: Sequence[float], train_gold: Sequence[float] | None,
                      method: Mapping_ = "minmax", score_max: float = SCORE_MAX) -> ScoreMapping:
    """Fit a cosine -> [0, score_max] map on the training split (never on test).

    ``minmax`` (the paper's) uses only the training cosines; ``isotonic`` and ``linear`` are calibrated
    on the training gold scores as well.
    """
    x = np.asarray(train_cosine, dtype=float).reshape(-1, 1)
    if method == "minmax":
        return ScoreMapping(method, MinMaxScaler(feature_range=(0.0, score_max)).fit(x), score_max)
    if train_gold is None:
        raise ValueError(f"score mapping {method!r} needs the training gold scores")
    y = np.asarray(train_gold, dtype=float)
    if method == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=score_max, out_of_bounds="clip").fit(x.ravel(), y)
        return ScoreMapping(method, iso, score_max)
    if method == "linear":
        return ScoreMapping(method, LinearRegression().fit(x, y), score_max)
    raise ValueError(f"unknown score mapping {method!r}; known: minmax, isotonic, linear")


def task1_metrics(pred: Sequence[float], gold: Sequence[float], *, threshold: float,
                  convention: Convention = "reference", bootstrap: int = 0, seed: int = 0) -> dict[str, Any]:
    """Every Task 1 figure for one mapped prediction list: EDRM (both conventions), correlations, CIs,
    classification at the threshold. Layout documented in notebooks/05-deft-task1-edrm.ipynb."""
    pred, gold = np.asarray(pred, float), np.asarray(gold, float)
    items = edrm_items(pred, gold, convention)
    out: dict[str, Any] = {
        "n": int(len(gold)),
        "edrm": float(items.mean()),
        "edrm_convention": convention,
        "edrm_ci": mean_ci(items, bootstrap, seed),
        "edrm_by_convention": {c: edrm(pred, gold, c) for c in EDRM_CONVENTIONS},
    }
    out.update(correlations(pred, gold))
    out["spearman_ci"] = correlation_ci(pred, gold, "spearman", bootstrap, seed)
    out["pearson_ci"] = correlation_ci(pred, gold, "pearson", bootstrap, seed)
    out["classification"] = classification_metrics(pred, gold, threshold)
    return out


# ---------------------------------------------------------------------------------------------
# Task 2: rank of the gold target among the candidates, MAP and precision@1


def gold_candidate_ranks(scores: np.ndarray, gold: Sequence[int]) -> np.ndarray:
    """1-based rank of the gold candidate (``gold`` is 1-based, as the XML's ``cible`` attribute).

    Ties are counted against the system (pessimistic rank: a tie with a distractor is not a win), so a
    constant scorer gets no credit.
    """
    s = np.asarray(scores, dtype=float)
    g = np.asarray(gold, dtype=int) - 1
    if s.ndim != 2 or len(g) != len(s):
        raise ValueError(f"scores must be (n_items, n_candidates) matching gold, got {s.shape} and {len(g)}")
    if (g < 0).any() or (g >= s.shape[1]).any():
        raise ValueError(f"gold candidate numbers must lie in 1..{s.shape[1]}")
    gs = s[np.arange(len(s)), g][:, None]
    others = np.ones_like(s, dtype=bool)
    others[np.arange(len(s)), g] = False
    return 1 + ((s >= gs) & others).sum(axis=1)


def task2_metrics(ranks: Sequence[int], gold: Sequence[int], *, bootstrap: int = 0, seed: int = 0,
                  n_candidates: int = 3) -> dict[str, Any]:
    """MAP (= MRR with one relevant candidate: AP = 1/rank), map_k over items whose gold is k, their
    mean, and precision@1 (the campaign's official figure). Empty groups give None (never 0)."""
    ranks = np.asarray(ranks, dtype=float)
    gold = np.asarray(gold, dtype=int)
    ap = 1.0 / ranks
    hit1 = (ranks == 1).astype(float)
    out: dict[str, Any] = {"n_items": int(len(ranks)), "map": float(ap.mean()), "p_at_1": float(hit1.mean())}
    per_k = []
    for k in range(1, n_candidates + 1):
        sel = gold == k
        out[f"n_items_{k}"] = int(sel.sum())
        out[f"map_{k}"] = float(ap[sel].mean()) if sel.any() else None
        if sel.any():
            per_k.append(out[f"map_{k}"])
    out["map_mean"] = float(np.mean(per_k)) if per_k else None
    out["map_ci"] = mean_ci(ap, bootstrap, seed)
    out["p_at_1_ci"] = mean_ci(hit1, bootstrap, seed)
    return out


# ---------------------------------------------------------------------------------------------
# One evaluation set, end to end (what notebooks 05/06 call), and the paper-layout tables


def evaluate_task1_set(cos_train: Sequence[float], gold_train: Sequence[float], cos_test: Sequence[float],
                       gold_test: Sequence[float], *, threshold: float, calibrated: Mapping_ = "isotonic",
                       convention: Convention = "reference", undersample_test: bool = False,
                       bootstrap: int = 0, seed: int = 0, fitted_on: str = "train split") -> dict[str, Any]:
    """Fit the paper's MinMax map and a calibrated map on train, score test with both.

    Returns ``{"n_train", "n_test", "undersampled_test", "mappings": {method: task1_metrics(...)},
    "predictions": {method: test scores}}`` (predictions are for figures, not for the results JSON).
    """
    cos_test, gold_test = np.asarray(cos_test, float), np.asarray(gold_test, float)
    n_before = len(gold_test)
    if undersample_test:
        keep = undersample_balanced(gold_test, threshold, seed)
        cos_test, gold_test = cos_test[keep], gold_test[keep]
    methods = ["minmax"] + ([calibrated] if calibrated != "minmax" else [])
    out: dict[str, Any] = {"n_train": int(len(gold_train)), "n_test": int(len(gold_test)),
                           "n_test_before_undersampling": int(n_before), "undersampled_test": undersample_test,
                           "calibrated_mapping": calibrated, "mappings": {}, "predictions": {},
                           "raw_cosine": correlations(cos_test, gold_test)}
    for m in methods:
        mapper = fit_score_mapping(cos_train, gold_train, m)
        pred = mapper.transform(cos_test)
        out["mappings"][m] = task1_metrics(pred, gold_test, threshold=threshold, convention=convention,
                                           bootstrap=bootstrap, seed=seed)
        out["mappings"][m]["fitted_on"] = fitted_on
        out["predictions"][m] = pred
        out["predictions"][m + "_train"] = mapper.transform(cos_train)
    out["gold_test"] = gold_test
    return out


def candidate_scores(source_vecs: np.ndarray, candidate_vecs: np.ndarray) -> np.ndarray:
    """Cosine of each source with each of its candidates: (n, d) x (n, k, d) -> (n, k) (L2-normalised)."""
    return np.einsum("nd,nkd->nk", np.asarray(source_vecs, np.float32),
                     np.asarray(candidate_vecs, np.float32)).astype(float)
