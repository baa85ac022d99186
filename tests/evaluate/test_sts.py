"""STS on vectors (lib.evaluate.sts): pair cosines, Spearman and its paired intervals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from lib.evaluate import sts


def test_pair_cosines_and_spearman_by_hand():
    a = np.array([[1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
    b = np.array([[1, 0], [1, 0], [0.8, 0.6]], dtype=np.float32)
    assert sts.pair_cosines(a, b).tolist() == pytest.approx([1.0, 0.0, 0.96])
    gold = [5.0, 0.0, 4.0]
    assert sts.pair_spearman(a, b, gold) == pytest.approx(spearmanr([1.0, 0.0, 0.96], gold).statistic) == 1.0


def test_correlation_ci_covers_the_statistic_and_can_be_off():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = x + rng.normal(scale=0.5, size=200)
    lo, hi = sts.correlation_ci(x, y, "spearman", 300, 0)
    assert lo < spearmanr(x, y).statistic < hi and hi - lo < 0.2
    assert sts.correlation_ci(x, y, "pearson", 0, 0) is None


def test_spearman_drop_is_paired():
    """Two systems that differ on a few pairs: the paired interval of the drop is far narrower than the
    two Spearmans' own intervals."""
    rng = np.random.default_rng(1)
    gold = rng.normal(size=300)
    ref = gold + rng.normal(scale=1.0, size=300)
    other = ref + rng.normal(scale=0.05, size=300)
    lo, hi = sts.spearman_drop_ci(ref, other, gold, 400, 0)
    own_lo, own_hi = sts.correlation_ci(ref, gold, "spearman", 400, 0)
    assert hi - lo < (own_hi - own_lo) / 4
    assert sts.spearman_drop_ci(ref, other, gold[:2], 400, 0) is None       # too few pairs
