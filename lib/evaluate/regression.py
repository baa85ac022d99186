"""Figure 3 of the paper: predicted vs gold Task 1 similarity, with four regressors and held-out R^2.

Why a module: the paper shows linear regression, SVR (RBF), random forest and a degree-3 polynomial
trend without saying on what data the fits were judged. Here each regressor is fitted on the training
split (system score -> gold score) and its R^2 is computed on the test split, so the R^2 values say
how well a calibration learned on train transfers.
The figure itself is drawn by ``lib.plots.deft.regression_figure`` from :func:`compare_regressors`' fits.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.svm import SVR

REGRESSORS = ("linear", "svr-rbf", "random-forest", "poly-3")


def make_regressor(name: str, seed: int = 0, n_train: int = 100):
    """A fresh scikit-learn regressor for one of :data:`REGRESSORS`.

    The forest's leaves hold at least ~2.5 % of the training pairs (min 3) so its trend is readable
    rather than a staircase through every point."""
    if name == "linear":
        return LinearRegression()
    if name == "svr-rbf":
        return make_pipeline(StandardScaler(), SVR(kernel="rbf"))
    if name == "random-forest":
        return RandomForestRegressor(n_estimators=100, min_samples_leaf=max(3, n_train // 40),
                                     random_state=seed, n_jobs=1)
    if name == "poly-3":
        return make_pipeline(PolynomialFeatures(3), LinearRegression())
    raise ValueError(f"unknown regressor {name!r}; known: {REGRESSORS}")


def compare_regressors(x_train: Sequence[float], y_train: Sequence[float], x_test: Sequence[float],
                       y_test: Sequence[float], seed: int = 0, grid_points: int = 200) -> dict[str, Any]:
    """Fit each regressor on train, score R^2 on test; return R^2 and a curve over the x range."""
    xtr = np.asarray(x_train, float).reshape(-1, 1)
    xte = np.asarray(x_test, float).reshape(-1, 1)
    ytr, yte = np.asarray(y_train, float), np.asarray(y_test, float)
    lo, hi = float(min(xtr.min(), xte.min())), float(max(xtr.max(), xte.max()))
    grid = np.linspace(lo, hi, grid_points).reshape(-1, 1)
    out: dict[str, Any] = {}
    for name in REGRESSORS:
        model = make_regressor(name, seed, len(xtr)).fit(xtr, ytr)
        out[name] = {"r2_test": float(r2_score(yte, model.predict(xte))),
                     "r2_train": float(r2_score(ytr, model.predict(xtr))),
                     "curve_x": grid.ravel(), "curve_y": model.predict(grid)}
    return out
