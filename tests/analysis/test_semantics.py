"""General semantics (STS-b EN dev, STS-b FR test, BIOSSES) of the tiny random model."""

from __future__ import annotations

import pytest

from lib import formats, params
from lib.analysis import semantics
from lib.data import public
from lib.engines import cache
from lib.evaluate.sts import pair_cosines


@pytest.fixture(scope="module")
def encoder():
    return formats.load_encoder(params.load("tiny"))


def test_general_semantics_layout_and_values(encoder, data_mirror):
    out = semantics.general_semantics(encoder, max_pairs=12, bootstrap=50, seed=0)
    assert list(out) == ["stsb-en/dev", "stsb-fr/test", "biosses/all"]
    assert {k: v["n_total"] for k, v in out.items()} == {"stsb-en/dev": 1500, "stsb-fr/test": 1379,
                                                         "biosses/all": 100}
    for r in out.values():
        assert r["n"] == 12 and -1 <= r["spearman"] <= 1
        lo, hi = r["ci"]
        assert lo <= hi and -1 <= lo and hi <= 1
    # the figure is the Spearman of the pair cosines of the seeded sample, recomputed here by hand
    from scipy.stats import spearmanr
    df = public.load_sts("biosses", "all").sample(12, random_state=0)
    cos = pair_cosines(cache.embed(encoder, list(df.sentence1)), cache.embed(encoder, list(df.sentence2)))
    assert out["biosses/all"]["spearman"] == pytest.approx(spearmanr(cos, df.score).statistic, abs=1e-5)
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
