"""Concept-level candidates from a bi-encoder: the C best concepts of each query, each shown by its
best-scoring string.

Why concept level: the gold is a concept, and several strings of one concept in the top C would spend
slots on one answer. The retriever's exact top-k over strings (:func:`lib.search.topk.topk`) is taken
``oversample`` times deeper than C, then collapsed: the first string of each concept in rank order is
that concept's best. A query with fewer than C concepts in that depth leaves the last slots empty
(concept ``""``, score ``-inf``); rerankers skip empty slots.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from lib.engines.cache import embed
from lib.evaluate.retrieval import gold_ranks
from lib.search.topk import topk
from lib.train.pairs import normalise

OVERSAMPLE = 8


@dataclass
class Candidates:
    """(n_queries, C) concept ids, their strings and retriever scores; slot order = retriever order."""

    concepts: np.ndarray
    strings: np.ndarray
    scores: np.ndarray
    info: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.concepts.shape[0])

    @property
    def width(self) -> int:
        return int(self.concepts.shape[1])

    @property
    def valid(self) -> np.ndarray:
        return self.concepts != ""

    def head(self, c: int) -> "Candidates":
        """The first ``c`` slots (the retriever's top c concepts)."""
        if c > self.width:
            raise ValueError(f"asked for {c} candidates, only {self.width} were retrieved")
        return Candidates(self.concepts[:, :c], self.strings[:, :c], self.scores[:, :c], dict(self.info))

    def rows(self, which: Sequence[int] | np.ndarray) -> "Candidates":
        which = np.asarray(which)
        return Candidates(self.concepts[which], self.strings[which], self.scores[which], dict(self.info))

    def gold_ranks(self, gold: Sequence[Sequence[str] | str]) -> np.ndarray:
        """1-based rank of the first gold concept in retriever order (0: not among the C)."""
        return gold_ranks(self.concepts, gold)


def concept_level(scores: np.ndarray, idx: np.ndarray, codes: np.ndarray, strings: np.ndarray, c: int,
                  exclude: Sequence[set[str]] | None = None) -> Candidates:
    """Collapse a string-level top-k (``scores``, ``idx`` into ``codes`` / ``strings``) into the ``c`` best
    concepts per query. ``exclude[i]``: normalised strings query i may not see (its own string in
    training: the gold must be found through the concept's other strings, as a lay term's is)."""
    n = len(idx)
    out_c = np.full((n, c), "", dtype=object)
    out_s = np.full((n, c), "", dtype=object)
    out_v = np.full((n, c), -np.inf, dtype=np.float32)
    norm = np.array([normalise(s) for s in strings], dtype=object) if exclude is not None else None
    for i in range(n):
        seen: set[str] = set()
        banned = exclude[i] if exclude is not None else None
        for t, score in zip(idx[i], scores[i]):
            if banned and norm[t] in banned:
                continue
            code = codes[t]
            if code in seen:
                continue
            out_c[i, len(seen)], out_s[i, len(seen)], out_v[i, len(seen)] = code, strings[t], score
            seen.add(code)
            if len(seen) == c:
                break
    return Candidates(out_c, out_s, out_v)


def retrieve(encoder, queries: Sequence[str], target_strings: Sequence[str], target_codes: Sequence[str], c: int,
             exclude: Sequence[set[str]] | None = None, oversample: int = OVERSAMPLE,
             cache: bool = True) -> Candidates:
    """The retriever's ``c`` best concepts per query over the targets (vectors from the embedding cache).

    ``info``: the retriever's name and format, seconds to embed and to search, and the string depth.
    """
    target_strings = [str(s) for s in target_strings]
    t0 = time.perf_counter()
    tgt = embed(encoder, target_strings, use_cache=cache)
    src = embed(encoder, [str(q) for q in queries], use_cache=cache)
    t_embed = time.perf_counter() - t0
    extra = max((len(e) for e in exclude), default=0) if exclude is not None else 0
    k = min(len(target_strings), oversample * c + extra)
    t0 = time.perf_counter()
    scores, idx = topk(src, tgt, k=k)
    t_search = time.perf_counter() - t0
    out = concept_level(scores, idx, np.asarray(target_codes, dtype=object), np.asarray(target_strings, dtype=object),
                        c, exclude)
    out.info = {"retriever": f"{encoder.name} [{encoder.fmt}]", "embed_seconds": t_embed,
                "search_seconds": t_search, "string_depth": k, "n_targets": len(target_strings)}
    return out
