"""The reranking pipeline for notebooks 04 and 12: retriever and miner, training lists, trained rerankers,
their engines, and the reranked alignment of the lay terms.

Everything heavy is cached by content: retriever and miner vectors (``lib.engines.cache``), trained
rerankers (:func:`lib.rerank.train.run_dir`), ONNX artifacts (:func:`lib.formats.reranker_artifact`); a
second run of a notebook therefore only scores.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from lib import params as params_mod
from lib import paths
from lib.compress.calibration import row_feeds
from lib.compress.graph import onnx_input_names
from lib.data.hpo import load_hpo
from lib.data.lexicon import read_lexicon
from lib.engines.hub import resolve_model_dir
from lib.formats import load_encoder, load_reranker, reranker_artifact
from lib.params import Params, Rerank
from lib.rerank import evaluate as rev
from lib.rerank.candidates import Candidates, retrieve
from lib.rerank.data import (Examples, TrainingData, definitions_of, dev_candidates, training_data,
                             training_examples)
from lib.rerank.inputs import Inputs
from lib.rerank.model import Engine, TorchCross, score_inputs, torch_engine
from lib.rerank.train import DevLists, Texts, Variant, fit_prior, shown_definitions, train_chosen, training_record

log = logging.getLogger("lib.rerank.pipeline")

ENGINES = ("torch", "onnx-fp32", "onnx-int8-dynamic", "onnx-int8-smoothquant")


def settings(P: Params) -> Rerank:
    """The params' rerank block, or the defaults when it has none."""
    return P.rerank if P.rerank is not None else Rerank()


def retriever_params(P: Params) -> Params:
    R = settings(P)
    return params_mod.load(R.retriever) if R.retriever else P


def retriever(P: Params):
    """The bi-encoder that proposes candidates: ``rerank.retriever`` (a params name; None = ``P``) in
    ``rerank.retriever_format`` (None = the first of its ``formats``)."""
    PR = retriever_params(P)
    return load_encoder(PR, settings(P).retriever_format or PR.formats[0])


def miner_params(P: Params) -> Params:
    """The params of the training lists' miner: ``rerank.miner``; else the retriever's start model when
    the retriever is a trained model (it trained on the very synonyms the reranker trains on); else the
    retriever itself."""
    R = settings(P)
    if R.miner:
        return params_mod.load(R.miner)
    PR = retriever_params(P)
    if PR.model == "trained" and PR.training is not None:
        return params_mod.load(PR.training.base)
    return PR


def miner(P: Params, retriever_encoder=None):
    PM, PR = miner_params(P), retriever_params(P)
    if retriever_encoder is not None and PM.name == PR.name:
        return retriever_encoder
    return load_encoder(PM, settings(P).retriever_format if PM.name == PR.name else PM.formats[0])


@dataclass
class Training:
    """What every reranker of one run trains on: the data, the miner's lists, the dev lists (the miner's,
    which fit the prior's start; the retriever's, which choose steps, learning rates and weights)."""

    data: TrainingData
    examples: Examples
    dev: DevLists
    dev_miner: Candidates
    prior: tuple[float, float]
    definitions: dict[str, str]
    miner: str
    seconds: float = 0.0


def training_setup(P: Params, encoder=None, dev_width: int = 0) -> Training:
    """Training data (no evaluated lay string, no dev query), the miner's lists for it (C = the training
    C), both encoders' lists for the dev queries (C = the largest of training C, ``rerank.candidates`` and
    ``dev_width``: the largest C a weight will be chosen at) and the prior's start fitted on the miner's
    dev lists (C = the largest training C)."""
    R = settings(P)
    t0 = time.perf_counter()
    enc = encoder if encoder is not None else retriever(P)
    mine = miner(P, enc)
    extra = read_lexicon(paths.project_path(P.lay_lexicon))["Terme"].tolist() if P.lay_lexicon else []
    hpo = load_hpo()
    td = training_data(hpo, R.dev_concepts, P.seed, R.french, R.train_max_queries, R.train_max_targets, extra)
    c_train = max(R.train_candidates)
    ex = training_examples(mine, td, c_train)
    c_dev = max(c_train, R.candidates, dev_width)
    gold = [tuple(g) for g in td.dev["golds"]]
    dev_lists = dev_candidates(enc, td, c_dev)
    dev_mined = dev_lists if mine is enc else dev_candidates(mine, td, c_dev)
    prior = fit_prior(dev_mined.head(c_train), gold, R.objective)
    log.info("prior start on the miner's dev lists: w = %.2f, b = %.2f", *prior)
    dev = DevLists(td.dev["query"].astype(str).tolist(), gold, dev_lists)
    return Training(td, ex, dev, dev_mined, prior, definitions_of(hpo), f"{mine.name} [{mine.fmt}]",
                    time.perf_counter() - t0)


@dataclass
class Reranker:
    """A trained reranker scored in a layout: its folder, the variant it was trained as, its record."""

    path: Path
    variant: Variant
    layout: str
    R: Rerank
    texts: Texts = field(repr=False)
    record: dict = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return Variant(self.layout, self.variant.definitions).name(self.R.readout)

    def in_layout(self, layout: str) -> "Reranker":
        """The same weights scored in another layout (shared-prefix is base's model, term computed once)."""
        return replace(self, layout=layout)

    def inputs(self, terms: Sequence[str], cands: Candidates, order: Sequence[Sequence[int]] | None = None) -> Inputs:
        return self.texts.inputs(terms, cands, self.layout, order)

    def engine(self, fmt: str, P: Params, feeds: list[dict] | None = None) -> Engine:
        """``torch`` (FP32) or an ONNX format on the one ORT engine (built on first use)."""
        if fmt == "torch":
            return torch_engine(self.path)
        return load_reranker(self.path, fmt, P, feeds)

    def f(self, engine: Engine, P: Params, terms: Sequence[str], cands: Candidates,
          order: Sequence[Sequence[int]] | None = None, progress: bool = False) -> np.ndarray:
        """f (terms x slots; NaN for empty slots), each engine with its own batching (PyTorch: large calls;
        ONNX Runtime: small ones, lib.params)."""
        budget, rows = (P.token_budget, P.token_budget) if isinstance(engine, TorchCross) else \
            (P.ort_token_budget, P.ort_max_rows)
        return score_inputs(engine, self.inputs(terms, cands, order), self.texts.special.pad, budget, rows, progress,
                            f"rerank {self.name}")

    @cached_property
    def f_is_zero(self) -> bool:
        """Its head is all zeros (training kept step 0): f = 0 in every format, the retriever's order. Read
        from the folder once per reranker (the study asks for every system and format)."""
        from lib.engines.cross import head_is_zero
        return self.path is not None and head_is_zero(self.path)

    def zero_f(self, cands: Candidates) -> np.ndarray:
        """f of a zero head without running it: 0 for every candidate, NaN for empty slots (as scored)."""
        return np.where(cands.valid, 0.0, np.nan)

    @property
    def trained_weight(self) -> float:
        return float(self.record.get("prior_trained", {}).get("weight", np.nan))


def trained(P: Params, tr: Training, variant: Variant, learning_rates: Sequence[float] | None = None,
            progress: bool = True, R: Rerank | None = None) -> tuple[Reranker, list[dict]]:
    """The reranker of this variant, trained on first use (one run per learning rate; dev chooses; ``R``:
    other rerank settings than the params'). Returns (it, every run's record)."""
    R = R or settings(P)
    start = resolve_model_dir(P)
    path, runs = train_chosen(start, tr.examples, tr.dev, R, variant, tr.prior, tr.definitions, P.seed, P.threads,
                              learning_rates, progress)
    texts = Texts(path, R, shown_definitions(variant, R, tr.definitions))
    return Reranker(path, variant, variant.layout, R, texts, training_record(path)), runs


def calibration_feeds(rr: Reranker, tr: Training, P: Params) -> list[dict]:
    """Static INT8 calibration: base rows of ``P.calibration_size`` seeded training queries (never a lay
    term or a dev query) with their candidates, fixed-shape batches (:func:`lib.compress.calibration.row_feeds`)."""
    ex = tr.examples
    rng = np.random.default_rng(P.seed)
    pick = np.sort(rng.choice(len(ex.queries), size=min(P.calibration_size, len(ex.queries)), replace=False))
    inp = rr.texts.inputs([ex.queries[i] for i in pick], ex.candidates.rows(pick).head(min(2, ex.candidates.width)),
                          "base")
    rows = np.arange(len(inp.ids))[:P.calibration_size]
    names = onnx_input_names(reranker_artifact(rr.path, "onnx-fp32", P))
    length = int(max(len(inp.ids[r]) for r in rows))
    return row_feeds([inp.ids[r] for r in rows], names, min(P.batch_size, len(rows)), length, rr.texts.special.pad,
                     types=[inp.types[r] for r in rows],
                     extra={"position_ids": [inp.positions[r] for r in rows],
                            "attention_groups": [inp.groups[r] for r in rows]})


def dev_weight(rr: Reranker, engine: Engine, P: Params, tr: Training, c: int,
               f: np.ndarray | None = None) -> tuple[float, dict[float, float], dict]:
    """The retriever weight at C = ``c`` chosen on the dev queries (held out of training, never lay terms)
    scored by this engine (``f``: their scores at C already computed): (weight, dev Acc@1 per weight,
    McNemar of that weight against the retriever's order on the dev queries: how much evidence the choice
    rests on)."""
    if c > tr.dev.candidates.width:
        raise ValueError(f"dev lists hold {tr.dev.candidates.width} slots; cannot choose a weight at C = {c}")
    cands = tr.dev.candidates.head(c)
    f = rr.f(engine, P, tr.dev.queries, cands) if f is None else f
    w, acc = rev.choose_weight(cands, f, tr.dev.gold, rr.trained_weight)
    test = rev.mcnemar(rev.rerank_ranks(cands, rev.residual(cands, f, w), tr.dev.gold), cands.gold_ranks(tr.dev.gold))
    return w, acc, test


def lay_candidates(P: Params, data, encoder, c: int) -> Candidates:
    """The retriever's ``c`` best concepts for every source of an alignment data set, each shown by a name
    (:func:`shown_names`)."""
    found = retrieve(encoder, data.sources["source_text"].astype(str).tolist(),
                     data.targets["STR"].astype(str).tolist(),
                     data.targets[data.target_code_column].astype(str).tolist(), c)
    return shown_names(data)(found)


def shown_names(data) -> Callable[[Candidates], Candidates]:
    """What a reranker reads for each candidate: its best-scoring string, except where that string is a
    definition target (TTY DEF, ``index_definitions``), which shows the concept's preferred name instead.
    Rerankers are trained on names (the definition follows the name when a variant shows definitions), so
    a definition in the name's place would be an input they never saw. The count replaced is in ``info``."""
    t, code = data.targets, data.target_code_column
    if "TTY" not in t or not (t["TTY"] == "DEF").any():
        return lambda cands: cands
    defs = t[t["TTY"] == "DEF"]
    is_def = set(zip(defs[code].astype(str), defs["STR"].astype(str)))
    preferred = t[t["TTY"] == "PT"].drop_duplicates(code)
    name = dict(zip(preferred[code].astype(str), preferred["STR"].astype(str)))

    def show(cands: Candidates) -> Candidates:
        strings = cands.strings.copy()
        hits = [(i, j) for i, j in zip(*np.nonzero(cands.valid)) if (cands.concepts[i, j], strings[i, j]) in is_def]
        for i, j in hits:
            strings[i, j] = name.get(cands.concepts[i, j], strings[i, j])
        info = {**cands.info, "definitions_shown_as_names": len(hits)}
        return Candidates(cands.concepts, strings, cands.scores, info)
    return show


def gold_of(data) -> list:
    return data.sources[data.gold_column].tolist()


def metrics_table(by_system: dict[str, dict], c: int) -> pd.DataFrame:
    """One row per system: Acc@1 / MRR / Acc@C and their 95% intervals."""
    keys = ["acc@1", "mrr"] + ([f"acc@{c}"] if c > 1 else [])
    table = pd.DataFrame({s: {**{k: m[k] for k in keys},
                              **{f"{k}_{e}": m["ci"][k][i] for k in keys for i, e in enumerate(("lo", "hi"))}}
                          for s, m in by_system.items()}).T
    table.index.name = "system"
    return table


def rerank_alignment(P: Params, data, progress: bool = True) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """04-align's reranked alignment: the retriever's concept-level ranking of the lay terms beside the
    reranked one (``rerank.layout`` / ``definitions`` / ``scorer`` at ``rerank.candidates``), the final
    score ``w x cosine + f`` with w chosen on the dev queries, and f alone.

    Returns (metrics table: one row per system, Acc@1 / MRR / Acc@C with 95% intervals; the metrics
    block for the result file; the main table: source, retriever top-1, reranked top-1, gold ranks).
    """
    if not data.gold_column:
        raise ValueError("reranked alignment needs gold concepts (the data has no gold column)")
    R = settings(P)
    enc = retriever(P)
    tr = training_setup(P, enc)
    trained_layout = "paper" if R.layout == "paper" else "base"
    rr, _ = trained(P, tr, Variant(trained_layout, R.definitions), progress=progress)
    rr = rr.in_layout(R.layout)
    cands = lay_candidates(P, data, enc, R.candidates)
    engine = rr.engine(R.scorer, P, calibration_feeds(rr, tr, P) if R.scorer == "onnx-int8-smoothquant" else None)
    terms = data.sources["source_text"].astype(str).tolist()
    t0 = time.perf_counter()
    f = rr.f(engine, P, terms, cands, progress=progress)
    seconds = time.perf_counter() - t0
    weight, dev_acc, dev_test = dev_weight(rr, engine, P, tr, R.candidates)
    gold = gold_of(data)
    base_ranks = cands.gold_ranks(gold)
    label = f"{rr.name} [{R.scorer}]"
    final = f"{label} + {rev.weight_label(weight)} x retriever"
    scores = rev.residual(cands, f, weight)
    new_ranks = rev.rerank_ranks(cands, scores, gold)
    by_system = {"retriever": rev.rank_metrics(base_ranks, R.candidates, P.bootstrap, P.seed),
                 final: rev.rank_metrics(new_ranks, R.candidates, P.bootstrap, P.seed),
                 f"{label} alone": rev.rank_metrics(rev.rerank_ranks(cands, f, gold), R.candidates, P.bootstrap,
                                                    P.seed)}
    top = rev.reranked(cands, scores)
    main = pd.DataFrame({"source_id": data.sources["source_id"].to_numpy(), "source_text": terms,
                         "retriever_concept": cands.concepts[:, 0], "retriever_str": cands.strings[:, 0],
                         "reranked_concept": top.concepts[:, 0], "reranked_str": top.strings[:, 0],
                         "retriever_gold_rank": base_ranks, "reranked_gold_rank": new_ranks})
    metrics = {"retriever": enc.name + f" [{enc.fmt}]", "reranker": rr.name, "readout": R.readout,
               "scorer": R.scorer, "candidates": R.candidates, "systems": by_system,
               "terms_per_s": len(terms) / seconds if seconds else None,
               "weight": {"chosen": rev.weight_label(weight), "trained": rr.trained_weight,
                          "dev_acc@1": {rev.weight_label(w): a for w, a in dev_acc.items()},
                          "dev_queries": len(tr.dev.queries), "dev_mcnemar_vs_retriever": dev_test},
               "final": final, "mcnemar_vs_retriever": rev.mcnemar(new_ranks, base_ranks),
               "training": {k: v for k, v in rr.record.items() if k != "history"},
               "training_data": tr.data.counts, "miner": tr.miner}
    return metrics_table(by_system, R.candidates), metrics, main
