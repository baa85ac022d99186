"""SmoothQuant's alpha sweep (lib.compress.alpha_sweep)."""

from __future__ import annotations

from lib.compress import alpha_sweep


def test_sweep_has_a_row_per_alpha_and_the_plain_baseline(P):
    df = alpha_sweep.alpha_sweep(P, alphas=[0.3, 0.8], quant_format="QDQ")
    assert df.alpha.tolist()[1:] == [0.3, 0.8] and df.alpha.isna().tolist()[0]
    assert df.smoothquant.tolist() == [False, True, True] and (df.n_fp32 == 0).all()
    assert ((df.min_cosine <= df.mean_cosine) & (df.mean_cosine <= 1.0 + 1e-6)).all()
