"""General semantics (STS-b EN dev, STS-b FR test, BIOSSES) of the tiny random model."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from scipy.stats import spearmanr

from lib import formats, params
from lib.analysis import semantics
from lib.data import public
from lib.engines.encoder import Batching


@pytest.fixture(scope="module")
def encoder():
    return formats.load_encoder(params.load("tiny"))


class _AngleEncoder:
    """Hand-made vectors: each text a unit vector at an angle of its own, so a pair's cosine is known in
    closed form (cos of the angle difference) without any of lib's code."""

    name, fmt, fingerprint, batching, info, identity = "angles", "test", "angles-v1", Batching(1, 1), {}, {}

    def __init__(self):
        self.P = params.load("tiny")

    @staticmethod
    def angle(text: str) -> float:
        return zlib.crc32(text.encode()) / 2 ** 32 * math.pi      # distinct angles: no tied cosines

    def encode(self, texts, progress=False):
        return np.array([[math.cos(self.angle(t)), math.sin(self.angle(t))] for t in texts], dtype=np.float32)


def test_general_semantics_values_against_scipy_on_hand_made_vectors(data_mirror):
    enc = _AngleEncoder()
    out = semantics.general_semantics(enc, max_pairs=40, bootstrap=0, seed=0)
    for key, (name, split) in zip(out, semantics.GENERAL_SETS):
        df = public.load_sts(name, split).sample(40, random_state=0)
        cos = [math.cos(enc.angle(a) - enc.angle(b)) for a, b in zip(df.sentence1, df.sentence2)]
        assert out[key]["spearman"] == pytest.approx(spearmanr(cos, df.score).statistic, abs=1e-5), key
        assert out[key]["n"] == 40 and out[key]["ci"] is None


def test_general_semantics_layout_and_intervals(encoder, data_mirror):
    out = semantics.general_semantics(encoder, max_pairs=12, bootstrap=50, seed=0)
    assert list(out) == ["stsb-en/dev", "stsb-fr/test", "biosses/all"]
    assert {k: v["n_total"] for k, v in out.items()} == {"stsb-en/dev": 1500, "stsb-fr/test": 1379,
                                                         "biosses/all": 100}
    for r in out.values():
        assert r["n"] == 12 and -1 <= r["spearman"] <= 1
        lo, hi = r["ci"]
        assert lo <= r["spearman"] + 1e-9 or hi >= r["spearman"] - 1e-9
        assert lo <= hi and -1 <= lo and hi <= 1
    # seeded: the same call gives the same figures; another seed samples other pairs
    assert semantics.general_semantics(encoder, max_pairs=12, bootstrap=50, seed=0) == out
    other = semantics.general_semantics(encoder, max_pairs=12, bootstrap=0, seed=1)
    assert other["stsb-en/dev"]["ci"] is None
    assert other["stsb-en/dev"]["spearman"] != out["stsb-en/dev"]["spearman"]


def test_semantics_loss_and_bad_max_pairs(encoder):
    base = {"a": {"spearman": 0.8}, "b": {"spearman": 0.5}}
    assert semantics.semantics_loss(base, {"a": {"spearman": 0.7}}) == {"a": pytest.approx(0.1)}
    with pytest.raises(ValueError, match="at least 3 pairs"):
        semantics.general_semantics(encoder, max_pairs=2)
