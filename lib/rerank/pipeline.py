"""The reranking pipeline for notebooks 04 and 12: retriever, training data, trained rerankers, scorers,
and the reranked alignment of the lay terms.

Everything heavy is cached by content: retriever vectors (``lib.engines.cache``), trained rerankers
(:func:`lib.rerank.train.run_dir`), ONNX artifacts (:mod:`lib.rerank.onnx`); a second run of a notebook
therefore only scores.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from lib import params as params_mod
from lib.data.hpo import load_hpo
from lib.data.lexicon import read_lexicon
from lib import paths
from lib.engines.hub import resolve_model_dir
from lib.formats import load_encoder
from lib.params import Params, Rerank
from lib.rerank import evaluate as rev
from lib.rerank.candidates import Candidates, retrieve
from lib.rerank.data import Examples, TrainingData, training_data, training_examples
from lib.rerank.inputs import Inputs, Special, build, special_tokens, text_tokenizer, token_ids
from lib.rerank.model import Scorer, TorchScorer, score_inputs, torch_scorer
from lib.rerank.onnx import ort_scorer, reranker_onnx
from lib.rerank.train import run_dir, train, training_record, variant_name
from lib.train.pairs import normalise

log = logging.getLogger("lib.rerank.pipeline")

SCORERS = ("torch", "onnx-fp32", "onnx-int8-dynamic", "onnx-int8-smoothquant")


def settings(P: Params) -> Rerank:
    """The params' rerank block, or the defaults when it has none."""
    return P.rerank if P.rerank is not None else Rerank()


def retriever(P: Params):
    """The bi-encoder that proposes candidates: ``rerank.retriever`` (a params name; None = ``P``) in
    ``rerank.retriever_format`` (None = the first of its ``formats``)."""
    R = settings(P)
    PR = params_mod.load(R.retriever) if R.retriever else P
    return load_encoder(PR, R.retriever_format or PR.formats[0])


@dataclass
class Training:
    """What every reranker of one run trains on: the data, the examples, the dev candidates."""

    data: TrainingData
    examples: Examples
    dev: Candidates
    retriever_fingerprint: str
    seconds: float = 0.0


def training_setup(P: Params, encoder) -> Training:
    """Training data (no evaluated lay string), the retriever's candidates for it (C = the largest
    training C) and for the dev queries."""
    R = settings(P)
    t0 = time.perf_counter()
    extra = read_lexicon(paths.project_path(P.lay_lexicon))["Terme"].tolist() if P.lay_lexicon else []
    td = training_data(load_hpo(), R.dev_concepts, P.seed, R.french, R.train_max_queries, R.train_max_targets, extra)
    ex, dev = training_examples(encoder, td, max(R.train_candidates))
    return Training(td, ex, dev, encoder.fingerprint, time.perf_counter() - t0)


@dataclass
class Reranker:
    """A trained reranker: its folder, layout, tokenizer and training record."""

    path: Path
    packed: bool
    objective: str
    R: Rerank
    tokenizer: object = field(repr=False)
    special: Special = field(repr=False)
    record: dict = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return variant_name(self.packed, self.objective)

    def inputs(self, terms: Sequence[str], cands: Candidates, order: Sequence[Sequence[int]] | None = None,
               packed: bool | None = None) -> Inputs:
        """This reranker's layout (or the other one, ``packed``) for terms and their candidates, strings
        normalised as in training."""
        t_ids = token_ids(self.tokenizer, [normalise(t) for t in terms], self.R.max_term_tokens)
        flat = [normalise(str(s)) for s in cands.strings[cands.valid]]
        uniq = sorted(set(flat))
        ids = dict(zip(uniq, token_ids(self.tokenizer, uniq, self.R.max_candidate_tokens)))
        rows = [[ids[normalise(str(s))] if v else None for s, v in zip(srow, vrow)]
                for srow, vrow in zip(cands.strings, cands.valid)]
        use_packed = self.packed if packed is None else packed
        return build(t_ids, rows, self.special, self.R.max_seq_length, None if use_packed else 1, order)

    def scorer(self, fmt: str, P: Params, calibration: Inputs | None = None) -> Scorer:
        """An engine for this reranker: ``torch`` (FP32, CPU) or an ONNX format (built on first use)."""
        if fmt == "torch":
            return torch_scorer(self.path, self.special.token_types)
        return ort_scorer(reranker_onnx(self.path, fmt, P, calibration, self.special.pad), P, f"{self.name}:{fmt}")

    def score(self, scorer: Scorer, P: Params, terms: Sequence[str], cands: Candidates,
              order: Sequence[Sequence[int]] | None = None, progress: bool = False) -> np.ndarray:
        """Margins (terms x slots; NaN for empty slots)."""
        # each engine's own batching (PyTorch: large calls; ONNX Runtime: small ones, lib.params)
        budget, rows = (P.token_budget, P.token_budget) if isinstance(scorer, TorchScorer) else \
            (P.ort_token_budget, P.ort_max_rows)
        return score_inputs(scorer, self.inputs(terms, cands, order), self.special.pad, budget, rows, progress,
                            f"rerank {self.name}")


def trained(P: Params, tr: Training, packed: bool | None = None, objective: str | None = None,
            progress: bool = True) -> Reranker:
    """The reranker of this layout and objective (default: the params'), trained on first use."""
    R = settings(P)
    R = R.model_copy(update={"packed": R.packed if packed is None else packed,
                             "objective": objective or R.objective})
    model_dir = resolve_model_dir(P)
    work = run_dir(model_dir, tr.examples, R, P.seed, tr.retriever_fingerprint)
    path = train(model_dir, tr.examples, R, work, P.seed, P.threads, progress)
    tok = text_tokenizer(path)
    return Reranker(path, R.packed, R.objective, R, tok, special_tokens(path, tok), training_record(path))


def calibration_inputs(rr: Reranker, tr: Training, c: int) -> Inputs:
    """SmoothQuant calibration rows: training queries (never lay or dev) with their first ``c`` candidates."""
    ex = tr.examples
    return rr.inputs(ex.queries, ex.candidates.head(min(c, ex.candidates.width)))


def dev_fusion(P: Params, rr: Reranker, scorer: Scorer, tr: Training,
               sweep: Sequence[int]) -> dict[int, tuple[float, dict[str, float]]]:
    """The fusion weight at each C of ``sweep``, chosen on the dev queries (held out of training, never lay
    terms) scored by this scorer: {C: (weight, dev Acc@1 per weight)}."""
    queries = tr.data.dev["query"].astype(str).tolist()
    gold = [tuple(g) for g in tr.data.dev["golds"]]
    usable = [c for c in sweep if c <= tr.dev.width]
    if len(usable) < len(sweep):
        raise ValueError(f"dev candidates hold {tr.dev.width} slots (max of rerank.train_candidates); cannot "
                         f"choose a fusion weight at C = {sorted(set(sweep) - set(usable))}")
    margins = sweep_margins(P, rr, scorer, queries, tr.dev, sweep)
    return {c: rev.choose_fusion(tr.dev.head(c), m, gold) for c, m in margins.items()}


def lay_candidates(P: Params, data, encoder, c: int) -> Candidates:
    """The retriever's ``c`` best concepts for every source of an alignment data set."""
    return retrieve(encoder, data.sources["source_text"].astype(str).tolist(), data.targets["STR"].astype(str).tolist(),
                    data.targets[data.target_code_column].astype(str).tolist(), c)


def gold_of(data) -> list:
    return data.sources[data.gold_column].tolist()


def rerank_alignment(P: Params, data, progress: bool = True) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """04-align's reranked alignment: the retriever's concept-level ranking of the lay terms beside the
    reranked one (``rerank.packed`` / ``objective`` / ``scorer`` at ``rerank.candidates``).

    Returns (metrics table: one row per system, Acc@1 / MRR / Acc@C with 95% intervals; the metrics
    block for the result file; the main table: source, retriever top-1, reranked top-1, gold ranks).
    """
    if not data.gold_column:
        raise ValueError("reranked alignment needs gold concepts (the data has no gold column)")
    R = settings(P)
    enc = retriever(P)
    tr = training_setup(P, enc)
    rr = trained(P, tr, progress=progress)
    cands = lay_candidates(P, data, enc, R.candidates)
    cal = calibration_inputs(rr, tr, R.candidates) if R.scorer == "onnx-int8-smoothquant" else None
    scorer = rr.scorer(R.scorer, P, cal)
    terms = data.sources["source_text"].astype(str).tolist()
    t0 = time.perf_counter()
    margins = rr.score(scorer, P, terms, cands, progress=progress)
    seconds = time.perf_counter() - t0
    gold = gold_of(data)
    base_ranks = cands.gold_ranks(gold)
    label = f"{rr.name} [{R.scorer}]"
    new_ranks = rev.rerank_ranks(cands, margins, gold)
    by_system = {"retriever": rev.rank_metrics(base_ranks, R.candidates, P.bootstrap, P.seed),
                 label: rev.rank_metrics(new_ranks, R.candidates, P.bootstrap, P.seed)}
    fusion = None
    if R.fusion:
        weight, dev_acc = dev_fusion(P, rr, scorer, tr, [R.candidates])[R.candidates]
        fusion = {"weight": rev.weight_label(weight), "dev_acc@1": dev_acc, "dev_queries": len(tr.data.dev)}
        margins = rev.fused(cands, margins, weight)
        label = f"{label} + {rev.weight_label(weight)} x retriever"
        new_ranks = rev.rerank_ranks(cands, margins, gold)
        by_system[label] = rev.rank_metrics(new_ranks, R.candidates, P.bootstrap, P.seed)
    keys = ["acc@1", "mrr"] + ([f"acc@{R.candidates}"] if R.candidates > 1 else [])
    table = pd.DataFrame({s: {**{k: m[k] for k in keys},
                              **{f"{k}_{e}": m["ci"][k][i] for k in keys for i, e in enumerate(("lo", "hi"))}}
                          for s, m in by_system.items()}).T
    table.index.name = "system"
    top = rev.reranked(cands, margins)
    main = pd.DataFrame({"source_id": data.sources["source_id"].to_numpy(), "source_text": terms,
                         "retriever_concept": cands.concepts[:, 0], "retriever_str": cands.strings[:, 0],
                         "reranked_concept": top.concepts[:, 0], "reranked_str": top.strings[:, 0],
                         "retriever_gold_rank": base_ranks, "reranked_gold_rank": new_ranks})
    metrics = {"retriever": enc.name + f" [{enc.fmt}]", "reranker": rr.name, "scorer": R.scorer,
               "candidates": R.candidates, "systems": by_system,
               "terms_per_s": len(terms) / seconds if seconds else None, "fusion": fusion, "final": label,
               "mcnemar_vs_retriever": rev.mcnemar(new_ranks, base_ranks),
               "training": {k: v for k, v in rr.record.items() if k != "history"},
               "training_data": tr.data.counts}
    return table, metrics, main


# ---------------------------------------------------------------------------------------------
# Notebook 12: the sweep over C, the speed ratios


def sweep_margins(P: Params, rr: Reranker, scorer: Scorer, terms: Sequence[str], cands: Candidates,
                  sweep: Sequence[int], progress: bool = False) -> dict[int, np.ndarray]:
    """Margins at every C of ``sweep`` (``cands`` holds at least max(sweep) slots). The base layout scores
    each pair alone, so its scores at C are the first C columns of one pass at max(sweep); the packed
    layout is scored once per C (its candidates attend to each other)."""
    if not rr.packed:
        m = rr.score(scorer, P, terms, cands.head(max(sweep)), progress=progress)
        return {c: m[:, :c] for c in sweep}
    return {c: rr.score(scorer, P, terms, cands.head(c), progress=progress) for c in sweep}


def accuracy_row(system: str, objective: str | None, fmt: str | None, c: int, ranks: np.ndarray,
                 ceiling_ranks: np.ndarray, P: Params, fusion: str | None = None) -> dict:
    """One row of 12's accuracy table: Acc@1 and MRR with intervals, and the retriever's Acc@C beside it
    (``fusion``: the retriever-cosine weight of a fused row, chosen on the dev queries)."""
    m = rev.rank_metrics(ranks, c, P.bootstrap, P.seed)
    return {"system": system, "objective": objective, "format": fmt, "fusion": fusion, "candidates": c,
            "acc@1": m["acc@1"],
            "acc@1_lo": m["ci"]["acc@1"][0], "acc@1_hi": m["ci"]["acc@1"][1], "mrr": m["mrr"],
            "mrr_lo": m["ci"]["mrr"][0], "mrr_hi": m["ci"]["mrr"][1],
            "ceiling_acc@C": float(np.mean((ceiling_ranks >= 1) & (ceiling_ranks <= c))), "n": int(len(ranks))}


def scored_rows(P: Params, rr: Reranker, scorer: Scorer, fmt: str, terms: Sequence[str], cands: Candidates,
                gold: Sequence, retr_ranks: np.ndarray, tr: Training,
                sweep: Sequence[int]) -> tuple[list[dict], dict[int, np.ndarray], dict[str, dict]]:
    """12's accuracy rows of one reranker in one format at every C of ``sweep``: the reranker alone and
    (``rerank.fusion``) fused with the retriever at the weight the dev queries chose for that C.

    Returns (rows, margins by C, {"<name> [<fmt>] C=<c>": {weight, dev Acc@1 per weight}})."""
    dev = dev_fusion(P, rr, scorer, tr, sweep) if settings(P).fusion else {}
    rows, fusion = [], {}
    margins = sweep_margins(P, rr, scorer, terms, cands, sweep, True)
    for c, m in margins.items():
        head = cands.head(c)
        rows.append(accuracy_row(rr.name, rr.objective, fmt, c, rev.rerank_ranks(head, m, gold), retr_ranks, P))
        if c in dev:
            weight = rev.weight_label(dev[c][0])
            fusion[f"{rr.name} [{fmt}] C={c}"] = {"weight": weight, "dev_acc@1": dev[c][1]}
            rows.append(accuracy_row(f"{rr.name}+retriever", rr.objective, fmt, c,
                                     rev.rerank_ranks(head, rev.fused(head, m, dev[c][0]), gold), retr_ranks, P,
                                     fusion=weight))
    return rows, margins, fusion


def scoring_engine(rr: Reranker, scorer: Scorer, P: Params, terms: Sequence[str], cands: Candidates):
    """A timing engine (:mod:`lib.perf.timing`): one pass builds the inputs and scores every term
    (``strings`` = terms; one call per engine call of the scorer)."""
    from lib.perf.timing import Pass

    def engine(limit: int | None) -> Pass:
        n = len(terms) if limit is None else min(len(terms), max(1, limit))
        before = len(scorer.batch_times)
        t0 = time.perf_counter()
        rr.score(scorer, P, terms[:n], cands.rows(np.arange(n)))
        return Pass(n, scorer.batch_times[before:], time.perf_counter() - t0)
    return engine


def retrieval_engine(encoder, terms: Sequence[str], target_vecs: np.ndarray, codes: np.ndarray,
                     strings: np.ndarray, c: int, then=None):
    """A timing engine of the alignment itself: embed the terms (no cache), exact top-k over the targets'
    vectors, concept-level top C; ``then(candidates)`` (a reranking) runs inside the timed pass."""
    from lib.perf.timing import Pass
    from lib.rerank.candidates import OVERSAMPLE, concept_level
    from lib.search.topk import topk

    def engine(limit: int | None) -> Pass:
        n = len(terms) if limit is None else min(len(terms), max(1, limit))
        t0 = time.perf_counter()
        vec = encoder.encode(list(terms[:n]), progress=False)
        scores, idx = topk(vec, target_vecs, k=min(len(target_vecs), OVERSAMPLE * c))
        cands = concept_level(scores, idx, codes, strings, c)
        if then is not None:
            then(list(terms[:n]), cands)
        seconds = time.perf_counter() - t0
        return Pass(n, [seconds], seconds)
    return engine
