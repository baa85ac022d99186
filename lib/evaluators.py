"""Evaluators: what a model's vectors are worth on one task, after sentence-transformers' evaluator pattern.

Each evaluator holds its data and is called on an encoder: ``evaluator(encoder) -> dict`` of metrics.
Every evaluator also exposes the two halves of that call, so that callers that compare formats can do
more than read a number:

* ``texts`` (the strings it needs embedded) and ``items(vectors_by_text)``: the per-item values its
  metrics summarise (pair cosines for STS, the top-1 concept of each query for alignment, the vectors
  themselves for agreement). The 03 gate embeds the union of its evaluators' texts in one call per
  format (one batch plan, as a deployed engine would see them) and hands each evaluator its vectors.
* ``metrics(items)`` and ``drop_cis(ref_items, items, n, seed)``: the metrics, and paired bootstrap
  intervals of each metric's drop from a reference format (what :func:`lib.evaluate.gate.check` decides on).

sentence-transformers' own evaluators (``EmbeddingSimilarityEvaluator``, ``InformationRetrievalEvaluator``)
score a ``SentenceTransformer`` and return scalars only; the gate needs item-level values of engines that
are not SentenceTransformers (ONNX Runtime, OpenVINO), hence these small classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from lib.engines.cache import embed
from lib.evaluate.gate import mean_drop_ci
from lib.evaluate.retrieval import accuracy_at_k, embedding_agreement, gold_ranks
from lib.evaluate.sts import pair_cosines, spearman, spearman_drop_ci
from lib.search.topk import topk


def embed_texts(encoder, texts: Sequence[str], use_cache: bool = True) -> dict[str, np.ndarray]:
    """``{text: vector}`` of ``texts`` (deduplicated, one cached encoder call)."""
    texts = list(dict.fromkeys(texts))
    return dict(zip(texts, embed(encoder, texts, use_cache=use_cache)))


class _Evaluator:
    texts: list[str]

    def items(self, by_text: Mapping[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def metrics(self, items: np.ndarray) -> dict[str, float]:
        raise NotImplementedError

    def drop_cis(self, ref_items: np.ndarray, items: np.ndarray, n: int, seed: int = 0) -> dict:
        return {}

    def __call__(self, encoder, use_cache: bool = True) -> dict[str, float]:
        return self.metrics(self.items(embed_texts(encoder, self.texts, use_cache)))


@dataclass
class STSEvaluator(_Evaluator):
    """Spearman of pair cosines against gold scores on one STS set; metric ``spearman[<name>]``."""

    name: str
    sentence1: list[str]
    sentence2: list[str]
    gold: np.ndarray

    @classmethod
    def from_frame(cls, name: str, df: pd.DataFrame) -> "STSEvaluator":
        return cls(name, [str(s) for s in df.sentence1], [str(s) for s in df.sentence2],
                   df.score.to_numpy(float))

    @property
    def key(self) -> str:
        return f"spearman[{self.name}]"

    @property
    def texts(self) -> list[str]:
        return list(dict.fromkeys(self.sentence1 + self.sentence2))

    def items(self, by_text: Mapping[str, np.ndarray]) -> np.ndarray:
        return pair_cosines(np.stack([by_text[s] for s in self.sentence1]),
                            np.stack([by_text[s] for s in self.sentence2]))

    def metrics(self, items: np.ndarray) -> dict[str, float]:
        return {self.key: spearman(items, self.gold)}

    def drop_cis(self, ref_items: np.ndarray, items: np.ndarray, n: int, seed: int = 0) -> dict:
        return {self.key: spearman_drop_ci(ref_items, items, self.gold, n, seed)}


@dataclass
class AlignmentEvaluator(_Evaluator):
    """Lay-term alignment: each query's top-1 target by exact search; Acc@1 (a target string listed under
    several concepts counts for any of them), overall and on the non-trivial queries. Items: the top-1
    concept code of each query (so two formats' top-1 agreement is one comparison)."""

    queries: list[str]
    targets: list[str]
    target_codes: np.ndarray
    gold: list
    trivial: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @classmethod
    def from_frames(cls, queries: pd.DataFrame, targets: pd.DataFrame) -> "AlignmentEvaluator":
        """From the gate's frames: lay terms (``source_text``, ``gold_hpos``, ``trivial``) and targets
        in the MRCONSO layout (``STR``, ``CODE``)."""
        return cls([str(s) for s in queries.source_text], [str(s) for s in targets.STR],
                   targets.CODE.to_numpy(dtype=object), list(queries.gold_hpos),
                   queries.trivial.to_numpy(dtype=bool))

    @property
    def texts(self) -> list[str]:
        return list(dict.fromkeys(self.queries + self.targets))

    def items(self, by_text: Mapping[str, np.ndarray]) -> np.ndarray:
        q = np.stack([by_text[s] for s in self.queries])
        t = np.stack([by_text[s] for s in self.targets])
        _, idx = topk(q, t, k=1)
        return self.target_codes[idx[:, 0]]

    def hits(self, items: np.ndarray) -> np.ndarray:
        return gold_ranks(np.asarray(items, dtype=object)[:, None], self.gold) == 1

    def metrics(self, items: np.ndarray) -> dict[str, float]:
        ranks = self.hits(items).astype(np.int64)
        nontrivial = ~self.trivial if len(self.trivial) else np.ones(len(ranks), dtype=bool)
        return {"acc1": accuracy_at_k(ranks, 1),
                "acc1_nontrivial": accuracy_at_k(ranks[nontrivial], 1) if nontrivial.any() else float("nan")}

    def drop_cis(self, ref_items: np.ndarray, items: np.ndarray, n: int, seed: int = 0) -> dict:
        return {"acc1": mean_drop_ci(self.hits(ref_items), self.hits(items), n, seed)}

    @staticmethod
    def top1_agreement(ref_items: np.ndarray, items: np.ndarray) -> float:
        return float(np.mean(np.asarray(ref_items) == np.asarray(items)))


@dataclass
class AgreementEvaluator(_Evaluator):
    """Agreement with reference vectors of the same strings: mean / min cosine and whether each string's
    nearest neighbour among them is unchanged (:func:`lib.evaluate.retrieval.embedding_agreement`)."""

    texts: list[str]
    reference: np.ndarray | None = None

    def items(self, by_text: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.stack([by_text[s] for s in self.texts])

    def metrics(self, items: np.ndarray) -> dict[str, float]:
        if self.reference is None:
            raise ValueError("AgreementEvaluator needs reference vectors (with_reference)")
        return embedding_agreement(self.reference, items)

    def with_reference(self, reference: np.ndarray) -> "AgreementEvaluator":
        return AgreementEvaluator(self.texts, np.asarray(reference, dtype=np.float32))
