"""Model selection without the test set: held-out non-lay synonyms retrieved among concept strings.

The dev queries are synonyms of ``dev_concepts`` concepts that training never sees
(:func:`lib.train.pairs.dev_split`); they are searched among the remaining strings of those concepts
and of ``dev_distractors`` other concepts, so an evaluation takes seconds, not the minutes of all
34,399 targets. sentence-transformers' ``InformationRetrievalEvaluator`` scores it: a query's relevant
documents are every string of its concept, so its Acc@1 is the concept-level Acc@1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib.text import match_key
from lib.train.pairs import normalise

DEV_NAME = "dev"
ACC1 = f"{DEV_NAME}_cosine_accuracy@1"


def dev_corpus(strings: pd.DataFrame, dev: pd.DataFrame, distractors: int, seed: int = 0) -> pd.DataFrame:
    """[string, concept] searched by the dev queries: every training string of the dev concepts (their
    held-out synonyms excluded) and of ``distractors`` other concepts (seeded), normalised and deduped."""
    s = strings.assign(string=strings.string.map(normalise))
    held = set(dev.concept + "\t" + dev["query"].map(match_key))
    s = s[~(s.concept + "\t" + s.string.map(match_key)).isin(held)]
    dev_concepts = set(dev.concept)
    others = np.array(sorted(set(s.concept) - dev_concepts))
    rng = np.random.default_rng(seed)
    pick = set(rng.choice(others, min(distractors, len(others)), replace=False)) if len(others) else set()
    keep = s[s.concept.isin(dev_concepts | pick)]
    return keep[["string", "concept"]].drop_duplicates().sort_values(["concept", "string"]).reset_index(drop=True)


def dev_evaluator(strings: pd.DataFrame, dev: pd.DataFrame, distractors: int, seed: int = 0,
                  batch_size: int = 128, queries: pd.DataFrame | None = None, name: str = DEV_NAME):
    """An ``InformationRetrievalEvaluator`` over the dev split (Acc@1/@10, MRR@10).

    ``queries`` [query, concept] replaces the dev synonyms as queries over the same corpus: the
    unsupervised proxy searches the held-out definitions of the dev concepts (``TrainingSet.dev_definitions``)
    with ``name`` ``dev-def``."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    corpus = dev_corpus(strings, dev, distractors, seed)
    cid = {f"c{i}": s for i, s in enumerate(corpus.string)}
    by_concept: dict[str, set[str]] = {}
    for i, c in enumerate(corpus.concept):
        by_concept.setdefault(c, set()).add(f"c{i}")
    asked = dev if queries is None else queries
    queries = {f"q{i}": q for i, q in enumerate(asked["query"])}
    relevant = {f"q{i}": by_concept.get(c, set()) for i, c in enumerate(asked.concept)}
    missing = [q for q, r in relevant.items() if not r]
    if missing:
        raise ValueError(f"{len(missing)} dev queries have no string of their concept in the dev corpus")
    return InformationRetrievalEvaluator(
        queries, cid, relevant, accuracy_at_k=[1, 10], mrr_at_k=[10], ndcg_at_k=[10], map_at_k=[10],
        precision_recall_at_k=[1], name=name, write_csv=False, batch_size=batch_size,
        show_progress_bar=False)


def dev_scores(metrics: dict, name: str = DEV_NAME) -> dict[str, float]:
    """The evaluator's numbers under short names (``dev_acc@1``, ``dev_acc@10``, ``dev_mrr@10``; another
    evaluator ``name`` is the prefix instead of ``dev``), whatever prefix the trainer added (``eval_``)."""
    out = {}
    for key, short in (("cosine_accuracy@1", "acc@1"), ("cosine_accuracy@10", "acc@10"), ("cosine_mrr@10", "mrr@10")):
        short = f"{name}_{short}"
        hit = [v for k, v in metrics.items() if k.endswith(f"{name}_{key}")]
        if hit:
            out[short] = float(hit[0])
    return out
