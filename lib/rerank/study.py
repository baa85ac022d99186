"""Notebook 12's study: every reranker scored on every lay term (the dev-chosen one at every C and in INT8,
the others at the deployed C), the INT8 gate, the order sensitivity of the packed layouts, the
interleaved speed ratios and the supervised cross-fit row.

Systems are named by layout, definitions and read-out (``shared-prefix+def [mean]``). base and
shared-prefix score one candidate against the term alone, so one pass at the largest C gives every
smaller C (its first columns); the paper's layout is scored once per C (its candidates attend to each
other). Each (system, format, C) gets two rows: the residual (``w x cosine + f``, w chosen on the dev
queries by the same engine) and f alone (w = 0), each with Acc@1 / MRR, their 95% intervals, the
retriever's Acc@C ceiling and McNemar against the retriever. A system whose training kept step 0 has a
head of zeros, so f = 0 and its order is the retriever's in every format: it is not run (``scored`` False).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from lib.evaluate.gate import fastest_passing
from lib.params import Params
from lib.perf.timing import Pass, interleaved_rounds, latency_summary
from lib.rerank import evaluate as rev
from lib.rerank.candidates import Candidates
from lib.rerank.data import lay_examples
from lib.rerank.pipeline import (Reranker, Training, calibration_feeds, dev_weight, gold_of, lay_candidates, settings,
                                 shown_names, trained)
from lib.rerank.train import Variant, run_dir, train, training_record

log = logging.getLogger("lib.rerank.study")

INT8 = ("onnx-int8-dynamic", "onnx-int8-smoothquant")


@dataclass
class Scored:
    """One system in one format: f at each C (terms x C), the dev-chosen weight at each C (with the dev
    Acc@1 of every weight tried and the dev McNemar of that weight against the retriever), and the
    seconds of its scoring passes over the lay terms."""

    system: str
    reranker: Reranker = field(repr=False)
    fmt: str
    f: dict[int, np.ndarray] = field(repr=False)
    weights: dict[int, tuple[float, dict, dict]] = field(repr=False)
    seconds: float
    terms: int
    run: bool = True   # False: a zero head, f = 0 by construction (not scored by any engine)

    def final(self, c: int, cands: Candidates) -> np.ndarray:
        return rev.residual(cands.head(c), self.f[c], self.weights[c][0])


class Engines:
    """One engine per (reranker folder, format), built on first use (static INT8 calibrated on rows of
    training queries)."""

    def __init__(self, P: Params, tr: Training):
        self.P, self.tr, self._made = P, tr, {}

    def __call__(self, rr: Reranker, fmt: str):
        key = (str(rr.path), fmt)
        if key not in self._made:
            feeds = calibration_feeds(rr, self.tr, self.P) if fmt == "onnx-int8-smoothquant" else None
            self._made[key] = rr.engine(fmt, self.P, feeds)
        return self._made[key]


def train_rerankers(P: Params, tr: Training, layouts: Sequence[str], definitions: Sequence[bool], longer: float = 0.0,
                    progress: bool = True) -> tuple[dict[str, Reranker], pd.DataFrame, dict[str, Reranker]]:
    """The rerankers of the study, by system name: the main one (base, ``rerank.definitions``) trained at
    every learning rate of ``rerank.learning_rates`` (dev chooses), the others (paper layout; the other
    definitions setting) at the chosen rate; shared-prefix scores base's model. With ``longer`` > 1 and the
    main run's dev curve still rising at its last step, a run ``longer`` times as long at the chosen rate
    is added. Returns (rerankers, one row per training run: variant, learning rate, steps, best dev step
    and Acc@1, minutes, chosen; the longer-budget rerankers, named ``... xN``)."""
    R = settings(P)
    order = [R.definitions] + [d for d in definitions if d != R.definitions]
    rows, out, lr, main = [], {}, None, None
    for defs in dict.fromkeys(order):
        for lay in dict.fromkeys("paper" if x == "paper" else "base" for x in layouts):
            rr, runs = trained(P, tr, Variant(lay, defs), None if lr is None else [lr], progress)
            main, lr = (rr, rr.record["learning_rate"]) if lr is None else (main, lr)
            rows += [{**{k: v for k, v in r.items() if k not in ("history", "dev_curve", "recipe")},
                      "chosen": r["learning_rate"] == rr.record["learning_rate"]} for r in runs]
            for scored in ([lay] if lay == "paper" else [x for x in layouts if x != "paper"]):
                out[rr.in_layout(scored).name] = rr.in_layout(scored)
    extra: dict[str, Reranker] = {}
    if longer > 1 and main is not None and still_rising(main.record):
        R2 = R.model_copy(update={"train_steps": int(longer * R.train_steps), "max_minutes":
                                  None if R.max_minutes is None else longer * R.max_minutes})
        rr, runs = trained(P, tr, main.variant, [lr], progress, R2)
        rows += [{**{k: v for k, v in r.items() if k not in ("history", "dev_curve", "recipe")}, "chosen": False}
                 for r in runs]
        for scored in ([main.layout] if main.layout == "paper" else [x for x in layouts if x != "paper"]):
            extra[f"{rr.in_layout(scored).name} x{longer:g}"] = rr.in_layout(scored)
    return out, pd.DataFrame(rows), extra


def still_rising(record: dict) -> bool:
    """A run whose dev curve peaked at its last evaluated step (above step 0) and that ran all its steps:
    a longer budget may help."""
    points = record["dev_curve"]
    return record["stopped_by"] == "steps" and record["best_step"] == points[-1]["step"] > 0 and \
        points[-1]["dev_acc@1"] > points[0]["dev_acc@1"]


def dev_curves(rerankers: dict[str, Reranker]) -> pd.DataFrame:
    """The dev curve (step, dev Acc@1, weight) of every trained reranker folder, once each."""
    seen, rows = set(), []
    for rr in rerankers.values():
        if str(rr.path) not in seen:
            seen.add(str(rr.path))
            rows += [{"variant": rr.record["variant"], "learning_rate": rr.record["learning_rate"], **p}
                     for p in rr.record["dev_curve"]]
    return pd.DataFrame(rows)


def dev_chosen(rerankers: dict[str, Reranker], definitions: bool) -> str:
    """The system to deploy, chosen on the dev queries (never a lay term): the packed system (shared-prefix
    or paper) whose trained model reached the best dev Acc@1 (base's model is deployed as shared-prefix:
    the same function with the term computed once). Ties go to shared-prefix (order-blind and faster),
    then to the params' definitions setting (``definitions``)."""
    pool = {n: rr for n, rr in rerankers.items() if rr.layout != "base"} or rerankers

    def key(item: tuple[str, Reranker]) -> tuple[float, bool, bool]:
        rr = item[1]
        return (float(rr.record.get("best_dev_acc@1", float("-inf"))), rr.layout == "shared-prefix",
                rr.variant.definitions == definitions)
    return max(pool.items(), key=key)[0]


def crossfit_system(rerankers: dict[str, Reranker], chosen: str) -> str:
    """The system the supervised cross-fit fine-tunes: the chosen one, or when that is the paper's layout,
    a base-function system (shared-prefix, else base) of its definitions setting (the cross-fit trains
    base's function); the chosen one when the study has neither."""
    rr = rerankers[chosen]
    twins = sorted((x.layout != "shared-prefix", n) for n, x in rerankers.items()
                   if x.layout != "paper" and x.variant.definitions == rr.variant.definitions)
    return chosen if rr.layout != "paper" or not twins else twins[0][1]


def format_plan(systems: dict[str, Reranker], int8: Sequence[str], chosen: str, sweep: Sequence[int], c: int,
                full_sweep: bool = False, int8_all: bool = False) -> dict[str, dict[str, list[int]]]:
    """System -> format -> the C values to score. The dev-chosen system (``chosen``) in ONNX FP32 at every C
    of ``sweep`` and in each INT8 format at C = ``c`` (the gate's C); every other system in ONNX FP32 at
    C = ``c`` only. ``full_sweep``: every system at every C; ``int8_all``: every packed system quantized too.
    (Scoring every system at every C in every format took 23 of `make rerank`'s 60 minutes on 2 cores.)"""
    plan = {}
    for name, rr in systems.items():
        fmts = {"onnx-fp32": list(sweep) if full_sweep or name == chosen else [c]}
        if name == chosen or (int8_all and rr.layout != "base"):
            fmts.update({f: [c] for f in int8})
        plan[name] = fmts
    return plan


def score_system(P: Params, tr: Training, rr: Reranker, engine, fmt: str, terms: Sequence[str], cands: Candidates,
                 sweep: Sequence[int], progress: bool = True) -> Scored:
    """f of one system in one format at every C of ``sweep`` (``cands`` holds max(sweep) slots) and its
    dev-chosen weight at each C."""
    if rr.f_is_zero:
        return zero_system(P, tr, rr, fmt, terms, cands, sweep)
    t0 = time.perf_counter()
    if rr.layout == "paper":
        f = {c: rr.f(engine, P, terms, cands.head(c), progress=progress) for c in sweep}
    else:
        full = rr.f(engine, P, terms, cands.head(max(sweep)), progress=progress)
        f = {c: full[:, :c] for c in sweep}
    seconds = time.perf_counter() - t0
    dev_full = None if rr.layout == "paper" else rr.f(engine, P, tr.dev.queries, tr.dev.candidates.head(max(sweep)))
    weights = {c: dev_weight(rr, engine, P, tr, c, None if dev_full is None else dev_full[:, :c]) for c in sweep}
    return Scored(rr.name, rr, fmt, f, weights, seconds, len(terms))


def zero_system(P: Params, tr: Training, rr: Reranker, fmt: str, terms: Sequence[str], cands: Candidates,
                sweep: Sequence[int]) -> Scored:
    """A system whose head is zero, not run: f = 0 on every lay term and dev query, so every positive w gives
    the retriever's order (its rows are the retriever's, by construction; 0 seconds: no terms/s)."""
    log.info("%s: head of zeros (training kept step 0), so f = 0 and its order is the retriever's: not scored",
             rr.name)
    full = rr.zero_f(cands.head(max(sweep)))
    dev_full = rr.zero_f(tr.dev.candidates.head(max(sweep)))
    weights = {c: dev_weight(rr, None, P, tr, c, dev_full[:, :c]) for c in sweep}
    return Scored(rr.name, rr, fmt, {c: full[:, :c] for c in sweep}, weights, 0.0, len(terms), run=False)


def row(system: str, c: int, ranks: np.ndarray, retr_ranks: np.ndarray, P: Params, **extra) -> dict:
    """One accuracy row: Acc@1 / MRR with 95% intervals, the retriever's Acc@C, McNemar vs the retriever."""
    m = rev.rank_metrics(ranks, c, P.bootstrap, P.seed)
    retr_c = np.where(retr_ranks <= c, retr_ranks, 0)
    test = rev.mcnemar(ranks, retr_c) if system != "retriever" else {}
    return {"system": system, **extra, "candidates": c, "acc@1": m["acc@1"], "acc@1_lo": m["ci"]["acc@1"][0],
            "acc@1_hi": m["ci"]["acc@1"][1], "mrr": m["mrr"], "mrr_lo": m["ci"]["mrr"][0], "mrr_hi": m["ci"]["mrr"][1],
            "ceiling_acc@C": float(np.mean((retr_ranks >= 1) & (retr_ranks <= c))), "n": int(len(ranks)),
            "mcnemar_p": test.get("p"), "wins": test.get("only_a"), "losses": test.get("only_b")}


def retriever_rows(P: Params, fmt: str, retr_ranks: np.ndarray, sweep: Sequence[int]) -> list[dict]:
    return [row("retriever", c, np.where(retr_ranks <= c, retr_ranks, 0), retr_ranks, P, format=fmt, score="cosine")
            for c in sweep]


def accuracy_rows(P: Params, sc: Scored, cands: Candidates, gold: Sequence, retr_ranks: np.ndarray) -> list[dict]:
    """The residual and f-alone rows of one scored system at each C."""
    out = []
    rr = sc.reranker
    meta = {"layout": rr.layout, "definitions": rr.variant.definitions, "readout": rr.R.readout, "format": sc.fmt,
            "terms_per_s": sc.terms / sc.seconds if sc.seconds else None, "scored": sc.run}
    for c, f in sc.f.items():
        head = cands.head(c)
        w, _, dev = sc.weights[c]
        out.append(row(sc.system, c, rev.rerank_ranks(head, rev.residual(head, f, w), gold), retr_ranks, P, **meta,
                       score="residual", weight=rev.weight_label(w), dev_gain=dev["diff"], dev_p=dev["p"]))
        out.append(row(sc.system, c, rev.rerank_ranks(head, f, gold), retr_ranks, P, **meta, score="f alone",
                       weight="0"))
    return out


def score_plan(P: Params, tr: Training, rerankers: dict[str, Reranker], plan: dict[str, dict[str, Sequence[int]]],
               terms: Sequence[str], cands: Candidates, gold: Sequence, retr_ranks: np.ndarray, retr_fmt: str,
               sweep: Sequence[int], engines: Engines | None = None) -> tuple[pd.DataFrame, dict[tuple, Scored]]:
    """Score every reranker (by system name) in each format of its plan (:func:`format_plan`: format -> the
    C values): the accuracy table (the retriever's rows at every C of ``sweep`` first) and the scored
    systems by (system, format)."""
    engines = engines or Engines(P, tr)
    scored, rows = {}, retriever_rows(P, retr_fmt, retr_ranks, sweep)
    for name, rr in rerankers.items():
        zero = rr.f_is_zero
        # a zero head is f = 0 in every format: one row set (its first format), no engine, no INT8 copies
        items = list(plan.get(name, {}).items())
        for fmt, cs in items[:1] if zero else items:
            sc = score_system(P, tr, rr, None if zero else engines(rr, fmt), fmt, terms, cands, cs)
            sc.system = name
            scored[(name, fmt)] = sc
            rows += accuracy_rows(P, sc, cands, gold, retr_ranks)
    return pd.DataFrame(rows), scored


def gate_table(P: Params, scored: dict[tuple, Scored], cands: Candidates, gold: Sequence, c: int) -> pd.DataFrame:
    """The INT8 gate of every quantized system against its ONNX FP32 scores at C = ``c`` (final residual
    scores, each with its own dev-chosen weight), and per system the fastest passing INT8 format
    (:func:`lib.evaluate.gate.fastest_passing`; speed = terms/s of its scoring pass)."""
    R = settings(P)
    rows = []
    for (name, fmt), sc in scored.items():
        ref = scored.get((name, "onnx-fp32"))
        if fmt not in INT8 or ref is None or c not in sc.f:
            continue
        _, rec = rev.quant_gate(cands.head(c), gold, ref.final(c, cands), sc.final(c, cands), P.gate_max_acc1_drop,
                                R.gate_min_top1_agreement, P.bootstrap, P.seed)
        rows.append({"system": name, "format": fmt, "candidates": c, "terms_per_s": sc.terms / sc.seconds,
                     **{k: v for k, v in rec.items() if k != "decisions"}, "decisions": rec["decisions"]})
    table = pd.DataFrame(rows)
    if len(table):
        table["chosen"] = False
        for name, g in table.groupby("system", sort=False):
            best = fastest_passing(g, "terms_per_s", higher_is_faster=True, label="format")
            table.loc[g.index[g.format == best], "chosen"] = True
    return table


def order_sensitivity(P: Params, systems: dict[str, tuple[Reranker, object]], terms: Sequence[str],
                      cands: Candidates, gold: Sequence, c: int, n: int, trials: int) -> pd.DataFrame:
    """Each system's Acc@1 on the first ``n`` lay terms at C = ``c`` with the candidates in the retriever's
    order and in ``trials`` random orders (f alone: the prior does not depend on the order), and the share
    of terms whose top-1 stays. The shared-prefix layout is invariant by construction; the paper's is not."""
    n = min(n, len(terms))
    head = cands.head(c).rows(np.arange(n))
    rows = []
    for name, (rr, engine) in systems.items():
        res = rev.order_sensitivity(lambda o: rr.f(engine, P, terms[:n], head, order=o), head, gold[:n], trials,
                                    P.seed)
        rows.append({"system": name, "candidates": c, "terms": n, **res})
    return pd.DataFrame(rows)


def scoring_engine(rr: Reranker, engine, P: Params, terms: Sequence[str], cands: Candidates):
    """A timing engine (:mod:`lib.perf.timing`): one pass builds the inputs and scores every term."""
    def run(limit: int | None) -> Pass:
        k = len(terms) if limit is None else min(len(terms), max(1, limit))
        before = len(engine.batch_times)
        t0 = time.perf_counter()
        rr.f(engine, P, terms[:k], cands.rows(np.arange(k)))
        return Pass(k, engine.batch_times[before:], time.perf_counter() - t0)
    return run


def retrieval_engine(encoder, terms: Sequence[str], target_vecs: np.ndarray, codes: np.ndarray, strings: np.ndarray,
                     c: int, then=None):
    """A timing engine of the alignment itself: embed the terms (no cache), exact top-k over the targets'
    vectors, concept-level top C; ``then(terms, candidates)`` (a reranking) runs inside the timed pass."""
    from lib.rerank.candidates import OVERSAMPLE, concept_level
    from lib.search.topk import topk

    def run(limit: int | None) -> Pass:
        k = len(terms) if limit is None else min(len(terms), max(1, limit))
        t0 = time.perf_counter()
        vec = encoder.encode(list(terms[:k]), progress=False)
        scores, idx = topk(vec, target_vecs, k=min(len(target_vecs), OVERSAMPLE * c))
        found = concept_level(scores, idx, codes, strings, c)
        if then is not None:
            then(list(terms[:k]), found)
        seconds = time.perf_counter() - t0
        return Pass(k, [seconds], seconds)
    return run


def speed_study(P: Params, layouts: dict[str, Reranker], engines: Engines, terms: Sequence[str], cands: Candidates,
                sweep: Sequence[int], formats: Sequence[str], rounds: int, n: int) -> pd.DataFrame:
    """Interleaved terms/s of every layout in every format at every C (one run: all engines rotate each
    round) and the ratios shared-prefix / base, paper / base and paper / shared-prefix."""
    n = min(n, len(terms))
    sub = np.arange(n)
    timers = {f"{lay}|{fmt}|{c}": scoring_engine(rr, engines(rr, fmt), P, list(terms[:n]), cands.head(c).rows(sub))
              for fmt in formats for c in sweep for lay, rr in layouts.items()}
    per_s = latency_summary(interleaved_rounds(timers, rounds=rounds, warmup_strings=16,
                                               desc="inference rounds"))["sentences_per_s"]
    rows = []
    for fmt in formats:
        for c in sweep:
            r = {"kind": "inference terms/s", "format": fmt, "candidates": c, "terms": n, "rounds": rounds,
                 **{lay: float(per_s[f"{lay}|{fmt}|{c}"]) for lay in layouts}}
            for a, b in (("shared-prefix", "base"), ("paper", "base"), ("paper", "shared-prefix")):
                if a in r and b in r:
                    r[f"{a} / {b}"] = r[a] / r[b]
            rows.append(r)
    return pd.DataFrame(rows)


def end_to_end(P: Params, encoder, data, rr: Reranker, engine, terms: Sequence[str], c: int, rounds: int,
               n: int) -> dict:
    """Interleaved terms/s of the alignment alone (embed, search, concept top C) and with the reranker."""
    from lib.engines.cache import embed

    n = min(n, len(terms))
    strings = data.targets["STR"].astype(str).to_numpy(dtype=object)
    codes = data.targets[data.target_code_column].astype(str).to_numpy(dtype=object)
    vecs = embed(encoder, strings.tolist())
    show = shown_names(data)
    timers = {"retrieve": retrieval_engine(encoder, list(terms[:n]), vecs, codes, strings, c),
              "retrieve+rerank": retrieval_engine(encoder, list(terms[:n]), vecs, codes, strings, c,
                                                  then=lambda t, cc: rr.f(engine, P, t, show(cc)))}
    per_s = latency_summary(interleaved_rounds(timers, rounds=rounds, warmup_strings=16,
                                               desc="end-to-end rounds"))["sentences_per_s"]
    return {"kind": "alignment terms/s", "system": rr.name, "candidates": c, "terms": n, "rounds": rounds,
            "retrieve": float(per_s["retrieve"]), "retrieve+rerank": float(per_s["retrieve+rerank"]),
            "retrieve+rerank / retrieve": float(per_s["retrieve+rerank"] / per_s["retrieve"])}


def definitions_pipeline(P: Params, encoder, rr: Reranker, engine, weight: float, retr_ranks: np.ndarray, c: int,
                         rounds: int, n: int) -> dict:
    """Target (5)'s whole pipeline: the retriever with each HPO definition as one more target of its concept
    (``index_definitions``; lay language often reads like a definition), then ``rr`` (the deployed system,
    in its gate-chosen format) at C = ``c`` with the weight dev chose for it on the names-only lists.
    Returns its row (Acc@1 / MRR with 95% CIs and McNemar against the definitions retriever), that
    retriever's row, McNemar against the names-only retriever (``retr_ranks``) and the end-to-end terms/s."""
    from lib.data import tiers

    PD = P.model_copy(update={"index_definitions": True})
    data = tiers.alignment_data(PD)
    terms, gold = data.sources["source_text"].astype(str).tolist(), gold_of(data)
    cands = lay_candidates(PD, data, encoder, c)
    defs_ranks = cands.gold_ranks(gold)
    f = rr.zero_f(cands) if rr.f_is_zero else rr.f(engine, P, terms, cands, progress=True)
    ranks = rev.rerank_ranks(cands, rev.residual(cands, f, weight), gold)
    name = f"retriever + definitions as targets + {rr.name}"
    rows = [{**row("retriever", c, defs_ranks, defs_ranks, P, score="cosine"),
             "system": "retriever + definitions as targets"},
            row(name, c, ranks, defs_ranks, P, score="residual", weight=rev.weight_label(weight))]
    vs_names = rev.mcnemar(ranks, np.where(retr_ranks <= c, retr_ranks, 0))
    speed = end_to_end(P, encoder, data, rr, engine, terms, c, rounds, n)
    return {"rows": rows, "vs_names_retriever": vs_names, "end_to_end": speed, "definition_targets":
            int(data.info.get("definition_targets", 0)), "definitions_shown_as_names":
            int(cands.info.get("definitions_shown_as_names", 0))}


def crossfit(P: Params, tr: Training, rr: Reranker, terms: Sequence[str], cands: Candidates, gold: Sequence,
             folds: np.ndarray, fmt: str = "onnx-fp32", progress: bool = True) -> tuple[np.ndarray, list[dict]]:
    """The supervised row: for each concept-disjoint fold (:func:`lib.train.pairs.crossfit_folds`), ``rr``
    fine-tuned for ``rerank.crossfit_steps`` on the other folds' lay terms (the retriever's lists), then
    scoring its own fold's terms; final scores (w chosen on the dev queries per fold) pooled out of fold.
    Returns (final scores of every term at C = cands.width, one record per fold)."""
    R = settings(P).model_copy(update={"train_steps": settings(P).crossfit_steps,
                                       "eval_steps": settings(P).crossfit_steps})
    lr = float(rr.record.get("learning_rate", R.learning_rates[0]))
    out = np.full(cands.concepts.shape, np.nan)
    records = []
    for f in sorted(set(int(x) for x in folds)):
        c_train = min(max(R.train_candidates), cands.width)
        ex = lay_examples(terms, gold, cands.head(c_train), np.flatnonzero(folds != f))
        variant = Variant("base", rr.variant.definitions)
        work = run_dir(rr.path, ex, tr.dev, R, variant, lr, P.seed, (rr.trained_weight, 0.0), tr.definitions)
        path = train(rr.path, ex, tr.dev, R, variant, lr, work, (rr.trained_weight, 0.0), tr.definitions, P.seed,
                     P.threads, progress)
        fold_rr = Reranker(path, variant, rr.layout, rr.R, rr.texts, training_record(path))
        engine = fold_rr.engine(fmt, P)
        mine = np.flatnonzero(folds == f)
        w, _, _ = dev_weight(fold_rr, engine, P, tr, cands.width)
        sub = cands.rows(mine)
        out[mine] = rev.residual(sub, fold_rr.f(engine, P, [terms[i] for i in mine], sub), w)
        records.append({"fold": f, "train_terms": len(ex.queries), "scored_terms": len(mine), "weight": w,
                        **{k: fold_rr.record[k] for k in ("steps", "best_step", "minutes", "best_dev_acc@1")}})
    return out, records


def packed_systems(rerankers: dict[str, Reranker], engines: Engines, definitions: bool,
                   fmt: str = "onnx-fp32") -> dict[str, tuple[Reranker, object]]:
    """The packed systems (shared-prefix, paper) of one definitions setting, each with its engine."""
    return {n: (rr, engines(rr, fmt)) for n, rr in rerankers.items()
            if rr.layout != "base" and rr.variant.definitions == definitions}


def layouts_of(rerankers: dict[str, Reranker], definitions: bool) -> dict[str, Reranker]:
    """Layout -> reranker for one definitions setting (the speed study's engines)."""
    return {rr.layout: rr for rr in rerankers.values() if rr.variant.definitions == definitions}


def deployed_format(system: str, gate: pd.DataFrame) -> str:
    """The format of the pipeline a user would run, the dev-chosen ``system`` (:func:`dev_chosen`): the INT8
    format the gate chose for it (the fastest passing one), else ONNX FP32."""
    chosen = gate[(gate.system == system) & gate.chosen] if len(gate) else gate
    return str(chosen.format.iloc[0]) if len(chosen) else "onnx-fp32"


def mcnemar_summary(scored: dict[tuple, Scored], system: str, fmt: str, cands: Candidates, gold: Sequence,
                    retr_ranks: np.ndarray, c: int, retriever: str) -> dict:
    """McNemar of one pipeline (residual scores at C = ``c``) against the retriever on the same terms."""
    sc = scored[(system, fmt)]
    ranks = rev.rerank_ranks(cands.head(c), sc.final(c, cands), gold)
    return {"pipeline": f"{system} [{fmt}] at C = {c}, + {rev.weight_label(sc.weights[c][0])} x retriever cosine",
            "vs": retriever, "acc@1": float(np.mean(ranks == 1)),
            "retriever_acc@1": float(np.mean(retr_ranks == 1)),
            **rev.mcnemar(ranks, np.where(retr_ranks <= c, retr_ranks, 0))}


def crossfit_summary(P: Params, tr: Training, rr: Reranker, terms: Sequence[str], cands: Candidates, gold: Sequence,
                     folds: np.ndarray, retr_ranks: np.ndarray) -> dict:
    """The supervised row (labelled so): out-of-fold Acc@1 / MRR of :func:`crossfit` at C = cands.width,
    McNemar against the retriever, and the folds' records."""
    scores, records = crossfit(P, tr, rr, terms, cands, gold, folds)
    ranks = rev.rerank_ranks(cands, scores, gold)
    r = row(f"{rr.name} + lay cross-fit (supervised)", cands.width, ranks, retr_ranks, P, layout=rr.layout,
            definitions=rr.variant.definitions, readout=rr.R.readout, format="onnx-fp32", score="residual",
            weight="per fold")
    return {"row": r, "folds": records, "n_folds": int(len(set(folds.tolist()))), "supervised": True}
