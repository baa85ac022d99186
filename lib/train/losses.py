"""The two self-alignment objectives as sentence-transformers losses.

* ``mnrl``: sentence-transformers' ``MultipleNegativesRankingLoss`` (in-batch negatives; every other
  positive of the batch is a negative, hence the one-concept-per-batch sampler).
* ``multisim``: SapBERT's objective, pytorch-metric-learning's ``MultiSimilarityLoss`` (alpha 1, beta 60,
  base 0.5) on the pairs mined by its ``TripletMarginMiner`` (margin 0.2), with concept ids as labels, so
  same-concept strings in a batch are positives. Wrapped here because sentence-transformers has no
  multi-similarity loss; the wrapper only lays the batch out as SapBERT does (anchors then positives,
  each labelled by its concept) and hands it to the library.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor, nn

# SapBERT's published hyper-parameters (Liu et al. 2021, train.py defaults)
SAP_ALPHA, SAP_BETA, SAP_BASE, SAP_MARGIN = 1.0, 60.0, 0.5, 0.2


class MultiSimilarityLoss(nn.Module):
    """SapBERT's multi-similarity loss with its triplet-margin miner, over (anchor, positive) batches whose
    ``labels`` are integer concept codes (one per pair)."""

    def __init__(self, model, alpha: float = SAP_ALPHA, beta: float = SAP_BETA, base: float = SAP_BASE,
                 margin: float = SAP_MARGIN) -> None:
        super().__init__()
        from pytorch_metric_learning import losses, miners

        self.model = model
        self.miner = miners.TripletMarginMiner(margin=margin, type_of_triplets="all")
        self.loss = losses.MultiSimilarityLoss(alpha=alpha, beta=beta, base=base)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        embeddings = [self.model(f)["sentence_embedding"] for f in sentence_features]
        x = torch.cat(embeddings)
        y = labels.view(-1).repeat(len(embeddings))  # lib.train.samplers.metric_labels' layout
        return self.loss(x, y, self.miner(x, y))

    @property
    def citation(self) -> str:
        return "Liu et al. 2021, Self-Alignment Pretraining for Biomedical Entity Representations (SapBERT)"


def build_loss(model, objective: str) -> nn.Module:
    """The loss of a recipe's ``objective`` (see the module doc)."""
    if objective == "mnrl":
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
        return MultipleNegativesRankingLoss(model)
    if objective == "multisim":
        return MultiSimilarityLoss(model)
    raise ValueError(f"unknown training objective {objective!r} (expected 'mnrl' or 'multisim')")
