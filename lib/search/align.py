"""Aligning sources to targets: the paper's main and extensive tables and the retrieval metrics.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from lib import paths, results
from lib.data.store import Store, open_store, write_store
from lib.search.topk import topk
from lib.engines.cache import embed
from lib.formats import load_encoder
from lib.evaluate.retrieval import gold_ranks, retrieval_metrics
from lib.text import clean
from lib.search.partitions import (code_kinds, embed_fixed, embed_store, rows_by_id, search_store,
                                   vector_key)

log = logging.getLogger("lib.search.align")


# main table column <- target column of the best target (the paper's: its CUI and its code)
CONCEPT_COLUMNS: dict[str, str] = {"pred_cui": "CUI", "pred_hpo": "CODE"}


def main_table(sources: pd.DataFrame, targets: pd.DataFrame, scores: np.ndarray, idx: np.ndarray,
               ranks: np.ndarray, concepts: Mapping[str, str] = CONCEPT_COLUMNS) -> pd.DataFrame:
    """The paper's main alignment table: source, best STR, its concept ids, score, and the gold.

    ``concepts`` names the concept columns by name (output column -> target column), because target
    tables differ: MRCONSO and HPO have a CUI and a code, MeSH only a code (``{"pred_code": "CODE"}``).
    """
    missing = [c for c in concepts.values() if c not in targets.columns]
    if missing:
        raise KeyError(f"main_table: targets have no column {missing} (columns: {list(targets.columns)}); "
                       f"name the concept columns with `concepts`")
    best = targets.iloc[idx[:, 0]].reset_index(drop=True)
    return pd.DataFrame({
        "source_id": sources["source_id"].to_numpy(),
        "source_text": sources["source_text"].to_numpy(),
        "gold_cui": sources["gold_cui"].to_numpy() if "gold_cui" in sources else "",
        "gold_hpo": sources["gold_hpo"].to_numpy() if "gold_hpo" in sources else "",
        "pred_str": best["STR"].to_numpy(),
        **{out: best[col].to_numpy() for out, col in concepts.items()},
        "score": scores[:, 0], "gold_rank": ranks, "correct": ranks == 1,
    })


def extensive_table(sources: pd.DataFrame, targets: pd.DataFrame, scores: np.ndarray,
                    idx: np.ndarray) -> pd.DataFrame:
    """Top-k per source with every MRCONSO field (the paper's left join on CUI, done by row id)."""
    n, k = idx.shape
    rows = targets.iloc[idx.ravel()].reset_index(drop=True)
    head = pd.DataFrame({"source_id": np.repeat(sources["source_id"].to_numpy(), k),
                         "source_text": np.repeat(sources["source_text"].to_numpy(), k),
                         "rank": np.tile(np.arange(1, k + 1), n), "score": scores.ravel()})
    return pd.concat([head, rows], axis=1)


def align_and_score(encoder, data, P) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Embed sources and targets with one encoder, align each source to its top-k targets, and score
    against gold when the data has it. Returns (main table, extensive table, metrics).

    Empty sources or targets fail here, before minutes of encoding, naming the tier and its files.
    """
    import time

    for what, frame in (("sources", data.sources), ("targets", data.targets)):
        if len(frame) == 0:
            files = {k: v for k, v in data.info.items() if k.endswith("_file")}
            raise ValueError(f"align_and_score: no {what} to align (tier {data.tier!r}, files {files}); "
                             "nothing was encoded")


    src_text = data.sources["source_text"].tolist()
    tgt_text = data.targets["STR"].tolist()
    cleaning = None
    if P.clean_text:
        src_text, cleaning = clean(src_text, P.language)
        tgt_text, _ = clean(tgt_text, P.language)
    if P.search.partitions:
        scores, idx, t_embed, t_search = partition_alignment(encoder, src_text, tgt_text, P)
    else:
        if P.search.index != "exact":
            log.warning("search.index %r applies to the store path (search.partitions: true, notebook 10, the "
                        "CLI); this in-memory top-k is exact", P.search.index)
        t0 = time.perf_counter()
        tgt_vec = embed(encoder, tgt_text)
        src_vec = embed(encoder, src_text)
        t_embed = time.perf_counter() - t0
        t0 = time.perf_counter()
        scores, idx = topk(src_vec, tgt_vec, k=P.top_k)
        t_search = time.perf_counter() - t0
    codes = data.targets[data.target_code_column].to_numpy()[idx]
    metrics: dict = {"n_sources": len(src_text), "n_targets": len(tgt_text),
                     "embed_seconds": t_embed, "search_seconds": t_search, "cleaning": cleaning}
    if P.search.partitions:
        metrics["search"] = {"route": "partitions", "index": P.search.index, "fixed_batch_rows": P.fixed_batch_rows,
                             "partition_rows": P.partition_rows, "rescore_multiplier": P.search.rescore_multiplier}
    if data.gold_column:
        gold = data.sources[data.gold_column].tolist()
        ranks = gold_ranks(codes, gold)
        metrics.update(retrieval_metrics(ranks, n_boot=P.bootstrap, seed=P.seed))
        if "trivial" in data.sources:
            nt = ~data.sources["trivial"].to_numpy(bool)
            metrics["nontrivial"] = retrieval_metrics(ranks[nt], n_boot=P.bootstrap, seed=P.seed)
    else:
        ranks = np.zeros(len(src_text), dtype=np.int64)
    main = main_table(data.sources, data.targets, scores, idx, ranks)
    if not data.gold_column:
        main = main.drop(columns=["gold_rank", "correct"])
    return main, extensive_table(data.sources, data.targets, scores, idx), metrics


def store_tables(sources: pd.DataFrame, store, scores: np.ndarray, ids: np.ndarray, concept_column: str,
                 gold_column: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """The main and extensive tables of a search over a target store (:mod:`lib.search.partitions`),
    reading only the partitions that hold a top-k row. Returns (main, extensive, gold ranks).

    ``concept_column``: the target column that identifies a concept (CUI for MRCONSO, CODE for HPO or
    MeSH); ``gold_column``: the source column with the gold concept(s), or None (ranks are then 0 and
    the main table has no gold_rank / correct columns).
    """

    if concept_column not in store.manifest.columns:
        raise KeyError(f"store_tables: the targets have no column {concept_column!r} (columns: "
                       f"{store.manifest.columns}); name the concept column")
    rows, pos = rows_by_id(store, ids)
    rows = rows.drop(columns="id").assign(id=rows["id"].to_numpy())  # the store id, last
    if gold_column:
        ranks = gold_ranks(rows[concept_column].astype(str).to_numpy()[pos], sources[gold_column].tolist())
    else:
        ranks = np.zeros(len(sources), dtype=np.int64)
    main = main_table(sources, rows, scores, pos, ranks, {"pred_concept": concept_column, "pred_id": "id"})
    if not gold_column:
        main = main.drop(columns=["gold_rank", "correct"])
    return main, extensive_table(sources, rows, scores, pos), ranks


def text_store(texts: Sequence[str], partition_rows: int) -> Store:
    """A target store of ``texts`` (column ``STR``) under ``<cache>/stores/``, keyed by their content and
    the partition size: written once, then reused with the vectors already in it."""
    digest = hashlib.sha256()
    for t in texts:
        digest.update(t.encode("utf-8") + b"\0")
    folder = paths.cache_dir() / "stores" / f"texts-{digest.hexdigest()[:16]}-{len(texts)}-p{partition_rows}"
    try:
        return open_store(folder)
    except FileNotFoundError:
        write_store([pd.DataFrame({"STR": list(texts)})], folder, partition_rows=partition_rows)
        return open_store(folder)


def partition_alignment(encoder, src_text: Sequence[str], tgt_text: Sequence[str], P
                        ) -> tuple[np.ndarray, np.ndarray, float, float]:
    """04's alignment through the scale-out path's plain functions (params ``search.partitions``): the
    targets in a store, embedded in fixed runs of ``fixed_batch_rows`` (vectors cached in the store),
    the queries likewise, then ``search_store`` with ``search.index`` (exact blocks on the torch backend,
    the in-memory route's). Returns (scores, target indices, embed seconds, search seconds).

    The numbers equal the in-memory route's when the batches are the same (``fixed_batch_rows`` at least
    the number of targets and of sources, so each is one encoder call as there); with smaller fixed
    batches a dynamic-INT8 encoder gives other vectors (its activation scale is per call)."""
    import time

    t0 = time.perf_counter()
    store = text_store(tgt_text, P.partition_rows)
    key = vector_key(encoder.fingerprint, P.fixed_batch_rows)
    embed_store(store, encoder, key, P.fixed_batch_rows, codes=code_kinds(P.search))
    queries = embed_fixed(encoder, src_text, P.fixed_batch_rows)
    t_embed = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores, ids = search_store(store, key, queries, P.top_k, backend="torch", search=P.search)
    return scores, ids, t_embed, time.perf_counter() - t0


def align_formats(P, data, fmts: Sequence[str]) -> tuple[dict[str, dict], pd.DataFrame, dict]:
    """04's study: every format of ``fmts`` loaded (:func:`lib.formats.load_encoder`), aligned and scored
    (:func:`align_and_score`), its main and extensive tables written (row level: under ``licensed-derived/``
    on licensed data). Returns (metrics by format, the last format's main table, the model's identity)."""
    by_format, main, identity = {}, pd.DataFrame(), {}
    for fmt in fmts:
        enc = load_encoder(P, fmt)
        main, extensive, by_format[fmt] = align_and_score(enc, data, P)
        results.write_table(P, f"04-align.{fmt}.main", main)
        results.write_table(P, f"04-align.{fmt}.extensive", extensive)
        identity = enc.identity
    return by_format, main, identity
