"""The self-alignment study (notebook 11): recipe variants on the dev set, their lay-term alignment, the
concept-disjoint supervised cross-fit, pooled out of fold.

A variant is the params file's recipe with some training fields changed: its own cache key, so each is
trained once and reused. Lay terms are scored only here, for the final table; variants are compared and
chosen on the dev set (``training.json``'s ``final_dev``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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


# --- Notebook 11's rows: the models, their dev scores, their lay-term rows, the targets ---------------------

# Issue 22's targets for the chosen self-aligned model (reported met / MISSED, never tuned on lay terms)
TARGETS = {"acc@1": 0.50, "acc@1 with definitions as targets": 0.54, "int8 max acc@1 drop": 0.005}


def checked_training_set(P: Params, lay: list[str]) -> tuple[Any, int]:
    """The training set, checked again against every evaluated lay string: a leaked pair raises (the
    loader's filter is the first guard, this the second, on exactly the strings scored here). Returns
    (training set, leaked pairs: always 0 once returned)."""
    from lib.train.pairs import drop_strings, training_set

    ts = training_set(P)
    _, leaked = drop_strings(ts.pairs, lay)
    if leaked:
        raise AssertionError(f"{leaked} training pairs hold an evaluated lay string")
    print(f"Leakage check: {leaked} of {len(ts.pairs):,} training pairs hold one of the {len(lay):,} "
          "evaluated lay strings.")
    return ts, leaked


def study_models(P: Params, ablation_steps: int, soup_ratio: float) -> dict[str, Params]:
    """The rows that train without lay terms: the chosen recipe (labelled by its display name), the
    objective / phase ablation, and the chosen model's soup with its start model."""
    chosen = P.display_name or P.name
    return {chosen: P, **ablation(P, ablation_steps), f"{chosen} + soup {soup_ratio}": variant(P, soup=soup_ratio)}


def train_records(models: dict[str, Params], folds: list[Params]) -> dict[str, dict]:
    """Train every model and cross-fit fold (on first use; reused after) and return their training records,
    the folds labelled ``supervised fold <k>``."""
    from lib.train import trainer

    labelled = [*models.items(), *((f"supervised fold {f.training.crossfit_fold}", f) for f in folds)]
    for label, Pv in labelled:
        print(f"{label}: {trainer.train(Pv)}")
    return {label: trainer.training_record(Pv) for label, Pv in labelled}


def dev_rows(models: dict[str, Params], records: dict[str, dict]) -> dict[str, dict]:
    """One row per trained model: its final dev scores, the start model's dev Acc@1, steps, minutes, what
    stopped it. A soup's record holds its unsouped run's scores, so a soup is evaluated here."""
    dev = {label: {**r["final_dev"], "start dev_acc@1": r["history"][0].get("dev_acc@1"), "steps": r["steps"],
                   "minutes": r["minutes"], "stopped_by": r["stopped_by"]} for label, r in records.items()}
    for label, Pv in models.items():
        if "soup" in label:
            dev[label].update(dev_scores_of(Pv))
    return dev


def lay_rows(P: Params, base: Params, models: dict[str, Params], records: dict[str, dict], folds: list[Params],
             ablation_steps: int, score_format: str, int8_format: str) -> tuple[dict, dict, dict[str, str]]:
    """Every lay-term row of notebook 11's table: the start model, each model, the chosen one with
    definitions as index targets and in INT8, and (apart) the pooled concept-disjoint supervised cross-fit.

    Returns (rows: label -> metrics with ``group`` and ``minutes``, ranks: label -> gold ranks, labels:
    the roles ``chosen``, ``start``, ``int8``, ``index``)."""
    chosen = P.display_name or P.name
    labels = {"chosen": chosen, "start": f"{base.display_name or base.name} (start)",
              "index": f"{chosen} + index augmentation", "int8": f"{chosen} [{int8_format}]"}
    minutes = records[chosen]["minutes"]
    todo = [(labels["start"], base, "base", score_format, None)]
    for label, Pv in models.items():
        name = label if label == chosen or "soup" in label else f"{label} ({ablation_steps} steps)"
        todo.append((name, Pv, "unsupervised", score_format, records[label]["minutes"]))
    todo += [(labels["index"], P.model_copy(update={"index_definitions": True}), "unsupervised", score_format, minutes),
             (labels["int8"], P, "unsupervised", int8_format, minutes)]
    rows, ranks = {}, {}
    for label, Pv, group, fmt, m in todo:
        rows[label], ranks[label] = score_lay_terms(Pv, fmt)
        rows[label].update(group=group, minutes=m)
    if folds:
        label = f"{chosen} + lay terms, {len(folds)}-fold concept-disjoint"
        rows[label], ranks[label] = pooled_crossfit(P, folds, score_format)
        fold_minutes = sum(records[f"supervised fold {f.training.crossfit_fold}"]["minutes"] for f in folds)
        rows[label].update(group="concept-disjoint supervised", minutes=minutes + fold_minutes)
    return rows, ranks, labels


def int8_summary(rows: dict, labels: dict[str, str], fmt: str,
                 max_drop: float = TARGETS["int8 max acc@1 drop"]) -> dict:
    """The chosen model's INT8 row against its FP32 row: Acc@1, the drop, and whether it is within ``max_drop``."""
    fp32, int8 = rows[labels["chosen"]]["acc@1"], rows[labels["int8"]]["acc@1"]
    return {"format": fmt, "acc@1": int8, "drop_vs_fp32": fp32 - int8,
            "within_half_point": bool(fp32 - int8 <= max_drop)}


def target_checks(rows: dict, labels: dict[str, str], int8: dict, targets: dict = TARGETS) -> dict[str, bool]:
    """Each of :data:`TARGETS` met or not, named with its threshold."""
    return {f"model alone Acc@1 >= {targets['acc@1']:.2f} (FP32)": rows[labels["chosen"]]["acc@1"] >= targets["acc@1"],
            f"with definitions as targets Acc@1 >= {targets['acc@1 with definitions as targets']:.2f}":
                rows[labels["index"]]["acc@1"] >= targets["acc@1 with definitions as targets"],
            f"INT8 within {100 * targets['int8 max acc@1 drop']:.1f} point of FP32": int8["within_half_point"]}


# --- Corpus mixes and the dev proxies (issue 22) -------------------------------------------------------------

LAY_DEV_SHARE = 0.1  # share of the lay terms' concepts held out to choose recipes (never a reported test number)
PROXIES = {"synonym dev (c)": "dev_acc@1", "definition -> concept (b)": "dev-def_acc@1",
           "lay-term dev slice (a)": "lay_dev_acc@1"}


def lay_dev_mask(sources: pd.DataFrame, share: float = LAY_DEV_SHARE, seed: int = 0) -> np.ndarray:
    """The lay terms used only to choose recipes: one of ``round(1 / share)`` concept-disjoint folds
    (:func:`lib.train.pairs.crossfit_folds`: terms linked by a gold concept or by one string stay together),
    so no concept of the slice is scored in the test part. Everything reported as a test number is scored
    on the rest (``~mask``)."""
    if not 0 < share < 1:
        raise ValueError(f"lay dev share must lie in (0, 1), got {share}")
    return crossfit_folds(sources, max(2, round(1 / share)), seed) == 0


def split_scores(P: Params, fmt: str = "fp32-torch", share: float = LAY_DEV_SHARE) -> tuple[dict, np.ndarray]:
    """Lay-term scores of ``P``'s model split into the recipe-choosing slice and the test part.

    Returns {"test": metrics with CIs on the terms outside the slice (+ ``nontrivial``), "lay_dev": the
    slice's metrics, "all": every term (as 04 reports it), "n_test", "n_lay_dev", "test_ranks": the test part's
    gold ranks, for paired tests} and every term's gold rank.
    """
    data = tiers.alignment_data(P)
    main, _, every = align.align_and_score(load_encoder(P, fmt), data, P)
    ranks = main["gold_rank"].to_numpy()
    dev = lay_dev_mask(data.sources, share, P.seed)
    test = retrieval_metrics(ranks[~dev], n_boot=P.bootstrap, seed=P.seed)
    if "trivial" in data.sources:
        nt = ~data.sources["trivial"].to_numpy(bool)
        test["nontrivial"] = retrieval_metrics(ranks[~dev & nt], n_boot=P.bootstrap, seed=P.seed)
    return {"test": test, "lay_dev": retrieval_metrics(ranks[dev], n_boot=P.bootstrap, seed=P.seed), "all": every,
            "n_test": int((~dev).sum()), "n_lay_dev": int(dev.sum()), "test_ranks": ranks[~dev]}, ranks


def corpus_variants(P: Params, steps: int) -> dict[str, Params]:
    """The corpus mixes compared at one equal step budget (multi-similarity; SapBERT's construction per
    corpus): HPO alone; + MONDO / + MeSH at shares of the pairs; both; definitions mixed or as a phase."""
    common = dict(max_steps=steps, soup=1.0, eval_steps=steps, save_steps=steps, objective="multisim",
                  max_minutes=max(P.training.max_minutes or 0, 240.0))

    def v(corpus: list[str], shares: dict[str, float] | None = None, definitions: str = "none") -> Params:
        return variant(P, corpus=corpus, corpus_shares=shares or {}, definitions=definitions, **common)

    return {
        "HPO": v(["hpo"]),
        "HPO + MONDO 15%": v(["hpo", "mondo"], {"mondo": 0.15}),
        "HPO + MONDO 30%": v(["hpo", "mondo"], {"mondo": 0.30}),
        "HPO + MONDO 50%": v(["hpo", "mondo"], {"mondo": 0.50}),
        "HPO + MeSH 15%": v(["hpo", "mesh"], {"mesh": 0.15}),
        "HPO + MeSH 30%": v(["hpo", "mesh"], {"mesh": 0.30}),
        "HPO + MONDO 15% + MeSH 15%": v(["hpo", "mondo", "mesh"], {"mondo": 0.15, "mesh": 0.15}),
        "HPO, + definitions mixed": v(["hpo"], None, "mixed"),
        "HPO + MONDO 15%, + definitions mixed": v(["hpo", "mondo"], {"mondo": 0.15}, "mixed"),
        "HPO, + definitions 2nd phase": v(["hpo"], None, "second-phase"),
    }


def variant_row(label: str, Pv: Params, fmt: str = "fp32-torch", share: float = LAY_DEV_SHARE) -> dict:
    """Train (or reuse) one variant and measure it: the three proxies, the test part's Acc@1 / MRR /
    Acc@10 with CIs and non-trivial Acc@1, minutes, and the training set's counts per corpus and merges."""
    from lib.train import trainer

    folder = trainer.train(Pv)
    record = json.loads((folder / trainer.RECORD).read_text())
    scores, _ = split_scores(Pv, fmt, share)
    counts = record.get("counts", {})
    return {"label": label, "recipe": record["recipe"], "steps": record["steps"], "minutes": record["minutes"],
            "stopped_by": record["stopped_by"],
            **{k: record["final_dev"].get(k) for k in ("dev_acc@1", "dev-def_acc@1")},
            "lay_dev_acc@1": scores["lay_dev"]["acc@1"], "n_lay_dev": scores["n_lay_dev"], "test": scores["test"],
            "n_test": scores["n_test"], "all_acc@1": scores["all"]["acc@1"],
            "test_ranks": [int(r) for r in scores["test_ranks"]],  # kept for the paired tests between variants
            "per_corpus": counts.get("per_corpus", {}), "merge": counts.get("merge", {}),
            "pairs": counts.get("pairs"), "pairs_dropped_by_stricter_key": counts.get("pairs_dropped_by_stricter_key")}


def proxy_correlations(rows: list[dict]) -> dict[str, dict]:
    """Spearman (scipy) of each proxy with the test part's lay Acc@1 over the variants, and the variant each
    proxy would choose."""
    from scipy.stats import spearmanr

    target = np.array([r["test"]["acc@1"] for r in rows], dtype=float)
    out = {}
    for name, key in PROXIES.items():
        x = np.array([np.nan if r.get(key) is None else r[key] for r in rows], dtype=float)
        ok = ~np.isnan(x)
        # undefined (NaN, with the reason) below 3 variants or when either side is constant, never a warning
        defined = ok.sum() >= 3 and np.ptp(x[ok]) > 0 and np.ptp(target[ok]) > 0
        rho, p = spearmanr(x[ok], target[ok]) if defined else (float("nan"), float("nan"))
        out[name] = {"key": key, "spearman": float(rho), "p": float(p), "n": int(ok.sum()),
                     "undefined": None if defined else ("fewer than 3 variants" if ok.sum() < 3 else
                                                        "a constant proxy or target"),
                     "chooses": rows[int(np.nanargmax(np.where(ok, x, -np.inf)))]["label"] if ok.any() else None}
    return out


def paired_tests(rows: list[dict]) -> dict[str, dict]:
    """Exact McNemar (:func:`lib.evaluate.retrieval.paired_mcnemar`) of each variant's test-part top-1 hits
    against the first variant's (the reference, HPO alone), on the same terms: whether the variants separate
    at this budget. Rows without stored ranks (older sweep files) are left out, and said so by their absence."""
    from lib.evaluate.retrieval import paired_mcnemar

    ref = rows[0] if rows and rows[0].get("test_ranks") is not None else None
    if ref is None:
        return {}
    a = np.asarray(ref["test_ranks"]) == 1
    return {r["label"]: {"against": ref["label"], **paired_mcnemar(np.asarray(r["test_ranks"]) == 1, a)}
            for r in rows[1:] if r.get("test_ranks") is not None and len(r["test_ranks"]) == len(a)}


def choose(rows: list[dict], correlations: dict[str, dict]) -> dict:
    """The proxy that predicts lay Acc@1 best (highest Spearman) and the variant it picks; the test part
    chooses nothing (its numbers are only reported)."""
    best = max(correlations, key=lambda k: -np.inf if np.isnan(correlations[k]["spearman"]) else
               correlations[k]["spearman"])
    return {"proxy": best, "variant": correlations[best]["chooses"]}


def summarise(rows: list[dict]) -> dict:
    """What a sweep concludes from its rows: the proxies' correlations, the choice they make and the paired
    tests against the first variant (recomputed whenever the rows change)."""
    correlations = proxy_correlations(rows)
    return {"correlations": correlations, "choice": choose(rows, correlations), "paired": paired_tests(rows)}


def run_sweep(P: Params, steps: int, labels: list[str] | None, out: Path, fmt: str = "fp32-torch",
              share: float = LAY_DEV_SHARE) -> dict:
    """Train and measure the corpus variants one after another (sequentially: the box is shared), writing
    ``out`` (JSON, atomically) after each, so a finished variant is never lost and a rerun skips it.

    Returns {"rows": [variant_row ...], "correlations": proxy_correlations, "choice": choose, "steps",
    "share", "format"}; the choice is made on the proxies only."""
    from lib import atomic

    variants = corpus_variants(P, steps)
    unknown = [x for x in labels or [] if x not in variants]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; known: {list(variants)}")
    done = json.loads(out.read_text()) if out.exists() else {"rows": []}
    have = {r["label"] for r in done["rows"] if r["steps"] == steps}
    for label in labels or list(variants):
        if label in have:
            continue
        done["rows"].append(variant_row(label, variants[label], fmt, share))
        done.update(summarise(done["rows"]))
        done.update(steps=steps, share=share, format=fmt)
        atomic.write_text(out, json.dumps(done, indent=1, default=str))
    wanted = set(labels or variants)
    done["rows"] = [r for r in done["rows"] if r["label"] in wanted and r["steps"] == steps]
    if done["rows"]:
        done.update(summarise(done["rows"]))
    return done


def main(argv: list[str] | None = None) -> None:
    """``python -m lib.train.study <params> --steps N [--only LABEL ...] [--threads T] --out FILE``."""
    import argparse
    import logging

    from lib import params as params_mod

    ap = argparse.ArgumentParser(prog="python -m lib.train.study", description=main.__doc__)
    ap.add_argument("name")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (1 leaves the other cores free)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    run_sweep(params_mod.load(args.name), args.steps, args.only, args.out)


if __name__ == "__main__":
    main()
