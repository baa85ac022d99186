"""The PyTorch engine (lib.engines.torch) on the tiny model: deterministic, normalised vectors that do not
depend on the token budget."""

from __future__ import annotations

import numpy as np

from lib import formats, params


def test_token_budget_does_not_change_fp32_vectors():
    texts = ["heart pain", "abnormal skin of the hand and the foot with pain", "fever", "x", "small ear"]
    one = formats.load_encoder(params.load("tiny", token_budget=1)).encode(texts, progress=False)
    big = formats.load_encoder(params.load("tiny", token_budget=4096)).encode(texts, progress=False)
    assert np.allclose(one, big, atol=1e-5)


def test_tiny_encoder_is_deterministic_and_normalised():
    P = params.load("tiny")
    e = formats.load_encoder(P)
    v1 = e.encode(["short", "a much longer sentence about pain", "x"], progress=False)
    v2 = e.encode(["x", "short"], progress=False)
    assert np.allclose(np.linalg.norm(v1, axis=1), 1, atol=1e-5)
    assert np.allclose(v1[2], v2[0], atol=1e-5) and np.allclose(v1[0], v2[1], atol=1e-5)
