"""Figure 3's regressors (lib.evaluate.regression): fitted on train, R^2 on test, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from lib.evaluate import regression


def test_linear_fit_r2_on_test_by_hand():
    # train: y = 2x + 1 exactly; test: predictions 3 and 5 against gold 3 and 6
    # SS_res = 0 + 1 = 1, SS_tot = (3 - 4.5)^2 + (6 - 4.5)^2 = 4.5, so R^2 = 1 - 1 / 4.5
    fits = regression.compare_regressors([0, 1, 2, 3], [1, 3, 5, 7], [1, 2], [3, 6], grid_points=7)
    assert list(fits) == list(regression.REGRESSORS)
    lin = fits["linear"]
    assert lin["r2_test"] == pytest.approx(1 - 1 / 4.5) and lin["r2_train"] == pytest.approx(1.0)
    assert lin["curve_x"].tolist() == pytest.approx([0, 0.5, 1, 1.5, 2, 2.5, 3])   # the range of both splits
    assert lin["curve_y"] == pytest.approx(2 * lin["curve_x"] + 1)
    assert fits["poly-3"]["r2_train"] == pytest.approx(1.0)     # a cubic through collinear points is the line


def test_curve_spans_test_points_outside_the_training_range():
    x = np.linspace(1, 2, 10)
    fits = regression.compare_regressors(x, 3 * x, [0.0, 4.0], [0.0, 12.0], grid_points=5)
    assert fits["linear"]["curve_x"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert fits["linear"]["r2_test"] == pytest.approx(1.0)       # extrapolates the exact line


def test_make_regressor_forest_leaf_size_and_unknown_name():
    assert regression.make_regressor("random-forest", seed=3, n_train=400).min_samples_leaf == 10   # 400 // 40
    assert regression.make_regressor("random-forest", n_train=20).min_samples_leaf == 3             # at least 3
    assert regression.make_regressor("random-forest", seed=3).random_state == 3
    with pytest.raises(ValueError, match="unknown regressor 'cubic'"):
        regression.make_regressor("cubic")
