"""Batches that hold at most one pair per concept, and the integer labels metric-learning losses need.

Why: with in-batch negatives (MultipleNegativesRankingLoss) every other positive of a batch is a negative;
a second pair of the same concept is a false negative. sentence-transformers' ``NoDuplicatesBatchSampler``
only removes identical strings, so the plan here is by concept label.

The plan (:func:`plan_batches`) is exact, not greedy: pairs are laid out concept by concept (concepts in a
seeded order, a concept's pairs shuffled) and dealt across the batches slot by slot, so a concept's pairs
land in distinct batches as long as it has no more pairs than there are batches. Every pair appears once
per epoch; pairs beyond that bound (and a short last batch under ``drop_last``) are dropped and counted in
the returned report, never silently.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import pandas as pd
from sentence_transformers.base.sampler import DefaultBatchSampler

log = logging.getLogger("lib.train.samplers")


def _cap(n: int, batch_size: int) -> tuple[int, int, int]:
    """(batches, size of the last one, most pairs one concept may have) for ``n`` pairs."""
    n_batches = -(-n // batch_size)
    last = n - (n_batches - 1) * batch_size
    return n_batches, last, (n_batches if last == batch_size or n_batches == 1 else n_batches - 1)


def plan_batches(labels: Sequence, batch_size: int, seed: int | Sequence[int] = 0,
                 drop_last: bool = False) -> tuple[list[list[int]], dict]:
    """Batches of row indices (full ones first in seeded order, then the short one) with no label twice.

    The report counts pairs, batches, pairs dropped because their concept had more pairs than batches
    (``dropped_over_cap``, with the concepts concerned) and rows of a short last batch dropped under
    ``drop_last``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    rng = np.random.default_rng(seed)
    codes, _ = pd.factorize(pd.Series(list(labels)), sort=True)
    groups = [rng.permutation(np.flatnonzero(codes == c)) for c in range(codes.max() + 1)] if len(codes) else []
    n = len(codes)
    over: dict[int, int] = {}
    while n:  # dropping over-cap pairs can lower the cap; a few rounds at most
        _, _, cap = _cap(n, batch_size)
        excess = {c: len(g) - cap for c, g in enumerate(groups) if len(g) > cap}
        if not excess:
            break
        for c, k in excess.items():
            over[c] = over.get(c, 0) + k
            groups[c] = groups[c][:cap]
        n = sum(len(g) for g in groups)
    report = {"pairs": len(codes), "batch_size": batch_size, "dropped_over_cap": sum(over.values()),
              "concepts_over_cap": len(over), "dropped_last": 0, "batches": 0}
    if not n:
        return [], report
    layout = np.concatenate([groups[c] for c in rng.permutation(len(groups)) if len(groups[c])])
    n_batches, last, _ = _cap(n, batch_size)
    slot, batch = np.divmod(np.arange(n_batches * batch_size), n_batches)
    batch = batch[~((batch == n_batches - 1) & (slot >= last))]  # the last batch's empty slots
    batches = [layout[batch == b].tolist() for b in range(n_batches)]
    full = [batches[b] for b in rng.permutation(n_batches - 1)] if last < batch_size else \
        [batches[b] for b in rng.permutation(n_batches)]
    short = [batches[-1]] if last < batch_size else []
    if drop_last and short:
        report["dropped_last"] = len(short[0])
        short = []
    out = full + short
    report["batches"] = len(out)
    if report["dropped_over_cap"] or report["dropped_last"]:
        log.warning("batch plan dropped pairs: %s", report)
    return out, report


class OneConceptPerBatchSampler(DefaultBatchSampler):
    """sentence-transformers batch sampler (pass the class as ``batch_sampler`` in the training arguments)
    that never puts two rows of one concept label in a batch; reseeded per epoch (``seed + epoch``).

    The label is the first of ``valid_label_columns`` found in the dataset (the trainer passes ``label``);
    ``report`` holds the last plan's counts.
    """

    def __init__(self, dataset, batch_size: int, drop_last: bool, valid_label_columns: list[str] | None = None,
                 generator=None, seed: int = 0) -> None:
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last,
                         valid_label_columns=valid_label_columns, generator=generator, seed=seed)
        columns = [c for c in (valid_label_columns or ["label"]) if c in dataset.column_names]
        if not columns:
            raise ValueError(f"none of the label columns {valid_label_columns} in {dataset.column_names}")
        self.labels = list(dataset[columns[0]])
        self._len = len(plan_batches(self.labels, batch_size, seed, drop_last)[0])
        self.report: dict = {}

    def __iter__(self):
        batches, self.report = plan_batches(self.labels, self.batch_size, (self.seed, self.epoch), self.drop_last)
        yield from batches

    def __len__(self) -> int:
        return self._len


def with_labels(pairs: pd.DataFrame) -> tuple[pd.DataFrame, pd.Index]:
    """[anchor, positive, label] for the trainer (``label`` = integer concept code, which both the sampler
    and metric-learning losses read; MultipleNegativesRankingLoss ignores it) and the concepts by code."""
    codes, concepts = pd.factorize(pairs["concept"], sort=True)
    return pd.DataFrame({"anchor": pairs["anchor"].to_numpy(), "positive": pairs["positive"].to_numpy(),
                         "label": codes.astype(np.int64)}), concepts


def metric_labels(batch_labels: Sequence[int]) -> np.ndarray:
    """Labels of a batch's embeddings laid out as ``cat(anchors, positives)`` (SapBERT's layout for
    pytorch-metric-learning's MultiSimilarityLoss + TripletMarginMiner): each concept code twice."""
    y = np.asarray(batch_labels, dtype=np.int64)
    return np.concatenate([y, y])
