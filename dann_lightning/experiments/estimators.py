"""The scikit-learn estimators against the configs (``scripts/sklearn_moons.py``) and per
lambda_max on the regression shifts (``scripts/sklearn_regression.py``)."""

from __future__ import annotations

import time

import torch

from dann_lightning.data import make_moons_shift, make_regression_shift
from dann_lightning.sklearn import DANNClassifier, DANNRegressor


def run_estimator(seed: int) -> dict:
    """``DANNClassifier(random_state=seed)`` with its defaults on ``make_moons_shift(seed=seed)``: the
    target test accuracy and the fit's seconds."""
    data = make_moons_shift(seed=seed)
    (x_source, y_source), (x_target, _) = data.source_train, data.target_train
    start = time.perf_counter()
    clf = DANNClassifier(random_state=seed).fit(x_source, y_source, X_target=x_target)
    seconds = time.perf_counter() - start
    return {"accuracy": clf.score(*data.target_test), "seconds": seconds}


def run_regressor(kind: str, lambda_max: float | str, seed: int) -> dict:
    """One fit with one torch thread (two runs share the 2 cores); RMSE on the target test rows.
    ``"auto"`` trains the candidates 0, 0.1, 0.3, 1 and keeps one by DEV (the regressor's criterion)."""
    torch.set_num_threads(1)
    shift = make_regression_shift(kind, seed=seed)
    (x_source, y_source), (x_target, _), (x_test, y_test) = shift.source_train, shift.target_train, shift.target_test
    start = time.perf_counter()
    reg = DANNRegressor(lambda_max=lambda_max, random_state=seed)
    reg.fit(x_source, y_source, X_target=x_target)
    rmse = float(((reg.predict(x_test) - y_test) ** 2).mean() ** 0.5)
    return {"rmse": rmse, "seconds": time.perf_counter() - start, "kept": reg.lambda_max_}


def lambda_value(text: str) -> float | str:
    """A ``--lambdas`` value: a number, or ``"auto"``.

    Examples:
        >>> lambda_value("0.1"), lambda_value("auto")
        (0.1, 'auto')
    """
    return text if text == "auto" else float(text)
