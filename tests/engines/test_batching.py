"""Padding, pooling and token-budget batches (lib.engines.batching), on hand-computed cases."""

from __future__ import annotations

import numpy as np

from lib.engines import batching
from lib.engines.batching import pad_batch, pool, token_budget_batches


def test_pooling_modes_hand_computed():
    h = np.array([[[1.0, 0.0], [3.0, 0.0], [100.0, 100.0]]])
    m = np.array([[1, 1, 0]])
    assert np.allclose(batching.pool(h, m, "mean"), [[1.0, 0.0]])
    assert np.allclose(batching.pool(h, m, "cls"), [[1.0, 0.0]])
    unmasked = batching.pool(h, m, "mean_unmasked_padded")  # the paper's: padding included
    assert unmasked[0, 1] > 0.5


def test_token_budget_batches_hand_case():
    batches = token_budget_batches(np.array([5, 1, 3, 3, 10]), token_budget=9, max_rows=4)
    assert [b.tolist() for b in batches] == [[1, 2, 3], [0], [4]]
    batches = token_budget_batches(np.array([2] * 10), token_budget=100, max_rows=4)
    assert [len(b) for b in batches] == [4, 4, 2]


def test_pad_and_pool():
    ids, mask = pad_batch([[1, 2, 3], [4]], pad_id=0)
    assert ids.tolist() == [[1, 2, 3], [4, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    hidden = np.zeros((2, 3, 2), np.float32)
    hidden[0] = [[1, 0], [3, 0], [2, 0]]
    hidden[1] = [[0, 2], [9, 9], [9, 9]]
    v = pool(hidden, mask, "mean")
    np.testing.assert_allclose(v, [[1, 0], [0, 1]], atol=1e-6)  # padding ignored, then normalised
    v = pool(hidden, mask, "mean_unmasked_padded")
    assert v[1, 0] > 0.5  # the paper's unmasked mean lets the padding in
