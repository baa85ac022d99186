"""The embedding cache (lib.engines.cache); what it must never trust: tests/test_caches.py."""

from __future__ import annotations

import numpy as np

from lib import formats, params
from lib.engines import cache


def test_embedding_cache_reuses_vectors():
    P = params.load("tiny")
    e = formats.load_encoder(P)
    v = cache.embed(e, ["pain", "fever"])
    e.forward = None  # a second call must not encode again
    assert np.array_equal(cache.embed(e, ["pain", "fever"]), v)
