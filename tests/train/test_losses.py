"""The self-alignment losses (lib.train.losses): SapBERT's hyper-parameters, the batch laid out as SapBERT does
(anchors then positives, each labelled by its concept), zero loss when nothing is mined."""

from __future__ import annotations

import pytest
import torch

from lib.train import losses


def _model(features: dict) -> dict:
    """A stand-in for the sentence-transformers model: the features already are the embeddings."""
    return {"sentence_embedding": features["x"]}


def test_multisim_uses_sapberts_published_hyper_parameters():
    loss = losses.build_loss(_model, "multisim")
    assert isinstance(loss, losses.MultiSimilarityLoss)
    assert (loss.loss.alpha, loss.loss.beta, loss.loss.base) == (1.0, 60.0, 0.5)   # Liu et al. 2021
    assert loss.miner.margin == 0.2 and loss.miner.type_of_triplets == "all"
    with pytest.raises(ValueError, match="unknown training objective 'triplet'"):
        losses.build_loss(_model, "triplet")


def test_batch_is_anchors_then_positives_labelled_by_concept():
    seen = {}

    class Recorder(torch.nn.Module):
        def forward(self, x, y, pairs):
            seen.update(x=x, y=y)
            return torch.tensor(0.0)
    loss = losses.MultiSimilarityLoss(_model)
    loss.loss = Recorder()
    anchors, positives = torch.eye(3)[:2], torch.eye(3)[1:]
    loss([{"x": anchors}, {"x": positives}], torch.tensor([7, 9]))
    assert seen["y"].tolist() == [7, 9, 7, 9]
    assert torch.equal(seen["x"], torch.cat([anchors, positives]))


def test_separated_concepts_give_zero_loss_collapsed_ones_do_not():
    loss = losses.MultiSimilarityLoss(_model)
    labels = torch.tensor([0, 1])
    apart = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # each anchor equals its positive and lies sqrt(2) > margin 0.2 from the other concept: no triplet mined
    assert loss([{"x": apart}, {"x": apart.clone()}], labels).item() == 0.0
    # positives swapped between the two concepts: each positive sits on the other concept's anchor
    assert loss([{"x": apart}, {"x": apart.flip(0)}], labels).item() > 0.0
    collapsed = torch.ones(2, 2)                         # every string at one point: all triplets mined
    assert loss([{"x": collapsed}, {"x": collapsed.clone()}], labels).item() > 0.0
