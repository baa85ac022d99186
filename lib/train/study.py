"""The self-alignment study (notebook 11): recipe variants on the dev set, their lay-term alignment, the
concept-disjoint supervised cross-fit, pooled out of fold.

A variant is the params file's recipe with some training fields changed: its own cache key, so each is
trained once and reused. Lay terms are scored only here, for the final table; variants are compared and
chosen on the dev set (``training.json``'s ``final_dev``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lib.data import tiers
from lib.evaluate.retrieval import retrieval_metrics
from lib.formats import load_encoder
from lib.params import Params
from lib.search import align
from lib.train.pairs import crossfit_folds


def variant(P: Params, **training: Any) -> Params:
    """``P`` with these training fields changed (validated like a params file)."""
    from lib.params import validate

    values = P.model_dump()
    values["training"] = {**values["training"], **training}
    return validate(values, f"params/{P.name}.yaml (variant {training})")


def ablation(P: Params, steps: int) -> dict[str, Params]:
    """The objectives and phases compared on the dev set at one equal, small step budget (dev scores
    every ``steps // 3`` steps for the curves)."""
    every = max(1, steps // 3)
    common = dict(max_steps=steps, soup=1.0, eval_steps=every, save_steps=every)
    return {
        "MNRL, synonyms": variant(P, objective="mnrl", definitions="none", **common),
        "multi-similarity, synonyms": variant(P, objective="multisim", definitions="none", **common),
        "MNRL, + definitions mixed": variant(P, objective="mnrl", definitions="mixed", **common),
        "MNRL, + definitions 2nd phase": variant(P, objective="mnrl", definitions="second-phase", **common),
    }


def crossfit_variants(P: Params, folds: int, steps: int) -> list[Params]:
    """One model per fold, each trained from ``P``'s trained model on the default pairs plus the lay
    terms of the other folds (``definitions: none``: the lay pairs are the point of this run)."""
    return [variant(P, base=P.name, crossfit_folds=folds, crossfit_fold=f, definitions="none", soup=1.0,
                    max_steps=steps) for f in range(folds)]


def score_lay_terms(P: Params, fmt: str = "fp32-torch", keep: np.ndarray | None = None) -> tuple[dict, np.ndarray]:
    """Acc@1/@5/@10, MRR with CIs (overall and non-trivial) of ``P``'s model on the lay terms, and the gold
    rank of each term; ``keep`` (a boolean mask over the lay terms) scores a subset (a cross-fit fold)."""
    data = tiers.alignment_data(P)
    if keep is not None:
        data.sources = data.sources[keep].reset_index(drop=True)
    main, _, metrics = align.align_and_score(load_encoder(P, fmt), data, P)
    return metrics, main["gold_rank"].to_numpy()


def pooled_crossfit(P: Params, fold_params: list[Params], fmt: str = "fp32-torch") -> tuple[dict, np.ndarray]:
    """Out-of-fold ranks of every lay term (each scored by the fold model that saw no lay term of its
    concept), pooled into one metrics record like :func:`score_lay_terms`'."""
    data = tiers.alignment_data(P)
    T = fold_params[0].training
    folds = crossfit_folds(data.sources, T.crossfit_folds, P.seed)
    ranks = np.zeros(len(data.sources), dtype=np.int64)
    for Pf in fold_params:
        mask = folds == Pf.training.crossfit_fold
        _, ranks[mask] = score_lay_terms(Pf, fmt, keep=mask)
    metrics = retrieval_metrics(ranks, n_boot=P.bootstrap, seed=P.seed)
    if "trivial" in data.sources:
        nt = ~data.sources["trivial"].to_numpy(bool)
        metrics["nontrivial"] = retrieval_metrics(ranks[nt], n_boot=P.bootstrap, seed=P.seed)
    metrics["n_sources"] = len(ranks)
    return metrics, ranks


def dev_scores_of(P: Params) -> dict[str, float]:
    """Dev Acc@1 / Acc@10 / MRR@10 of ``P``'s built model, evaluated now (a soup's record carries its
    unsouped run's curve, so its own dev scores are computed here)."""
    from lib.train.evaluation import dev_evaluator, dev_scores
    from lib.train.pairs import training_set
    from lib.engines.torch import device_of
    from lib.train.trainer import start_model
    from lib.engines.hub import resolve_model_dir

    T = P.training
    ts = training_set(P)
    model = start_model(resolve_model_dir(P), P.pooling, T.max_seq_length, device_of(T.device))
    return dev_scores(dev_evaluator(ts.strings, ts.dev, T.dev_distractors, P.seed)(model))
