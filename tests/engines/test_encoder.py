"""The engine-independent encoder (lib.engines.encoder): length-sorted and token-budget batches, and
``encode_ids`` padding, pooling and keeping the input order."""

from __future__ import annotations

import numpy as np

from lib import params
from lib.engines import batching, encoder


def test_length_sorted_batches_cover_every_index_once():
    texts = ["a" * n for n in (5, 1, 9, 3, 7)]
    batches = encoder.length_sorted_batches(texts, 2)
    flat = np.concatenate(batches)
    assert sorted(flat) == list(range(5)) and [len(texts[i]) for i in flat] == [1, 3, 5, 7, 9]


def test_batching_plan_budget_rows_and_paper_padding():
    lengths = np.array([3, 30, 4, 2, 5, 29])
    P = params.load("tiny")
    batches, fixed = encoder.Batching(64, 2).plan(lengths, P)
    assert fixed is None and sorted(np.concatenate(batches)) == list(range(6))
    assert all(len(b) <= 2 and len(b) * lengths[b].max() <= 64 for b in batches)
    paper = params.load("tiny", pooling="mean_unmasked_padded", batch_size=4)
    for budget in (1, 64, 4096):  # the paper's rows whatever the engine's budget
        batches, fixed = encoder.Batching(budget, budget).plan(lengths, paper)
        assert fixed == paper.max_length and [len(b) for b in batches] == [4, 2]


def test_encode_ids_pads_pools_and_keeps_input_order():
    """A forward that returns each row's first token id as its state: the vector order must be the input's."""
    P = params.load("tiny")
    seen = []

    def forward(feeds):
        seen.append(feeds["input_ids"].shape)
        assert feeds["token_type_ids"].sum() == 0 and feeds["input_ids"].dtype == np.int64
        first = feeds["input_ids"][:, :1, None].astype(np.float32)
        return np.concatenate([first, np.ones_like(first)], axis=2).repeat(feeds["input_ids"].shape[1], 1)

    ids = [[5, 1, 1, 1], [2], [9, 1], [3, 1, 1]]
    out = encoder.encode_ids(ids, forward, P, encoder.Batching(4, 2), pad_id=0, progress=False)
    expect = batching.normalize(np.array([[5, 1], [2, 1], [9, 1], [3, 1]], dtype=np.float32))
    np.testing.assert_allclose(out, expect, atol=1e-6)
    assert seen == [(2, 2), (1, 3), (1, 4)]  # 2 x 2 padded tokens fit the budget of 4, 2 x 3 does not
    assert encoder.encode_ids([], forward, P, encoder.Batching(4, 2), progress=False).shape == (0, 0)
