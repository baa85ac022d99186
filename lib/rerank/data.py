"""Training data for the rerankers without the evaluated lay terms, and lists a retriever did not fit.

A reranker must learn to find a concept through *other* strings of it, as a lay term's concept is found:

* **queries** are the non-lay HPO synonyms (optionally the HPO French labels and synonyms), normalised
  (:func:`lib.train.pairs.normalise`); a query's gold is every concept that has that string;
* **lists** (:func:`training_examples`) come from the **miner** over the **pool** (HPO names and non-lay
  synonyms) with the query string itself removed, collapsed to concepts (:mod:`lib.rerank.candidates`).
  The miner is a bi-encoder that never trained on these queries (by default the self-aligned
  retriever's start model, ``lib.rerank.pipeline.miner``): the self-aligned retriever trained on these
  very synonyms, so its lists for them are easier than its lists for lay terms, and its cosines
  overconfident; the miner's are as hard as a lay term's. The miner's cosine is the residual prior of
  training (:mod:`lib.rerank.train`);
* **negatives** are the miner's other concepts (hard negatives); a negative whose string is also a string
  of a gold concept is dropped (the same text cannot be both a match and a non-match), and the gold
  concept, if the miner missed it, takes the last slot with its best-scoring remaining string.
  sentence-transformers' ``mine_hard_negatives`` mines *strings*: a concept with ten synonyms would
  fill ten slots, and its string-equality filter cannot see that two strings name one concept. Concept
  ids make false negatives known exactly here, and its ``relative_margin`` would discard the negatives
  ranked above the gold, the very ones a reranker exists to demote; so the concept-level mining is ours;
* **candidate texts**: a candidate is shown by its best-matching string, and with definitions by
  ``string : first N tokens of its concept's HPO definition`` (:func:`definitions_of`; 16,449 of 19,034
  terms have one), in training and scoring alike.

Leakage (:func:`leakage`): every evaluated lay string (the OBO's EXACT layperson synonyms, plus a licensed
lexicon's terms when given) is removed from queries and pool alike, compared after normalisation, as
:func:`lib.train.pairs.drop_strings` does; so are the dev queries (:func:`lib.train.pairs.dev_split`: the
non-lay synonyms of ``dev_concepts`` concepts, held out for model selection and never trained on).
The check covers every text a reranker trains on: queries, pool, candidate strings and the definitions
shown with them.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from lib.data.hpo import HpoData
from lib.engines.cache import embed
from lib.rerank.candidates import Candidates, retrieve
from lib.train.pairs import dev_split, french_strings, hpo_strings, lay_strings, normalise

log = logging.getLogger("lib.rerank.data")


@dataclass
class TrainingData:
    """Queries [query, golds, source], the candidate pool [concept, string], the dev queries
    [query, golds] and the counts of every step (what was dropped and why)."""

    queries: pd.DataFrame
    pool: pd.DataFrame
    dev: pd.DataFrame
    forbidden: set[str]
    counts: dict = field(default_factory=dict)


def _group_queries(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """One row per distinct normalised query, its gold concepts sorted."""
    g = frame.groupby("query", sort=True)["concept"].agg(lambda c: tuple(sorted(set(c))))
    return pd.DataFrame({"query": g.index.to_numpy(), "golds": g.to_numpy(), "source": source})


def training_data(hpo: HpoData, dev_concepts: int = 300, seed: int = 0, french: bool = False,
                  max_queries: int | None = None, max_targets: int | None = None,
                  forbidden: Iterable[str] = ()) -> TrainingData:
    """The default training data (module doc). ``forbidden``: more strings never to train on (a licensed
    lay lexicon's terms), on top of the OBO's lay strings."""
    strings = hpo_strings(hpo)
    lay = list(lay_strings(hpo)) + list(forbidden)
    banned = {normalise(s) for s in lay}
    dev = dev_split(strings, dev_concepts, lay, seed)
    dev_queries = set(dev["query"])
    s = pd.DataFrame({"concept": strings.concept.astype(str), "string": strings.string.astype(str).map(normalise),
                      "is_name": strings.is_name.to_numpy(bool)})
    s = s[s.string != ""]
    n_all = len(s.drop_duplicates(["concept", "string"]))
    s = s[~s.string.isin(banned)]
    n_after_lay = len(s.drop_duplicates(["concept", "string"]))
    s = s[~s.string.isin(dev_queries)]
    pool = (s.sort_values(["concept", "is_name", "string"], ascending=[True, False, True], kind="stable")
             .drop_duplicates(["concept", "string"]).reset_index(drop=True))
    queries = _group_queries(pool[~pool.is_name].rename(columns={"string": "query"}), "hpo")
    # a query's golds are every concept that has its string (names included)
    by_string = pool.groupby("string")["concept"].agg(lambda c: tuple(sorted(set(c))))
    queries["golds"] = queries["query"].map(by_string)
    if french:
        fr = french_strings()
        fr = pd.DataFrame({"concept": fr.concept.astype(str), "query": fr.string.astype(str).map(normalise)})
        fr = fr[(fr["query"] != "") & ~fr["query"].isin(banned) & ~fr["query"].isin(dev_queries)
                & fr.concept.isin(set(pool.concept))]
        fr = fr[~fr["query"].isin(set(queries["query"]))]
        queries = pd.concat([queries, _group_queries(fr, "hpo-fr")], ignore_index=True)
    n_queries_built = len(queries)
    # reachable: some gold concept keeps a pool string other than the query
    per_concept = pool.groupby("concept")["string"].agg(set)
    reach = np.array([any(len(per_concept.get(g, set()) - {q}) > 0 for g in golds)
                      for q, golds in zip(queries["query"], queries["golds"])], dtype=bool)
    queries = queries[reach].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    if max_queries is not None and len(queries) > max_queries:
        queries = queries.iloc[np.sort(rng.choice(len(queries), max_queries, replace=False))].reset_index(drop=True)
    dev = _group_queries(dev, "hpo-dev")
    if max_targets is not None and len(pool) > max_targets:
        needed = set(c for g in queries["golds"] for c in g) | set(c for g in dev["golds"] for c in g)
        keep = pool.concept.isin(needed).to_numpy().copy()
        others = np.flatnonzero(~keep)
        n_more = max(0, max_targets - int(keep.sum()))
        keep[rng.choice(others, min(n_more, len(others)), replace=False)] = True
        pool = pool[keep].reset_index(drop=True)
    counts = {"hpo_strings": n_all, "lay_strings_forbidden": len(banned),
              "pool_strings_dropped_lay": n_all - n_after_lay, "dev_concepts": int(dev_concepts),
              "dev_queries": len(dev), "pool_strings": len(pool), "pool_concepts": int(pool.concept.nunique()),
              "queries_built": n_queries_built, "queries_unreachable": int((~reach).sum()),
              "queries": len(queries), "queries_by_source": queries.source.value_counts().sort_index().to_dict()}
    log.info("reranker training data: %s", counts)
    return TrainingData(queries, pool[["concept", "string"]], dev[["query", "golds"]], banned, counts)


def definitions_of(hpo: HpoData) -> dict[str, str]:
    """Concept id -> its HPO definition (the ``def:`` text), for the concepts that have one."""
    t = hpo.terms[hpo.terms.definition.astype(str) != ""]
    return dict(zip(t.hpo_id.astype(str), t.definition.astype(str)))


def leakage(td: TrainingData, cands: Candidates | None = None,
            definitions: dict[str, str] | None = None) -> dict[str, set[str]]:
    """Forbidden texts found in the training data: ``lay`` (evaluated lay strings among the queries, pool,
    candidate strings and the definitions shown with them) and ``dev`` (dev queries among the training
    queries, pool and candidate strings). Both must be empty (the leakage test; notebook 12 asserts it)."""
    seen = set(td.queries["query"]) | set(td.pool["string"])
    if cands is not None:
        seen |= {normalise(s) for s in cands.strings[cands.valid]}
        if definitions:
            seen |= {normalise(definitions[c]) for c in set(cands.concepts[cands.valid]) if c in definitions}
    return {"lay": seen & td.forbidden, "dev": seen & set(td.dev["query"])}


def leaked_strings(td: TrainingData, cands: Candidates | None = None,
                   definitions: dict[str, str] | None = None) -> set[str]:
    """Every forbidden text of :func:`leakage` (lay strings and dev queries) in one set."""
    found = leakage(td, cands, definitions)
    return found["lay"] | found["dev"]


@dataclass
class Examples:
    """Training examples: queries, their golds, C_max candidates each with a gold among them (``labels``)
    and, per query, the gold's rank in the retriever's own order (0: the retriever missed it)."""

    queries: list[str]
    golds: list[tuple[str, ...]]
    candidates: Candidates
    labels: np.ndarray
    retrieved_rank: np.ndarray

    def key(self) -> str:
        """Content digest: enters the trained reranker's cache key."""
        h = hashlib.sha256()
        for q, g, cs, ss in zip(self.queries, self.golds, self.candidates.concepts, self.candidates.strings):
            h.update("\x1f".join([q, ",".join(g), *map(str, cs), *map(str, ss)]).encode("utf-8"))
            h.update(b"\x1e")
        return h.hexdigest()[:16]


def _drop_false_negatives(cands: Candidates, golds: Sequence[tuple[str, ...]],
                          gold_strings: Sequence[set[str]]) -> Candidates:
    """Remove negatives whose string is a string of a gold concept; shift the rest left."""
    out = Candidates(cands.concepts.copy(), cands.strings.copy(), cands.scores.copy(), dict(cands.info))
    for i in range(cands.n):
        keep = [j for j in range(cands.width) if cands.concepts[i, j] != "" and
                (cands.concepts[i, j] in golds[i] or normalise(cands.strings[i, j]) not in gold_strings[i])]
        out.concepts[i], out.strings[i], out.scores[i] = "", "", -np.inf
        out.concepts[i, :len(keep)] = cands.concepts[i, keep]
        out.strings[i, :len(keep)] = cands.strings[i, keep]
        out.scores[i, :len(keep)] = cands.scores[i, keep]
    return out


def training_examples(miner, td: TrainingData, c_max: int) -> Examples:
    """The miner's ``c_max`` concepts for every training query, the gold ensured.

    The query's own string is excluded from its candidates; a missed gold takes the last non-empty
    slot (or the first empty one) with the gold string the miner scores highest for that query. The
    candidates' scores are the miner's cosines: the residual prior of training.
    """
    queries = td.queries["query"].tolist()
    golds = [tuple(g) for g in td.queries["golds"]]
    exclude = [{q} for q in queries]
    pool_strings = td.pool["string"].tolist()
    pool_codes = td.pool["concept"].to_numpy(dtype=object)
    cands = retrieve(miner, queries, pool_strings, pool_codes, c_max, exclude)
    strings_of = td.pool.groupby("concept")["string"].agg(set)
    gold_strings = [set().union(*(strings_of.get(c, set()) for c in g)) for g in golds]
    cands = _drop_false_negatives(cands, golds, gold_strings)
    ranks = cands.gold_ranks(golds)
    missed = np.flatnonzero(ranks == 0)
    if len(missed):
        q_vec = embed(miner, queries)  # cached by retrieve
        p_vec = embed(miner, pool_strings)
        rows_of = {c: np.flatnonzero(pool_codes == c) for c in {g for i in missed for g in golds[i]}}
        for i in missed:
            rows = np.concatenate([rows_of[g] for g in golds[i]])
            rows = rows[np.array([pool_strings[r] != queries[i] for r in rows], dtype=bool)]
            sims = p_vec[rows] @ q_vec[i]
            best = rows[int(np.argmax(sims))]
            j = min(int(cands.valid[i].sum()), c_max - 1)
            cands.concepts[i, j], cands.strings[i, j], cands.scores[i, j] = pool_codes[best], pool_strings[best], \
                float(sims.max())
    labels = np.array([[c in g for c in row] for row, g in zip(cands.concepts, golds)], dtype=bool)
    log.info("training lists: %d queries, miner %s found the gold in the top %d for %.1f%%", len(queries),
             cands.info.get("retriever"), c_max, 100 * float((ranks > 0).mean()) if len(ranks) else float("nan"))
    return Examples(queries, golds, cands, labels, ranks)


def dev_candidates(retriever, td: TrainingData, c: int) -> Candidates:
    """The retriever's ``c`` concepts for every dev query over the pool (the query's own string removed):
    the held-out lists on which weights, steps and learning rates are chosen (never lay terms)."""
    dev_q = td.dev["query"].tolist()
    return retrieve(retriever, dev_q, td.pool["string"].tolist(), td.pool["concept"].to_numpy(dtype=object), c,
                    [{q} for q in dev_q])


def lay_examples(terms: Sequence[str], gold: Sequence, cands: Candidates, rows: Sequence[int]) -> Examples:
    """Training lists of some lay terms (the supervised cross-fit: the other folds' terms), from the
    retriever's candidates (it never trained on a lay term, so its lists and cosines are honest); a term
    whose gold the retriever missed has no positive and is left out by the list builder."""
    rows = np.asarray(rows, dtype=np.int64)
    golds = [tuple(gold[i]) if isinstance(gold[i], (list, tuple, np.ndarray)) else (gold[i],) for i in rows]
    sub = cands.rows(rows)
    labels = np.array([[c in g for c in row] for row, g in zip(sub.concepts, golds)], dtype=bool)
    return Examples([normalise(terms[i]) for i in rows], golds, sub, labels, sub.gold_ranks(golds))
